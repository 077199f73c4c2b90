"""The whole pipeline on the real heads: is each eye right in every sense we can check, or refused?

Per eye: the warped globe centroid's distance to ``globe_centres.tsv`` (3 mm; 5 mm for the T2 rows, whose reference is
the posterior-wall sphere), the globe volume, the largest |z| of the nine volumes against the MR-Eye population of
the atlas sex (3.5 allowed), and the two globes' difference (25 % allowed); or the reason it was refused. Default
options, the SYNTHETIC atlas unless ``--atlas`` names a release folder (the real one cannot be downloaded here).
Usage: ``python benchmarks/bench_real_heads.py [DATA_DIR] [--engine simpleitk|ants] [--atlas DIR [--sex SEX]]``
(default ``<repo>/../shared/data``, the default engine).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_globe_finder import read_truth_lps_mm
from EyeAtlasSegmentLib.atlas import SEXES
from EyeAtlasSegmentLib.errors import EyeAtlasError
from EyeAtlasSegmentLib.normative import population_norm
from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
from EyeAtlasSegmentLib.registration import label_centroid_lps
from EyeAtlasSegmentLib.structures import EYES, output_label
from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas

REPO = Path(__file__).resolve().parents[1]


def eye_cell(result, eye: str, truth_lps_mm: np.ndarray) -> str:
    if eye not in result.eyes:
        return f"refused: {result.missing_eyes[eye][:80]}…"
    error_mm = float(np.linalg.norm(label_centroid_lps(result.labels, [output_label(eye, 2)]) - truth_lps_mm))
    rows = {r.structure: r for r in result.stats if r.eye == eye}
    worst_z = max(abs(population_norm(eye, result.atlas.sex, key).z_score(r.volume_mm3)) for key, r in rows.items())
    return f"{error_mm:.1f} mm, globe {rows['globe'].volume_mm3:,.0f} mm³, max abs z {worst_z:.1f}"


def main(data_dir: Path, engine: str, atlas_dir: Path | None = None, sex: str = "combined") -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-real-heads-"))
    try:
        atlas = atlas_dir or make_synthetic_atlas(work, sexes=("combined",), standard_spaces=())
        print(f"Atlas: {atlas_dir or 'SYNTHETIC'}, sex {sex}; engine {engine}.\n")
        print("| head | right eye | left eye | globes differ | time s |")
        print("|---|---|---|---|---|")
        for file_name, truth in read_truth_lps_mm(data_dir).items():
            start = time.perf_counter()
            try:
                result = run_pipeline(data_dir / file_name, atlas, PipelineOptions(engine=engine, sex=sex))
            except EyeAtlasError as exc:
                print(f"| {file_name} | both refused: {str(exc)[:120]}… | | | {time.perf_counter() - start:.0f} |")
                continue
            globes = [r.volume_mm3 for r in result.stats if r.structure == "globe" and r.volume_mm3]
            differ = f"{abs(globes[0] - globes[1]) / max(globes):.0%}" if len(globes) == 2 else "–"
            print(f"| {file_name} | " + " | ".join(eye_cell(result, eye, truth[eye]) for eye in EYES) +
                  f" | {differ} | {time.perf_counter() - start:.0f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--engine", default="simpleitk")
    parser.add_argument("--atlas", type=Path, help="an MR-Eye release folder (default: the synthetic atlas)")
    parser.add_argument("--sex", choices=SEXES, default="combined", help="atlas template (default: combined)")
    args = parser.parse_args()
    main(args.data_dir, args.engine, args.atlas, args.sex)
