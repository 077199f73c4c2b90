"""Command line: ``eye-atlas-segment run|demo|make-synthetic|fetch-atlas``.

Exit status 0 on success; on failure 1 with a one-line reason on stderr (2 for wrong arguments).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import SimpleITK as sitk

from .atlas import SEXES
from .cnr import DEFAULT_CNR_PAIRS, parse_pairs
from .engines import ENGINES
from .errors import EyeAtlasError, one_line_reason
from .noise import NOISE_MODELS
from .outputs import write_outputs
from .pipeline import NOISE_METHODS, PipelineOptions, PipelineResult, run_pipeline
from .statistics import DEFAULT_MIN_ROI_VOXELS, SIGNAL_CORRECTIONS, RoiOptions
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
    snr = parser.add_argument_group("SNR and CNR (see the README: How SNR and CNR are measured)")
    snr.add_argument("--noise-method", choices=[m.replace("_", "-") for m in NOISE_METHODS], default="auto",
                     help="where σ comes from; auto: difference if --repeat, noise scan if --noise-scan, ROI if "
                          "--noise-roi, else air background; naive: the biased seed recipe, for comparison only")
    snr.add_argument("--noise-model", choices=[m.replace("_", "-") for m in NOISE_MODELS], default="rayleigh-sd",
                     help="how σ follows from background noise: rayleigh-sd (single channel, SD/0.655), rayleigh-mean "
                          "(mean/1.253), sos (n-channel sum of squares, with --channels), none (raw SD)")
    snr.add_argument("--channels", type=int, default=1, help="receive channels combined by sum of squares (--noise-model sos)")
    snr.add_argument("--noise-roi", type=Path, help="mask image (same grid) of an air region for the noise σ")
    snr.add_argument("--noise-scan", type=Path, help="noise-only acquisition (same protocol, no RF) for the noise σ")
    snr.add_argument("--repeat", type=Path, help="a second identical acquisition on the same grid: difference method")
    snr.add_argument("--erode-mm", type=float, default=0.0,
                     help="erode each structure by this many mm before measuring SNR (partial volume); default 0")
    snr.add_argument("--signal-correction", choices=SIGNAL_CORRECTIONS, default="none",
                     help="SNR numerator: none (ROI mean) or power (sqrt(mean(M²) − 2nσ²), removes the magnitude "
                          "noise floor at low SNR)")
    snr.add_argument("--min-roi-voxels", type=int, default=DEFAULT_MIN_ROI_VOXELS,
                     help=f"flag SNR of ROIs with fewer voxels (default {DEFAULT_MIN_ROI_VOXELS})")
    snr.add_argument("--cnr-pair", action="append", default=[], metavar="A:B",
                     help="extra CNR pair of structures, e.g. lens:optic_nerve (repeatable; default pairs always)")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eye-atlas-segment", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="segment the eyes of one image")
    run.add_argument("image", type=Path, help="NIfTI, NRRD, MHA/MHD, DICOM folder, .npy or .pkl")
    add_input_options(run, "output folder")
    add_run_options(run)
    cohort = sub.add_parser("cohort", help="segment a cohort (folder, list file or BIDS dataset) on Dask, resumably")
    from .cohort.command import add_cohort_arguments

    add_cohort_arguments(cohort)
    demo = sub.add_parser("demo", help="generate the synthetic atlas and demo subject, then segment it")
    demo.add_argument("--out", type=Path, default=Path("demo_output"), help="demo folder (default: ./demo_output)")
    add_run_options(demo)
    synth = sub.add_parser("make-synthetic", help="write the SYNTHETIC atlas and a synthetic subject")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--seed", type=int, default=7)
    fetch = sub.add_parser("fetch-atlas", help="download the MR-Eye atlas from Zenodo (checked, unpacked)")
    fetch.add_argument("--dest", type=Path, help="folder to keep it in (default: the user cache folder)")
    fetch.add_argument("--url", help="download from this URL instead (a mirror, or another version of the record)")
    fetch.add_argument("--sha256", help="SHA-256 of the archive at --url (from the Zenodo record)")
    return parser


def options_from_args(args: argparse.Namespace) -> PipelineOptions:
    """Pipeline options from parsed ``add_run_options`` arguments."""
    centres = {eye: c for eye, c in (("right", args.right_centre), ("left", args.left_centre)) if c}
    if args.channels < 1 or (args.channels > 1 and args.noise_model != "sos"):
        raise EyeAtlasError("--channels other than 1 needs --noise-model sos (sum-of-squares combination)")
    if args.erode_mm < 0:
        raise EyeAtlasError("--erode-mm must be 0 or positive")
    try:
        pairs = list(DEFAULT_CNR_PAIRS) + parse_pairs(args.cnr_pair)
    except ValueError as exc:
        raise EyeAtlasError(str(exc)) from None
    return PipelineOptions(sex=args.sex, eyes=EYES if args.eye == "both" else (args.eye,), engine=args.engine,
                           centres_ras_mm=centres, noise_roi=args.noise_roi, repeat=args.repeat,
                           noise_scan=args.noise_scan, noise_method=args.noise_method.replace("-", "_"),
                           noise_model=args.noise_model.replace("-", "_"), channels=args.channels,
                           roi=RoiOptions(args.erode_mm, args.min_roi_voxels, args.signal_correction), cnr_pairs=pairs,
                           spacing_mm=getattr(args, "spacing", None), orientation=getattr(args, "orientation", None))


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda fraction, message: print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def summary(result: PipelineResult, paths: dict[str, Path]) -> str:
    """Console summary: a line per structure, warnings and the files written."""
    noise = result.noise
    if noise.method == "difference":
        lines = ["noise: difference method, sigma measured in each structure's ROI"]
    elif noise.defined:
        lines = [f"noise: {noise.method}, model {noise.model}, sigma {noise.sigma:.4g} from {noise.voxels} voxels"]
    else:
        lines = [f"SNR: {noise.reason}"]
    lines.append(f"{'eye':6} {'structure':16} {'volume_mm3':>10} {'mean':>9} {'snr':>7} {'95% CI':>15}")
    for row in result.stats:
        if row.volume_mm3 is None:
            continue  # an eye not segmented: its reason is among the warnings
        snr = f"{row.snr:7.1f}" if row.snr is not None else "    n/a"
        ci = f"{row.snr_ci_low:6.1f} – {row.snr_ci_high:6.1f}" if row.snr_ci_low is not None else ""
        mean = f"{row.mean:9.1f}" if row.mean is not None else "      n/a"
        lines.append(f"{row.eye:6} {row.structure:16} {row.volume_mm3:10.0f} {mean} {snr} {ci:>15}")
    for row in result.biometry.rows if result.biometry else []:  # all of them are in biometry.csv
        if row.z_score is not None and (row.measure == "axial_length" or row.flag):
            lines.append(f"{row.eye:6} {row.measure.replace('_', ' ')} {row.value:.4g} {row.unit}: z {row.z_score:+.1f}, "
                         f"percentile {row.percentile:.0f}" + (f", {row.flag} (outside 2.5-97.5 %)" if row.flag else ""))
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
        if args.command == "cohort":
            from .cohort.command import run_command

            return run_command(args)
        if args.command == "run":
            return _run(args.image, args.atlas, args.out, args)
        if args.command == "fetch-atlas":
            from .atlas_fetch import fetch_and_describe

            print(fetch_and_describe(args.dest, args.url, args.sha256, progress=_progress(False)))
            return 0
        if args.command == "demo":
            print(f"generating the SYNTHETIC atlas and demo subject in {args.out.resolve()} ...", file=sys.stderr)
            atlas_dir, subject = _make_synthetic(args.out, seed=DEMO_SEED)
            return _run(subject, atlas_dir, args.out / "results", args)
        atlas_dir, subject = _make_synthetic(args.out, args.seed)
        print(f"synthetic atlas: {atlas_dir}\nsynthetic subject: {subject}")
        return 0
    except Exception as exc:  # the contract: any failure is one line, never a traceback
        print(f"error: {one_line_reason(exc)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
