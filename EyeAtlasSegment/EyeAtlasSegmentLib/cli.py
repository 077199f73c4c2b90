"""Command line of the engine: ``eye-atlas-segment`` (or ``python -m EyeAtlasSegmentLib``).

Exit status 0 on success; on failure 1 with a one-line reason on stderr; 2 for wrong arguments, including values
that cannot work (checked before any work); 130 when interrupted (Ctrl-C), OUT_DIR then left as it was. Before a
run starts, the inputs must exist and OUT_DIR must be writable without replacing any of them. What the imaging
libraries print during a run is held back (one note says how much); our own messages are not.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import SimpleITK as sitk

from . import __version__
from .atlas import SEXES, resolve_release_root
from .choices import NOISE_METHOD_CHOICES, NOISE_MODEL_CHOICES, NoiseMethodChoice, NoiseModelChoice
from .cnr import DEFAULT_CNR_PAIRS, parse_pairs
from .engines import ENGINES
from .errors import EyeAtlasError, InputImageError, one_line_reason, single_line
from .geometry import direction_lps_from_axis_code
from .image_io import load_image
from .noise import NOISE_MODELS, DifferenceNoise
from .noise_methods import NOISE_METHODS, resolve_noise_method
from .outputs import check_output_folder, write_outputs
from .pipeline import PipelineOptions, PipelineResult, run_pipeline
from .statistics import SIGNAL_CORRECTIONS, RoiOptions
from .structures import EYES
from .whole_head import LOCATION_ROUTES

#: What the tool does, in one sentence: the top of ``--help``.
DESCRIPTION = ("Segment the eyes and orbits of a 3D MRI with the MR-Eye atlas, in the image's own voxel grid, and "
               "report each structure's volume, SNR and CNR.")
DEMO_SEED = 7
#: Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Largest --erode-mm: beyond it the structures (the globe's radius is ~12 mm, the nerve's ~2 mm) erode away, and the
#: erosion's ball grows with the cube of the radius (1000 mm ran out of memory after 37 s).
MAX_EROSION_MM = 10.0


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def _positive_mm(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive size in mm, not {text!r}")
    return value


def _erosion_mm(text: str) -> float:
    value = _finite(text)
    if not 0 <= value <= MAX_EROSION_MM:
        raise argparse.ArgumentTypeError(f"must be 0-{MAX_EROSION_MM:g} mm (a larger erosion leaves no voxels in "
                                         f"the structures), not {text!r}")
    return value


def _whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text!r}")
        return value
    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _axis_code(text: str) -> str:
    try:
        direction_lps_from_axis_code(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an axis code of 3 letters, one of R/L, one of A/P and one of "
                                         f"S/I (e.g. RAS, LPS, PIR), not {text!r}") from None
    return text.upper()


def _cnr_pair(text: str) -> str:
    try:
        parse_pairs([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _option_value(key: str) -> str:
    """A choice's key as the command line spells it (``noise_scan`` → ``noise-scan``)."""
    return key.replace("_", "-")


def _choices_help(choices: Sequence[NoiseMethodChoice | NoiseModelChoice]) -> str:
    return "; ".join(f"{_option_value(c.key)}: {c.label}" for c in choices)


def add_input_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    """Atlas, output folder and, for arrays without geometry, voxel size and orientation."""
    parser.add_argument("--atlas", type=Path, required=True, help="MR-Eye atlas folder (with male/ female/ combined/)")
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--spacing", nargs=3, type=_positive_mm, metavar=("I", "J", "K"),
                        help="voxel size in mm for arrays without geometry (.npy, bare .pkl)")
    parser.add_argument("--orientation", type=_axis_code,
                        help="axis code (e.g. RAS, LPS) for arrays without geometry")


#: The engine's defaults, which the command line shows and uses.
_DEFAULTS = PipelineOptions()


def add_run_options(parser: argparse.ArgumentParser, engines: Sequence[str] = ENGINES) -> None:
    """Options shared by ``run``, ``demo`` and the Slicer batch script: sex, eye, engine, centres, noise ROI.

    Every default is the engine's own (``PipelineOptions``, ``RoiOptions``)."""
    parser.add_argument("--sex", choices=SEXES, default=_DEFAULTS.sex,
                        help=f"atlas template (default: {_DEFAULTS.sex})")
    parser.add_argument("--eye", choices=("both", *EYES), default="both", help="eye(s) to segment (default: both)")
    parser.add_argument("--engine", choices=engines, default=_DEFAULTS.engine, help="registration engine")
    parser.add_argument("--right-centre", nargs=3, type=_finite, metavar=("R", "A", "S"),
                        help="right globe centre in RAS mm; snapped to the globe found within 12 mm, else used as "
                             "given")
    parser.add_argument("--left-centre", nargs=3, type=_finite, metavar=("R", "A", "S"),
                        help="left globe centre in RAS mm")
    parser.add_argument("--via", choices=LOCATION_ROUTES, default=_DEFAULTS.via,
                        help="how eyes without a given centre are found: globes (the globe finder, default) or "
                             "mni152/colin27 (the release's whole-head template registered to the head, refined "
                             "with the eye template: for defaced faces or globes the finder cannot see)")
    snr = parser.add_argument_group("SNR and CNR (see the README: How SNR and CNR are measured)")
    snr.add_argument("--noise-method", choices=[_option_value(m) for m in NOISE_METHODS],
                     default=_option_value(_DEFAULTS.noise_method),
                     help="where σ comes from: " + _choices_help(NOISE_METHOD_CHOICES))
    snr.add_argument("--noise-model", choices=[_option_value(m) for m in NOISE_MODELS],
                     default=_option_value(_DEFAULTS.noise_model),
                     help="how σ follows from background noise (sos: with --channels): "
                          + _choices_help(NOISE_MODEL_CHOICES))
    snr.add_argument("--channels", type=_whole_number(1), default=_DEFAULTS.channels,
                     help="receive channels combined by sum of squares (--noise-model sos)")
    snr.add_argument("--noise-roi", type=Path, help="mask image (same grid) of an air region for the noise σ")
    snr.add_argument("--noise-scan", type=Path, help="noise-only acquisition (same protocol, no RF) for the noise σ")
    snr.add_argument("--repeat", type=Path, help="a second identical acquisition on the same grid: difference method")
    snr.add_argument("--erode-mm", type=_erosion_mm, default=_DEFAULTS.roi.erosion_mm,
                     help=f"erode each structure by this many mm (0-{MAX_EROSION_MM:g}) before measuring SNR (partial "
                          f"volume); default {_DEFAULTS.roi.erosion_mm:g}")
    snr.add_argument("--signal-correction", choices=SIGNAL_CORRECTIONS,
                     default=_DEFAULTS.roi.signal_correction,
                     help="SNR numerator: none (ROI mean) or power (sqrt(mean(M²) − 2nσ²), removes the magnitude "
                          "noise floor at low SNR)")
    snr.add_argument("--min-roi-voxels", type=_whole_number(0), default=_DEFAULTS.roi.min_voxels,
                     help=f"flag SNR of ROIs with fewer voxels (default {_DEFAULTS.roi.min_voxels})")
    snr.add_argument("--cnr-pair", action="append", default=[], metavar="A:B", type=_cnr_pair,
                     help="extra CNR pair of structures, e.g. lens:optic_nerve (repeatable; default pairs always)")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eye-atlas-segment", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="segment the eyes of one image")
    run.add_argument("image", type=Path, help="NIfTI, NRRD, MHA/MHD, DICOM folder, .npy or .pkl")
    add_input_options(run, "output folder")
    run.add_argument("--allow-external-data", action="store_true",
                     help="let a .mhd/.nhdr header read its data file from outside the header's folder")
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
                           centres_ras_mm=centres, via=args.via, noise_roi=args.noise_roi, repeat=args.repeat,
                           noise_scan=args.noise_scan, noise_method=args.noise_method.replace("-", "_"),
                           noise_model=args.noise_model.replace("-", "_"), channels=args.channels,
                           roi=RoiOptions(args.erode_mm, args.min_roi_voxels, args.signal_correction), cnr_pairs=pairs,
                           spacing_mm=getattr(args, "spacing", None), orientation=getattr(args, "orientation", None))


def checked_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> PipelineOptions:
    """Pipeline options from the arguments; values that cannot work together exit 2 (parser.error), before any work."""
    try:
        options = options_from_args(args)
        resolve_noise_method(options)
    except EyeAtlasError as exc:
        parser.error(str(exc))
    return options


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda fraction, message: print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def summary(result: PipelineResult, paths: dict[str, Path]) -> str:
    """Console summary: a line per structure, warnings and the files written."""
    noise = result.noise
    if isinstance(noise, DifferenceNoise):
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
            flag = f", {row.flag} (outside 2.5-97.5 %)" if row.flag else ""
            lines.append(f"{row.eye:6} {row.measure.replace('_', ' ')} {row.value:.4g} {row.unit}: "
                         f"z {row.z_score:+.1f}, percentile {row.percentile:.0f}{flag}")
    lines += [f"warning: {single_line(w)}" for w in result.warnings]
    lines.append(f"outputs written to {paths['report.json'].parent}:")
    lines += [f"  {p}" for p in paths.values()]
    return "\n".join(lines)


def _require_inputs(image: Path, atlas: Path, options: PipelineOptions) -> None:
    """Every input file exists and the atlas folder is one (checked before any work)."""
    if not image.exists():
        raise InputImageError(f"Image not found: '{image}'")
    for flag, given in (("--repeat", options.repeat), ("--noise-scan", options.noise_scan),
                        ("--noise-roi", options.noise_roi)):
        if given is not None and not Path(given).exists():
            raise InputImageError(f"{flag} file not found: '{given}'")
    resolve_release_root(atlas)


@contextmanager
def _library_output_held() -> Iterator[list[str]]:
    """For the block, what libraries print on the C stderr and Python warnings are collected, not shown (the list
    is filled at the end); ``sys.stderr`` (our progress and messages) still reaches the terminal."""
    held: list[str] = []
    try:
        terminal = os.dup(2)
    except OSError:  # no stderr at all
        yield held
        return
    ours, sys.stderr = sys.stderr, open(terminal, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.dup2(sink.fileno(), 2)
        try:
            yield held
        finally:
            sys.stderr.flush()
            os.dup2(terminal, 2)
            sys.stderr.close()
            sys.stderr = ours
            os.close(terminal)
            sink.seek(0)
            held += [line for line in sink.read().decode("utf-8", "replace").splitlines() if line.strip()]
            held += [f"{w.category.__name__}: {w.message}" for w in caught]


def _run(image: Path, atlas: Path, out: Path, args: argparse.Namespace, options: PipelineOptions) -> int:
    _require_inputs(image, atlas, options)
    out_dir = check_output_folder(out, [image, atlas, options.repeat, options.noise_scan, options.noise_roi])
    progress = _progress(args.quiet)
    with _library_output_held() as held:
        if progress:
            progress(0.0, "loading the image")
        loaded = load_image(image, options.spacing_mm, options.orientation,
                            allow_external_data=getattr(args, "allow_external_data", False))
        result = run_pipeline(loaded, atlas, options, progress=progress)
        paths = write_outputs(result, out_dir)
    print(summary(result, paths))
    if held:
        print(f"note: {len(held)} diagnostic line(s) the imaging libraries printed during the run were not shown",
              file=sys.stderr)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = checked_options(parser, args) if args.command in ("run", "demo") else None
    try:
        if args.command == "cohort":
            from .cohort.command import run_command

            return run_command(args)
        if args.command == "run":
            return _run(args.image, args.atlas, args.out, args, options)
        if args.command == "fetch-atlas":
            from .atlas_fetch import fetch_and_describe

            print(fetch_and_describe(args.dest, args.url, args.sha256, progress=_progress(False)))
            return 0
        if args.command == "demo":
            print(f"generating the SYNTHETIC atlas and demo subject in {args.out.resolve()} ...", file=sys.stderr)
            atlas_dir, subject = _make_synthetic(args.out, seed=DEMO_SEED)
            return _run(subject, atlas_dir, args.out / "results", args, options)
        atlas_dir, subject = _make_synthetic(args.out, args.seed)
        print(f"synthetic atlas: {atlas_dir}\nsynthetic subject: {subject}")
        return 0
    except KeyboardInterrupt as exc:
        where = ("after the results were written" if exc.args else "before the results were complete; OUT_DIR was "
                 "left as it was") if args.command in ("run", "demo") else ""
        print(f"error: interrupted (Ctrl-C) {where}".rstrip(), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the contract: any failure is one line, never a traceback
        print(f"error: {one_line_reason(exc)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
