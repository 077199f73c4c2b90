"""Resuming a cohort: what is already done, so that a re-run (also after ``kill -9``) redoes only the rest.

An image is complete when its completion marker ``OUT/.eye-atlas-segment/done/<key>.json`` exists, records the
SHA-256 of the input and the settings fingerprint of this run, and every output it lists exists with the recorded
size. The marker is written (atomically: temporary file, fsync, rename) only after all outputs are in place, and it
is removed before an image is redone, so a run killed at any moment leaves each image either complete or not.
A failure is recorded the same way in ``failed/<key>.json`` and, for the same input and settings, kept on a re-run
unless failures are retried.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .. import __version__
from ..errors import EyeAtlasError
from ..pipeline import PipelineOptions

STATE_DIR = ".eye-atlas-segment"
_CHUNK_BYTES = 1 << 20


def file_checksum(path: str | Path) -> str:
    """SHA-256 (hex) of a file, or of a folder's files (e.g. a DICOM series): their relative names and contents."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def settings_fingerprint(options: PipelineOptions, atlas_checksum: str, layout: str) -> str:
    """SHA-256 of everything that shapes an image's outputs besides the image: the pipeline options (engine name
    and parameters included), the atlas files, the software version and the output layout."""
    engine = options.engine
    settings = dataclasses.asdict(dataclasses.replace(options, engine="")) | {
        "engine": engine if isinstance(engine, str) else {"name": engine.name, "parameters": engine.parameters()},
        "atlas": atlas_checksum, "version": __version__, "layout": layout}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, even after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on this platform; the rename is still atomic
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class CohortState:
    """The markers of one output folder: ``done/`` and ``failed/`` records per image key."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir).expanduser().resolve()
        self.root = self.out_dir / STATE_DIR

    def _marker(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.json"

    def record(self, kind: str, key: str) -> dict | None:
        """The ``done`` or ``failed`` record of ``key``, or None."""
        try:
            return json.loads(self._marker(kind, key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def complete(self, key: str, input_sha256: str, settings_sha256: str) -> dict | None:
        """The done record if the image is complete for this input and these settings, else None."""
        record = self.record("done", key)
        if not record or (record.get("input_sha256"), record.get("settings_sha256")) != (input_sha256,
                                                                                         settings_sha256):
            return None
        for output in record.get("outputs", {}).values():
            path = self.out_dir / output["path"]
            if not path.is_file() or path.stat().st_size != output["bytes"]:
                return None
        return record

    def failed_before(self, key: str, input_sha256: str, settings_sha256: str) -> dict | None:
        """The failure record of ``key`` for this input and these settings, or None."""
        record = self.record("failed", key)
        if record and (record.get("input_sha256"), record.get("settings_sha256")) == (input_sha256, settings_sha256):
            return record
        return None

    def forget(self, key: str) -> None:
        """Remove both markers of ``key`` (before it is redone)."""
        for kind in ("done", "failed"):
            self._marker(kind, key).unlink(missing_ok=True)

    def mark_done(self, key: str, record: Mapping, outputs: Mapping[str, Path]) -> dict:
        """Write the completion marker, listing each output (name → path relative to OUT, size); returns it."""
        full = dict(record, outputs={name: {"path": Path(p).relative_to(self.out_dir).as_posix(),
                                            "bytes": Path(p).stat().st_size} for name, p in outputs.items()})
        self._marker("failed", key).unlink(missing_ok=True)
        atomic_write_text(self._marker("done", key), json.dumps(full, indent=1))
        return full

    def mark_failed(self, key: str, record: Mapping) -> None:
        """Write the failure marker of ``key``."""
        self._marker("done", key).unlink(missing_ok=True)
        atomic_write_text(self._marker("failed", key), json.dumps(dict(record), indent=1))

    def staging_dir(self, key: str) -> Path:
        """A private folder for ``key``'s files before they are moved into place (same filesystem as OUT)."""
        return self.root / "staging" / key

    def remove_stale_staging(self) -> None:
        """Delete what killed runs left half-written: the staging folders (only call while holding the lock)."""
        shutil.rmtree(self.root / "staging", ignore_errors=True)
        for partial in self.out_dir.rglob(".*.partial-*"):
            if partial.is_dir() and STATE_DIR not in partial.parts:
                shutil.rmtree(partial, ignore_errors=True)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the output folder for this run; a second run on the same folder is refused while this one lives.

        The lock is the kernel's (``flock``): it goes when the process dies, also by ``kill -9``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the markers still make re-runs safe
            yield
            return
        with open(self.root / "lock", "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                raise EyeAtlasError(f"another cohort run (pid {holder}) is writing to {self.out_dir}; wait for it "
                                    f"to finish or stop it") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
