"""Benchmark the globe finder on the real heads: error to ``globe_centres.tsv`` (mm), score and run time.

Usage: ``python benchmarks/bench_globe_finder.py [DATA_DIR]`` (default: ``<repo>/../shared/data``).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.geometry import ras_to_lps
from EyeAtlasSegmentLib.globe_finder import find_globes

REPO = Path(__file__).resolve().parents[1]


def read_truth_lps_mm(data_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    """file → eye → true globe centre (LPS mm) from the RAS ``globe_centres.tsv``."""
    truth: dict[str, dict[str, np.ndarray]] = {}
    with open(data_dir / "globe_centres.tsv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            centre_ras_mm = [float(v) for v in row["ras_mm"].strip("[]").split(",")]
            truth.setdefault(row["file"], {})[row["eye"]] = ras_to_lps(centre_ras_mm)
    return truth


def main(data_dir: Path) -> None:
    print(f"{'file':30s} {'eye':5s} {'error mm':>8s} {'score':>6s} {'time s':>6s}  polarity / note")
    for file_name, eyes in read_truth_lps_mm(data_dir).items():
        image = sitk.ReadImage(str(data_dir / file_name))
        start_s = time.perf_counter()
        result = find_globes(image)
        elapsed_s = time.perf_counter() - start_s
        for eye, true_lps_mm in eyes.items():
            detection = result.detections.get(eye)
            if detection is None:
                print(f"{file_name:30s} {eye:5s} {'-':>8s} {'-':>6s} {elapsed_s:6.2f}  missing: {result.missing[eye]}")
                continue
            error_mm = float(np.linalg.norm(np.asarray(detection.centre_lps_mm) - true_lps_mm))
            print(f"{file_name:30s} {eye:5s} {error_mm:8.2f} {detection.score:6.2f} {elapsed_s:6.2f}  "
                  f"{detection.polarity}, radius {detection.radius_mm:.1f} mm")
        for warning in result.warnings:
            print(f"{'':30s} warning: {warning}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data")
