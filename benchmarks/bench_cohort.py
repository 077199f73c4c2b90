"""Cohort throughput on this machine: images per hour with 1 and with 2 Dask workers, peak memory per worker, and
the cost projected to 1,000 and to 1,210 subjects (the MR-Eye population).

Each run segments the same synthetic 1 mm whole heads (both eyes, default options, SYNTHETIC atlas) into a fresh
output folder on a local Dask cluster (``eye-atlas-segment cohort`` with ``--workers N``; one worker gets all the
cores as ITK threads, two share them; ``--itk-threads 1`` gives every worker one thread, to show how the work scales
with workers alone). Usage:
``python benchmarks/bench_cohort.py [--heads 20] [--workers 1 2] [--itk-threads N]`` (needs the ``cohort`` extra).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

from EyeAtlasSegmentLib.cohort.inputs import discover
from EyeAtlasSegmentLib.cohort.runner import run_cohort
from EyeAtlasSegmentLib.cohort.scheduler import DaskSettings
from EyeAtlasSegmentLib.pipeline import PipelineOptions
from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

#: One night, for the cluster-size projection.
NIGHT_H = 10.0
POPULATION = 1210


def write_heads(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        image = make_subject(SubjectSpec(seed=100 + seed)).image
        sitk.WriteImage(sitk.Cast(sitk.Round(image), sitk.sitkInt16), str(folder / f"head{seed:02d}.nii.gz"))


def run(heads: Path, atlas: Path, out: Path, workers: int, itk_threads: int | None) -> dict:
    start = time.perf_counter()
    result = run_cohort(discover(heads), atlas, out, PipelineOptions(),
                        DaskSettings(workers=workers, itk_threads=itk_threads), quiet=True)
    wall_s = time.perf_counter() - start
    markers = [json.loads(p.read_text(encoding="utf-8")) for p in (out / ".eye-atlas-segment" / "done").glob("*.json")]
    return {"workers": workers, "done": result.counts["done"], "failed": result.failed, "wall_s": wall_s,
            "per_image_s": sorted(m["seconds"] for m in markers),
            "peak_mb": max((m["worker_peak_memory_mb"] for m in markers), default=float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--itk-threads", type=int, default=None,
                        help="ITK threads per worker (default: the cores shared among the workers)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cohort-"))
    try:
        atlas = make_synthetic_atlas(work / "atlas", sexes=("combined",), standard_spaces=())
        write_heads(work / "heads", args.heads)
        rows = [run(work / "heads", atlas, work / f"out{n}", n, args.itk_threads) for n in args.workers]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = rows[0]
    threads = f"{args.itk_threads} ITK thread(s) per worker" if args.itk_threads else "ITK threads = cores ÷ workers"
    print(f"{args.heads} synthetic 1 mm heads, both eyes, {os.cpu_count()} cores, {threads}")
    print("| workers | done / failed | wall s | images per hour | speed-up | median s per image (in its worker) "
          "| peak memory per worker MB | 1,000 subjects on this machine, h |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        per_hour = 3600.0 * row["done"] / row["wall_s"]
        median_s = row["per_image_s"][len(row["per_image_s"]) // 2] if row["per_image_s"] else float("nan")
        print(f"| {row['workers']} | {row['done']} / {row['failed']} | {row['wall_s']:.0f} | {per_hour:.0f} | "
              f"{base['wall_s'] / row['wall_s']:.2f}× | {median_s:.1f} | {row['peak_mb']:.0f} | "
              f"{1000.0 / per_hour:.1f} |")
    best = max(rows, key=lambda r: r["done"] / r["wall_s"])
    per_core_h = best["done"] / best["wall_s"] * 3600.0 / os.cpu_count()
    cores_needed = math.ceil(POPULATION / (per_core_h * NIGHT_H))
    print(f"\n{POPULATION} subjects in one {NIGHT_H:.0f} h night: {cores_needed} cores like these "
          f"({per_core_h:.0f} images per core-hour, {best['peak_mb'] / 1024:.1f} GB per worker).")


if __name__ == "__main__":
    main()
