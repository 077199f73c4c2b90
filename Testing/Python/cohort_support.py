"""Test support for the cohort tests: small synthetic cohorts (folders and BIDS datasets) and a registration engine
that places the template at the found globe without optimising, so that a cohort test costs seconds per image.

The cohort machinery (discovery, Dask, resume, tables, report) is what these tests exercise; the registration itself
is tested elsewhere, and one cohort test runs the default engine end to end.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject
from helpers import FixedScaleEngine

#: Small, quick synthetic heads: 2 mm voxels, a reduced field of view (≈ 6 s to render, 8 s to segment).
SMALL_HEAD = dict(spacing_mm=(2.0, 2.0, 2.0), fov_mm=(150.0, 200.0, 150.0))


def cached_heads(base: Path, seeds: Sequence[int] = (1, 2)) -> list[Path]:
    """Small heads rendered once per test session under ``base`` (pytest's base temporary folder)."""
    return [path if (path := base / "cohort_heads" / f"head{seed}.nii.gz").is_file() else write_small_head(path, seed)
            for seed in seeds]


def cached_atlas(base: Path) -> Path:
    """The SYNTHETIC atlas with all three sexes (cohorts take the sex per subject), written once per session."""
    from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas

    folder = base / "cohort_atlas" / "eye_atlas"
    if not (folder / "male").is_dir():
        make_synthetic_atlas(base / "cohort_atlas", standard_spaces=())
    return folder


def write_small_head(path: Path, seed: int) -> Path:
    """A small synthetic head as int16 NIfTI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = make_subject(SubjectSpec(seed=seed, **SMALL_HEAD)).image
    sitk.WriteImage(sitk.Cast(sitk.Round(image), sitk.sitkInt16), str(path))
    return path


def write_not_a_head(path: Path) -> Path:
    """A valid image with no eyes in it (uniform noise): the pipeline fails on it with a reason."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(0).normal(100.0, 10.0, (40, 40, 40)).astype(np.float32)
    image = sitk.GetImageFromArray(noise)
    image.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(image, str(path))
    return path


def make_bids_dataset(root: Path, heads: Sequence[Path], sexes: Sequence[str],
                      sessions: Sequence[Sequence[str]]) -> Path:
    """A BIDS raw dataset: subject n gets ``heads`` copied into each of its ``sessions[n]`` (empty: no session),
    with ``sexes[n]`` in participants.tsv."""
    root.mkdir(parents=True, exist_ok=True)
    description = {"Name": "synthetic eyes", "BIDSVersion": "1.10.0"}
    (root / "dataset_description.json").write_text(json.dumps(description), encoding="utf-8")
    lines = ["participant_id\tsex\tage"]
    head = 0
    for n, (sex, subject_sessions) in enumerate(zip(sexes, sessions), start=1):
        subject = f"sub-{n:02d}"
        lines.append(f"{subject}\t{sex}\t40")
        for session in subject_sessions or [""]:
            folder = root / subject / (f"ses-{session}" if session else "") / "anat"
            folder.mkdir(parents=True, exist_ok=True)
            name = "_".join(p for p in (subject, f"ses-{session}" if session else "", "T1w") if p) + ".nii.gz"
            (folder / name).write_bytes(heads[head % len(heads)].read_bytes())
            head += 1
    (root / "participants.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def drive(argv: Sequence[str]) -> int:
    """``eye-atlas-segment cohort ARGV`` with the placement engine and no retry engines (for subprocess tests)."""
    from EyeAtlasSegmentLib.cli import build_parser, options_from_args
    from EyeAtlasSegmentLib.cohort.command import dask_settings_from_args
    from EyeAtlasSegmentLib.cohort.inputs import discover
    from EyeAtlasSegmentLib.cohort.runner import run_cohort

    args = build_parser().parse_args(["cohort", *argv])
    options = dataclasses.replace(options_from_args(args), engine=FixedScaleEngine(), retry_engines=())
    run = run_cohort(discover(args.input, args.sex), args.atlas, args.out, options, dask_settings_from_args(args),
                     retry_failed=args.retry_failed, quiet=args.quiet, command="cohort_support.py " + " ".join(argv))
    print(run.summary)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(drive(sys.argv[1:]))
