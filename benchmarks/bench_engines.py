"""Benchmark: Dice per structure and wall time of the default engine vs ANTs SyN on synthetic subjects.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/bench_engines.py --subjects 4 [--engines simpleitk ants]

Prints a Markdown table (mean Dice over subjects and both eyes, per structure; mean/max wall time of the whole
pipeline per subject, both eyes). Subjects are SYNTHETIC (known truth), 1 mm whole heads unless --vary-grid.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
from EyeAtlasSegmentLib.structures import STRUCTURES
from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas
from EyeAtlasSegmentLib.synthetic.scoring import dice_per_structure
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

GRIDS = (("RAS", (1.0, 1.0, 1.0)), ("LPS", (0.9, 0.9, 1.3)), ("PIR", (1.1, 1.1, 1.1)), ("LAS", (1.0, 1.0, 1.5)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--engines", nargs="+", default=["simpleitk", "ants"])
    parser.add_argument("--vary-grid", action="store_true", help="cycle orientations and voxel sizes")
    args = parser.parse_args()

    atlas_dir = make_synthetic_atlas(Path(tempfile.mkdtemp(prefix="bench-atlas-")), sexes=("combined",))
    dice = {engine: {s.key: [] for s in STRUCTURES} for engine in args.engines}
    seconds = {engine: [] for engine in args.engines}
    for n in range(args.subjects):
        orientation, spacing = GRIDS[n % len(GRIDS)] if args.vary_grid else GRIDS[0]
        subject = make_subject(SubjectSpec(seed=args.first_seed + n, orientation=orientation, spacing_mm=spacing))
        image_path = atlas_dir.parent / f"subject_{n}.nii.gz"
        sitk.WriteImage(subject.image, str(image_path))
        for engine in args.engines:
            start = time.perf_counter()
            result = run_pipeline(image_path, atlas_dir, PipelineOptions(engine=engine))
            seconds[engine].append(time.perf_counter() - start)
            for eye in ("right", "left"):
                for key, value in dice_per_structure(result.labels, subject.truth_labels, eye).items():
                    dice[engine][key].append(value)
            print(f"subject {n} ({orientation} {spacing}) {engine}: {seconds[engine][-1]:.1f} s, mean Dice "
                  f"{np.mean([v[-2:] for v in dice[engine].values()]):.3f}", file=sys.stderr, flush=True)

    print(f"\nSynthetic subjects: {args.subjects}, both eyes each; Dice mean ± SD over {2 * args.subjects} eyes.\n")
    print("| structure | " + " | ".join(args.engines) + " |")
    print("|---|" + "---|" * len(args.engines))
    for s in STRUCTURES:
        cells = [f"{np.mean(dice[e][s.key]):.3f} ± {np.std(dice[e][s.key]):.3f}" for e in args.engines]
        print(f"| {s.name} | " + " | ".join(cells) + " |")
    means = [f"**{np.mean([np.mean(v) for v in dice[e].values()]):.3f}**" for e in args.engines]
    print("| **mean of 9** | " + " | ".join(means) + " |")
    times = [f"{np.mean(seconds[e]):.1f} (max {np.max(seconds[e]):.1f})" for e in args.engines]
    print("| wall time per subject, both eyes (s) | " + " | ".join(times) + " |")


if __name__ == "__main__":
    main()
