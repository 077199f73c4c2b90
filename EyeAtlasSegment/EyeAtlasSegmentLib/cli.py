"""Command line: ``eye-atlas-segment run|demo|make-synthetic``.

Exit status 0 on success; on failure 1 with a one-line reason on stderr (2 for wrong arguments).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import SimpleITK as sitk

from .atlas import SEXES
from .engines import ENGINES
from .errors import EyeAtlasError
from .outputs import write_outputs
from .pipeline import PipelineOptions, PipelineResult, run_pipeline
from .structures import EYES

DEMO_SEED = 7


def add_input_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    """Atlas, output folder and, for arrays without geometry, voxel size and orientation."""
    parser.add_argument("--atlas", type=Path, required=True, help="MR-Eye atlas folder (with male/ female/ combined/)")
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--spacing", nargs=3, type=float, metavar=("I", "J", "K"),
                        help="voxel size in mm for arrays without geometry (.npy, bare .pkl)")
    parser.add_argument("--orientation", help="axis code (e.g. RAS, LPS) for arrays without geometry")


def add_run_options(parser: argparse.ArgumentParser, engines: Sequence[str] = ENGINES) -> None:
    """Options shared by ``run``, ``demo`` and the Slicer batch script: sex, eye, engine, centres, noise ROI."""
    parser.add_argument("--sex", choices=SEXES, default="combined", help="atlas template (default: combined)")
    parser.add_argument("--eye", choices=("both", *EYES), default="both", help="eye(s) to segment (default: both)")
    parser.add_argument("--engine", choices=engines, default="simpleitk", help="registration engine")
    parser.add_argument("--right-centre", nargs=3, type=float, metavar=("R", "A", "S"),
                        help="right globe centre in RAS mm; snapped to the globe found within 12 mm, else used as given")
    parser.add_argument("--left-centre", nargs=3, type=float, metavar=("R", "A", "S"),
                        help="left globe centre in RAS mm")
    parser.add_argument("--noise-roi", type=Path, help="mask image (same grid) of an air region for the noise σ")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eye-atlas-segment", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="segment the eyes of one image")
    run.add_argument("image", type=Path, help="NIfTI, NRRD, MHA/MHD, DICOM folder, .npy or .pkl")
    add_input_options(run, "output folder")
    add_run_options(run)
    demo = sub.add_parser("demo", help="generate the synthetic atlas and demo subject, then segment it")
    demo.add_argument("--out", type=Path, default=Path("demo_output"), help="demo folder (default: ./demo_output)")
    add_run_options(demo)
    synth = sub.add_parser("make-synthetic", help="write the SYNTHETIC atlas and a synthetic subject")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--seed", type=int, default=7)
    return parser


def options_from_args(args: argparse.Namespace) -> PipelineOptions:
    """Pipeline options from parsed ``add_run_options`` arguments."""
    centres = {eye: c for eye, c in (("right", args.right_centre), ("left", args.left_centre)) if c}
    return PipelineOptions(sex=args.sex, eyes=EYES if args.eye == "both" else (args.eye,), engine=args.engine,
                           centres_ras_mm=centres, noise_roi=args.noise_roi,
                           spacing_mm=getattr(args, "spacing", None), orientation=getattr(args, "orientation", None))


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda fraction, message: print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def summary(result: PipelineResult, paths: dict[str, Path]) -> str:
    """Console summary: a line per structure, warnings and the files written."""
    lines = [f"{'eye':6} {'structure':16} {'volume_mm3':>10} {'mean':>9} {'snr':>7}"]
    for row in result.stats:
        snr = f"{row.snr:7.1f}" if row.snr is not None else "    n/a"
        mean = f"{row.mean:9.1f}" if row.mean is not None else "      n/a"
        lines.append(f"{row.eye:6} {row.structure:16} {row.volume_mm3:10.0f} {mean} {snr}")
    if not result.noise.defined:
        lines.append(f"SNR: {result.noise.reason}")
    lines += [f"warning: {w}" for w in result.warnings]
    lines.append(f"outputs written to {paths['report.json'].parent}:")
    lines += [f"  {p}" for p in paths.values()]
    return "\n".join(lines)


def _run(image: Path, atlas: Path, out: Path, args: argparse.Namespace) -> int:
    result = run_pipeline(image, atlas, options_from_args(args), progress=_progress(args.quiet))
    paths = write_outputs(result, out)
    print(summary(result, paths))
    return 0


def _make_synthetic(out: Path, seed: int) -> tuple[Path, Path]:
    from .synthetic.atlas_generator import make_synthetic_atlas
    from .synthetic.subject_generator import SubjectSpec, make_subject

    atlas_dir = make_synthetic_atlas(out)
    subject_path = out / f"synthetic_subject_seed{seed}.nii.gz"
    if not subject_path.is_file():
        sitk.WriteImage(sitk.Cast(sitk.Round(make_subject(SubjectSpec(seed=seed)).image), sitk.sitkInt16),
                        str(subject_path))
    return atlas_dir, subject_path


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args.image, args.atlas, args.out, args)
        if args.command == "demo":
            print(f"generating the SYNTHETIC atlas and demo subject in {args.out.resolve()} ...", file=sys.stderr)
            atlas_dir, subject = _make_synthetic(args.out, seed=DEMO_SEED)
            return _run(subject, atlas_dir, args.out / "results", args)
        atlas_dir, subject = _make_synthetic(args.out, args.seed)
        print(f"synthetic atlas: {atlas_dir}\nsynthetic subject: {subject}")
        return 0
    except EyeAtlasError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
    except Exception as exc:  # the contract: any failure is one line, never a traceback
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no message"
        print(f"error: internal error ({type(exc).__name__}): {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
