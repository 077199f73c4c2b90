"""Writing a run's files into OUT_DIR, all or nothing.

Everything is first written into a temporary folder beside OUT_DIR; only when every file is complete are they
moved into OUT_DIR (``os.replace``, atomic per file). A failure leaves OUT_DIR as it was.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .cnr import CNR_COLUMNS
from .html_report import render_report_html
from .image_io import write_label_image
from .pipeline import PipelineResult
from .population import BIOMETRY_COLUMNS
from .qc import MISSING_FIGURE, figure_available, qc_views, write_qc_figure
from .statistics import CSV_COLUMNS

OUTPUT_FILES = ("labels.nii.gz", "stats.csv", "cnr.csv", "biometry.csv", "report.json", "report.html")
#: Written only when matplotlib (the ``report`` extra) is installed.
QC_FIGURE = "qc.png"


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


def write_outputs(result: PipelineResult, out_dir: str | Path,
                  extra_writers: Mapping[str, Callable[[Path], None]] = {}) -> dict[str, Path]:
    """Write ``OUTPUT_FILES`` and, with matplotlib, ``QC_FIGURE`` into ``out_dir``; return their paths.

    Without matplotlib the run's warnings (and so report.json and the console summary) say that no figure was drawn.

    ``extra_writers`` maps further file names to functions writing them (e.g. a Slicer ``.seg.nrrd``); all files
    are written to a staging folder first and moved in only when every one succeeded.
    """
    figure = figure_available()
    if not figure and f"no {QC_FIGURE}: {MISSING_FIGURE}" not in result.warnings:
        result.warnings.append(f"no {QC_FIGURE}: {MISSING_FIGURE}")
    names = OUTPUT_FILES + ((QC_FIGURE,) if figure else ()) + tuple(extra_writers)
    out_dir = Path(out_dir).expanduser().resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        write_label_image(result.labels, result.image, staging / "labels.nii.gz")
        write_csv(staging / "stats.csv", CSV_COLUMNS, result.stats)
        write_csv(staging / "cnr.csv", CNR_COLUMNS, result.cnr)
        biometry_rows = result.biometry.rows if result.biometry else []
        write_csv(staging / "biometry.csv", BIOMETRY_COLUMNS, biometry_rows)
        report = result.report()
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
        out_dir.mkdir(exist_ok=True)
        for name in names:
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {name: out_dir / name for name in names}
