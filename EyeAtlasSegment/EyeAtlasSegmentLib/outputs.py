"""Writing a run's files into OUT_DIR, all or nothing.

Everything is first written into a hidden staging folder beside OUT_DIR (``.NAME.partial-PID-*``, marked as ours);
only when every file is complete are they moved into OUT_DIR (``os.replace``, atomic per file, with Ctrl-C held
back for those few milliseconds). A failure leaves OUT_DIR as it was and removes the staging folder; one left by a
killed run (SIGKILL, power loss) is removed by the next run for the same OUT_DIR. :func:`check_output_folder`
checks OUT_DIR before any work: a folder (or creatable), writable, with free space, and writing it replaces no
input.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import platform
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk

from . import __version__
from .cnr import CNR_COLUMNS
from .errors import OutputError
from .html_report import render_report_html
from .image_io import write_label_image
from .noise_methods import MODEL_DEFINITIONS, NOISE_DEFINITIONS
from .pipeline import PipelineResult
from .population import BIOMETRY_COLUMNS
from .qc import MISSING_FIGURE, figure_available, qc_views, write_qc_figure
from .statistics import CSV_COLUMNS

OUTPUT_FILES = ("labels.nii.gz", "stats.csv", "cnr.csv", "biometry.csv", "report.json", "report.html")
#: Written only when matplotlib (the ``report`` extra) is installed.
QC_FIGURE = "qc.png"
#: File inside a staging folder naming the host and process that made it.
STAGING_MARKER = ".eye-atlas-segment-staging"
#: A staging folder of another host is stale after this long (its process cannot be checked from here).
STALE_STAGING_S = 24 * 3600
#: Free space OUT_DIR's disk must have before a run starts (a run writes about 0.5 MB, most of it qc.png; the rest
#: is margin for large images).
MIN_FREE_BYTES = 20 * 2**20
#: Files of a folder input (DICOM series, atlas) looked at when checking that no output replaces an input.
_MAX_INPUT_FILES = 5000


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def write_csv(path: Path, columns: Sequence[str], rows: Sequence) -> None:
    """Rows (objects with ``as_row()``) as CSV with the given columns; None and NaN become empty cells."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.as_row().items()})


def output_names(extra_names: Sequence[str] = ()) -> tuple[str, ...]:
    """The files a run writes into OUT_DIR: ``OUTPUT_FILES``, ``QC_FIGURE`` with matplotlib, then ``extra_names``."""
    return OUTPUT_FILES + ((QC_FIGURE,) if figure_available() else ()) + tuple(extra_names)


def check_output_folder(out_dir: str | Path, inputs: Iterable[str | Path | None] = (),
                        extra_names: Sequence[str] = ()) -> Path:
    """OUT_DIR, resolved, once it is known that the run can write it (before any work is done).

    Refused with :class:`OutputError`: OUT_DIR is a file; its nearest existing folder is not writable (read-only
    file system, permissions) or has less than ``MIN_FREE_BYTES`` free; an output file would replace one of
    ``inputs`` (files, or folders such as a DICOM series or the atlas, whose files count). Staging folders that
    killed runs left beside OUT_DIR are removed.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is a file, not a folder: give a folder for the results (it is created "
                          f"if it does not exist)")
    existing = next(folder for folder in out_dir.parents if folder.exists())  # where staging folders are made
    if not existing.is_dir():
        raise OutputError(f"cannot create {out_dir}: {existing} is a file, not a folder")
    for folder in (existing, out_dir) if out_dir.is_dir() else (existing,):
        _require_writable(folder, out_dir)
    _refuse_replacing_inputs(out_dir, output_names(extra_names), inputs)
    remove_stale_staging(out_dir)
    return out_dir


def _require_writable(folder: Path, out_dir: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        why = "is on a read-only file system" if read_only else "is not writable for you (permissions)"
        raise OutputError(f"cannot write the results: {folder} {why}; choose another --out folder")
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise OutputError(f"only {free / 2**20:.1f} MB free on the disk holding {out_dir}; a run needs "
                          f"{MIN_FREE_BYTES / 2**20:.0f} MB: free some space or choose another --out folder")


def _entry(path: Path) -> Path:
    """The directory entry ``path`` names, with folder links resolved (``os.replace`` replaces exactly that entry)."""
    path = Path(path).expanduser().absolute()
    return path.parent.resolve() / path.name


def _input_entries(paths: Iterable[str | Path | None]) -> dict[Path, Path]:
    """Entry -> given path of every input file, and of the files in input folders (recursively, bounded)."""
    entries: dict[Path, Path] = {}
    for given in paths:
        if given is None or not isinstance(given, (str, Path)):
            continue  # an image passed as an object has no file to protect
        path = Path(given).expanduser()
        files = [path] if path.is_file() else [p for _, p in zip(range(_MAX_INPUT_FILES), path.rglob("*"))
                                               if p.is_file()] if path.is_dir() else []
        entries.update((_entry(file), file) for file in files)
    return entries


def _refuse_replacing_inputs(out_dir: Path, names: Sequence[str], inputs: Iterable[str | Path | None]) -> None:
    protected = _input_entries(inputs)
    for name in names:
        replaced = protected.get(_entry(out_dir / name))
        if replaced is not None:
            raise OutputError(f"writing {name} into {out_dir} would replace the input {replaced}: choose another "
                              f"--out folder; nothing was written")


def remove_stale_staging(out_dir: str | Path) -> list[Path]:
    """Remove the staging folders of OUT_DIR that runs now dead left behind (only ours: marked, this host's
    process gone, or another host's older than ``STALE_STAGING_S``); returns the folders removed."""
    out_dir = Path(out_dir)
    removed = []
    for folder in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        try:
            host, pid = (folder / STAGING_MARKER).read_text(encoding="utf-8").split()
            age_s = time.time() - folder.stat().st_mtime
        except (OSError, ValueError):
            continue  # not ours
        if (host == socket.gethostname() and not _process_alive(int(pid))) or (
                host != socket.gethostname() and age_s > STALE_STAGING_S):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_staging(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-{os.getpid()}-", dir=out_dir.parent))
    (staging / STAGING_MARKER).write_text(f"{socket.gethostname()} {os.getpid()}\n", encoding="utf-8")
    return staging


def _write_error(exc: OSError, out_dir: Path) -> OutputError:
    """What a failed write means for the user, naming OUT_DIR (never the hidden staging folder)."""
    if exc.errno == errno.ENOSPC:
        free = shutil.disk_usage(out_dir.parent).free / 2**20
        return OutputError(f"the disk holding {out_dir} is full ({free:.1f} MB free); nothing was written to "
                           f"{out_dir}: free some space and run again")
    if exc.errno == errno.EFBIG:
        return OutputError(f"a result file is larger than allowed on the disk holding {out_dir} (file size limit); "
                           f"nothing was written: choose another --out folder")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "is on a read-only file system" if exc.errno == errno.EROFS else "is not writable for you"
        return OutputError(f"cannot write the results: {out_dir.parent} {why}; choose another --out folder")
    return OutputError(f"could not write the results into {out_dir} ({exc.strerror or type(exc).__name__}); nothing "
                       f"was written to it")


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold back Ctrl-C while the finished files are moved in; it is re-raised once they all are.

    The KeyboardInterrupt then says "after the results were written", so the user is not told OUT_DIR is unchanged.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt("after the results were written")


def write_outputs(result: PipelineResult, out_dir: str | Path,
                  extra_writers: Mapping[str, Callable[[Path], None]] = {}) -> dict[str, Path]:
    """Write ``OUTPUT_FILES`` and, with matplotlib, ``QC_FIGURE`` into ``out_dir``; return their paths.

    Without matplotlib the run's warnings (and so report.json and the console summary) say that no figure was drawn.

    ``extra_writers`` maps further file names to functions writing them (e.g. a Slicer ``.seg.nrrd``); all files
    are written to a staging folder first and moved in only when every one succeeded. OUT_DIR is checked first
    (:func:`check_output_folder`, against the run's image, atlas and noise inputs); a failed write is an
    :class:`OutputError` saying what to do.
    """
    figure = figure_available()
    if not figure and f"no {QC_FIGURE}: {MISSING_FIGURE}" not in result.warnings:
        result.warnings.append(f"no {QC_FIGURE}: {MISSING_FIGURE}")
    names = output_names(tuple(extra_writers))
    options = result.options
    out_dir = check_output_folder(out_dir, [result.image.source_path, result.atlas.folder, options.repeat,
                                            options.noise_scan, options.noise_roi], tuple(extra_writers))
    try:
        staging = _make_staging(out_dir)
    except OSError as exc:
        raise _write_error(exc, out_dir) from None
    try:
        write_label_image(result.labels, result.image, staging / "labels.nii.gz")
        write_csv(staging / "stats.csv", CSV_COLUMNS, result.stats)
        write_csv(staging / "cnr.csv", CNR_COLUMNS, result.cnr)
        biometry_rows = result.biometry.rows if result.biometry else []
        write_csv(staging / "biometry.csv", BIOMETRY_COLUMNS, biometry_rows)
        report = report_content(result)
        report["outputs"] = {name: str(out_dir / name) for name in names}
        (staging / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        if figure:
            write_qc_figure(staging / QC_FIGURE, result.image.image, result.labels, *qc_views(result))
        page = render_report_html(report, [row.as_row() for row in result.stats],
                                  [row.as_row() for row in biometry_rows], QC_FIGURE if figure else None,
                                  MISSING_FIGURE)
        (staging / "report.html").write_text(page, encoding="utf-8")
        for name, write in extra_writers.items():
            write(staging / name)
        with _interrupts_held():
            out_dir.mkdir(exist_ok=True)
            for name in names:
                os.replace(staging / name, out_dir / name)
    except OSError as exc:
        raise _write_error(exc, out_dir) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {name: out_dir / name for name in names}


def report_content(result: PipelineResult) -> dict:
    """The content of ``report.json`` for a pipeline result."""
    return {
        "software": {"eye_atlas_segment": __version__, "simpleitk": sitk.Version_VersionString(),
                     "numpy": np.__version__, "python": platform.python_version()},
        "input": {"path": str(result.image.source_path), "format": result.image.source_format,
                  "size_ijk": list(result.image.image.GetSize()), "spacing_mm": list(result.image.image.GetSpacing()),
                  "affine_ras": result.image.affine_ras.tolist(), "geometry_assumed": result.image.geometry_assumed,
                  "metadata": result.image.metadata},
        "atlas": {"folder": str(result.atlas.folder), "sex": result.atlas.sex,
                  "labels_file": str(result.atlas.labels_file),
                  "labels_dtype_on_disk": result.atlas.labels_dtype,
                  "labels_affine_ras": [list(row) for row in result.atlas.labels_affine_ras],
                  "synthetic": result.atlas.synthetic},
        "eyes_requested": list(result.options.eyes),
        "eyes_located_via": result.options.via,
        "globe_search": result.globe_search,
        "eyes": {eye: {"centre_ras_mm": list(r.centre_ras_mm), "centre_source": r.centre_source,
                       "detection_score": r.detection_score, "engine": r.registration.engine,
                       "engine_parameters": r.registration.parameters, "stages": r.registration.stages,
                       "registration_s": round(r.registration.seconds, 2),
                       "registered_region_ijk": {"start": list(r.registration.region.start),
                                                 "size": list(r.registration.region.size)},
                       "qc": {"verdict": r.qc_verdict, "checks": [c.as_dict() for c in r.qc_checks]}}
                 for eye, r in result.eyes.items()},
        "missing_eyes": result.missing_eyes,
        "registration_attempts": result.attempts,
        "noise": {"method": result.noise.method, "model": result.noise.model, "channels": result.noise.channels,
                  "sigma": result.noise.sigma, "sigma_ci95": result.noise.ci95(), "voxels": result.noise.voxels,
                  "note": result.noise.reason, "details": result.noise.details,
                  "definition": NOISE_DEFINITIONS.get(result.noise.method, ""),
                  "model_definition": MODEL_DEFINITIONS.get(result.noise.model, "")},
        "snr": {"definition": "SNR = mean of the structure's ROI / sigma (difference method: mean of (I1+I2)/2 / "
                              "(SD(I1-I2)/sqrt(2)) in the ROI); 95% CI from the standard errors of the ROI mean "
                              "and of sigma, voxels assumed independent",
                "signal_correction": result.options.roi.signal_correction,
                "roi": {"erosion_mm": result.options.roi.erosion_mm, "min_voxels": result.options.roi.min_voxels,
                        "voxels_per_structure": {f"{r.eye}_{r.structure}": r.roi_voxels for r in result.stats}}},
        "cnr": {"pairs": [list(p) for p in result.options.cnr_pairs],
                "definition": "cnr = |mean_a - mean_b| / sigma (noise); cnr_pooled = |mean_a - mean_b| / "
                              "sqrt(sd_a^2 + sd_b^2) (ROI SDs, noise and texture)"},
        "biometry": result.biometry.report() if result.biometry else None,
        "timings_s": {k: round(v, 2) for k, v in result.timings_s.items()},
        "warnings": result.warnings,
    }
