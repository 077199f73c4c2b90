"""The Python packages the module needs beyond Slicer's own, declared in ``Resources/requirements*.txt``.

They are installed when a run needs them (Apply, the console call, the batch script), never when the module
loads. One small compatibility step: Slicer 5.12 and later have ``slicer.packaging.pip_ensure`` (asks, installs
with progress, advises a restart); Slicer 5.8 and 5.10 get the same steps here with ``slicer.util.pip_install``.
As ``pip_ensure`` does, nothing is installed in testing mode.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Sequence
from pathlib import Path

from EyeAtlasSegmentLib.errors import EyeAtlasError

from . import RESOURCES
from .headless import inside_slicer_application

REQUESTER = "Eye Atlas Segment"


def requirement_files(engine_name: str) -> list[Path]:
    """``requirements.txt`` (always needed), then ``requirements-<engine>.txt`` when the engine has one."""
    engine_file = RESOURCES / f"requirements-{engine_name}.txt"
    return [RESOURCES / "requirements.txt"] + ([engine_file] if engine_file.is_file() else [])


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements file (comments, blank lines and pip options skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def missing_requirements(files: Sequence[Path]) -> list[str]:
    """The requirements of ``files`` that the installed distributions do not satisfy (markers honoured)."""
    from packaging.requirements import Requirement  # bundled with Slicer (5.8: packaging 24.0)

    missing = []
    for line in (line for path in files for line in read_requirements(path)):
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(line)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(line)
    return missing


def ensure_requirements(files: Sequence[Path], prompt: bool) -> None:
    """Install what ``files`` list and is missing; with ``prompt``, the user is asked first (declining raises)."""
    missing = missing_requirements(files)
    if not missing:
        return
    declined = EyeAtlasError(f"not run: it needs the Python packages {', '.join(missing)}, which were not installed")
    import slicer

    try:
        from slicer import packaging as slicer_packaging  # Slicer 5.12 and later
    except ImportError:
        slicer_packaging = None
    if slicer_packaging is not None:
        try:
            slicer_packaging.pip_ensure(missing, prompt_install=prompt, prompt_restart=prompt, requester=REQUESTER,
                                        show_progress=prompt)
        except RuntimeError:  # pip_ensure's answer when the user declines
            raise declined from None
        return
    if inside_slicer_application():
        if slicer.app.testingEnabled():
            logging.info(f"{REQUESTER}: testing mode, not installing {', '.join(missing)}")
            return
        if prompt and not slicer.util.confirmOkCancelDisplay(
                f"{REQUESTER} needs these Python packages: {', '.join(missing)}.\n\n"
                "This will modify Slicer's Python environment. Continue?",
                f"{REQUESTER} - Install Python Packages"):
            raise declined
    slicer.util.pip_install(missing)
