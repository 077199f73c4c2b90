"""Bad input never costs data and never passes as a result: every case of the hostile corpus has its exact outcome.

Refused cases run through the command line in-process: exit status, one ``error:`` line matching the case, and the
workspace byte-for-byte as it was (no input overwritten, OUT_DIR untouched, no staging folder, no code run).
Accepted cases load with exactly their named warnings. The faults during a running registration (Ctrl-C, SIGKILL
while writing, a disk filling up, the input deleted) run the command line as a subprocess on a small synthetic
subject and are marked slow.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib import cli
from EyeAtlasSegmentLib.image_io import load_image
from EyeAtlasSegmentLib.outputs import output_names
from hostile_inputs import CASES, FAULTS, Accepted, Workspace

ENGINE_DIR = Path(__file__).resolve().parents[2] / "EyeAtlasSegment"


def _snapshot(root: Path) -> dict[str, str]:
    """SHA-1 of every file under ``root`` (links not followed), staging folders left out."""
    digests = {}
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if ".partial-" not in name]
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                digests[str(path.relative_to(root))] = hashlib.sha1(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    yield ws
    for cleanup in reversed(ws.cleanups):
        cleanup()


def test_the_corpus_covers_at_least_100_inputs_of_every_family():
    families = {case.family for case in CASES}
    assert families == {"pickle", "nifti", "nrrd", "metaimage", "dicom", "array", "atlas", "arguments", "output"}
    assert len(CASES) + len(FAULTS) >= 100
    assert len({case.name for case in CASES}) == len(CASES)
    assert all(callable(globals().get(f"test_fault_{name}")) for name in FAULTS)


@pytest.mark.parametrize("case", CASES, ids=[f"{case.family}-{case.name}" for case in CASES])
def test_hostile_input_has_its_exact_outcome(case, workspace, capfd):
    made = case.make(workspace)
    if isinstance(case.outcome, Accepted):
        loaded = load_image(made, **case.outcome.load_kwargs)
        assert len(loaded.warnings) == len(case.outcome.warnings), loaded.warnings
        for pattern, warning in zip(case.outcome.warnings, loaded.warnings):
            assert re.search(pattern, warning), warning
        return
    capfd.readouterr()
    before = _snapshot(workspace.root)
    try:
        status = cli.main(made)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert status == case.outcome.exit_status, lines
    if case.outcome.exit_status == 2:
        assert " error: " in f" {lines[-1]}", lines
    else:
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert re.search(case.outcome.message, lines[-1]), lines[-1]
    assert _snapshot(workspace.root) == before, "an input or OUT_DIR changed"
    assert not list(workspace.root.rglob("*.partial-*")), "a staging folder was left behind"
    assert not (workspace.root / "MARKER").exists(), "code from a pickle ran"


# ----------------------------------------------------------------------------------------- faults (slow)


@pytest.fixture(scope="module")
def fault_subject(tmp_path_factory) -> Path:
    """The smallest synthetic subject the whole pipeline runs on: 1.5 mm voxels (one eye is registered)."""
    from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

    path = tmp_path_factory.mktemp("fault_subject") / "subject.nii.gz"
    sitk.WriteImage(make_subject(SubjectSpec(seed=21, spacing_mm=(1.5, 1.5, 1.5))).image, str(path))
    return path


def _start(*args: object, limit_file_bytes: int | None = None) -> subprocess.Popen:
    """The command line as a subprocess with Python's default Ctrl-C handling, progress on stderr."""
    def child_setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job inherits SIGINT ignored
        if limit_file_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    env = dict(os.environ, PYTHONPATH=str(ENGINE_DIR))
    return subprocess.Popen([sys.executable, "-m", "EyeAtlasSegmentLib.cli", *map(str, args)], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, preexec_fn=child_setup)


def _wait_for(process: subprocess.Popen, text: str) -> list[str]:
    """stderr lines up to and including the first one containing ``text``."""
    lines = []
    for line in process.stderr:
        lines.append(line.rstrip("\n"))
        if text in line:
            return lines
    raise AssertionError(f"the run ended without printing {text!r}: {lines[-5:]}")


def _finish(process: subprocess.Popen, timeout_s: float = 600) -> tuple[int, list[str]]:
    rest = process.stderr.read()
    return process.wait(timeout=timeout_s), [line for line in rest.splitlines() if line.strip()]


def _out_dir_with_previous(parent: Path) -> Path:
    out = parent / "out"
    out.mkdir(parents=True)
    (out / "previous.txt").write_text("kept", encoding="utf-8")
    return out


@pytest.mark.slow
def test_fault_sigint_during_the_bspline(fault_subject, synthetic_atlas_dir, tmp_path):
    out = _out_dir_with_previous(tmp_path)
    process = _start("run", fault_subject, "--atlas", synthetic_atlas_dir, "--out", out, "--eye", "right")
    _wait_for(process, "bspline registration")
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    sent = time.perf_counter()
    status, lines = _finish(process)
    assert status == cli.EXIT_INTERRUPTED and time.perf_counter() - sent < 15
    assert lines[-1] == ("error: interrupted (Ctrl-C) before the results were complete; OUT_DIR was left as it was")
    assert [p.name for p in out.iterdir()] == ["previous.txt"] and not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.slow
def test_fault_sigkill_while_writing_then_the_next_run_cleans_up(fault_subject, synthetic_atlas_dir, tmp_path):
    out = _out_dir_with_previous(tmp_path)
    process = _start("run", fault_subject, "--atlas", synthetic_atlas_dir, "--out", out, "--eye", "right", "--quiet")
    while process.poll() is None and not list(tmp_path.glob(".out.partial-*/labels.nii.gz")):
        time.sleep(0.005)
    process.kill()
    assert process.wait() == -signal.SIGKILL
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    assert len(list(tmp_path.glob(".out.partial-*"))) == 1  # what SIGKILL leaves: nothing can clean up then
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle at all")
    refused = _start("run", garbage, "--atlas", synthetic_atlas_dir, "--out", out)  # refused after OUT_DIR's check
    status, lines = _finish(refused)
    assert status == 1 and "not a pickle file" in lines[-1]
    assert not list(tmp_path.glob(".out.partial-*")) and [p.name for p in out.iterdir()] == ["previous.txt"]


@pytest.mark.slow
def test_fault_disk_fills_while_writing(fault_subject, synthetic_atlas_dir, workspace):
    """A 25 MB tmpfs that fills up during the registration: refused before writing. Where no tmpfs can be mounted, a
    200 KB file-size limit (RLIMIT_FSIZE) makes the writes themselves fail (EFBIG)."""
    try:
        disk = workspace.tmpfs("disk", 25 * 1024)
    except pytest.skip.Exception:
        disk = None
    if disk is None:
        out = _out_dir_with_previous(workspace.root / "limited")
        process = _start("run", fault_subject, "--atlas", synthetic_atlas_dir, "--out", out, "--eye", "right",
                         limit_file_bytes=200_000)
        expected = r"larger than allowed on the disk holding .*out \(file size limit\); nothing was written"
    else:
        out = _out_dir_with_previous(disk)
        process = _start("run", fault_subject, "--atlas", synthetic_atlas_dir, "--out", out, "--eye", "right")
        _wait_for(process, "bspline registration")
        filler = disk / "filler.bin"
        free = shutil.disk_usage(disk).free
        with open(filler, "wb") as handle:
            handle.truncate(0)
            handle.write(b"\0" * (free - 100_000))  # leave 100 KB: labels.nii.gz fits, the rest does not
        # OUT_DIR's free space is checked again just before writing, so the run stops there, not at ENOSPC.
        expected = r"only 0\.\d MB free on the disk holding .*out; a run needs 20 MB: free some space"
    status, lines = _finish(process)
    assert status == 1 and re.search(expected, lines[-1]), lines[-3:]
    assert [p.name for p in out.iterdir()] == ["previous.txt"] and not list(out.parent.glob(".out.partial-*"))


@pytest.mark.slow
def test_fault_input_deleted_mid_run(fault_subject, synthetic_atlas_dir, tmp_path):
    """Every input is read before the registration starts, so deleting it then changes nothing."""
    image = Path(shutil.copy(fault_subject, tmp_path / "subject.nii.gz"))
    out = tmp_path / "out"
    process = _start("run", image, "--atlas", synthetic_atlas_dir, "--out", out, "--eye", "right")
    _wait_for(process, "locating the eyes")
    image.unlink()
    status, lines = _finish(process)
    assert status == 0, lines[-3:]
    assert {p.name for p in out.iterdir()} == set(output_names())
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["input"]["path"] == str(image)
