"""Benchmark: accuracy of the pipeline on the tuning family and on the independent evaluation family.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/bench_accuracy.py [--family tuning|evaluation|both] [--cases N | --only ID,ID]
        [--engine simpleitk|ants] [--set FIELD=VALUE ...] [--atlas DIR [--sex SEX]]

The tuning family (``subject_generator``) is what the pipeline and the synthetic atlas were tuned on; the evaluation
family (``evaluation_family.EVALUATION_CASES``) was made independently and judges them. Each image is written to a
temporary NIfTI and run by the default pipeline in a fresh spawned process, so the timed run includes loading and
the peak memory (VmHWM) is that of one head. A refused eye (not segmented) counts as Dice 0 in "all eyes".
``--atlas`` runs a release folder (the real MR-Eye atlas) instead of the synthetic atlas. ``--set`` overrides a
field of the SimpleITK engine's settings (``SimpleITKSettings``; for ``--engine ants``, of its linear stages), e.g.
``--set bspline_sampling_fraction=0.1``: the deformable-stage and B-spline-grid comparisons in the README.
Prints the command, then Markdown tables: Dice per structure, per case, wall time and peak memory.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import multiprocessing
import resource
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.atlas import SEXES
from EyeAtlasSegmentLib.engines.simpleitk_engine import SimpleITKEngine, SimpleITKSettings
from EyeAtlasSegmentLib.errors import EyeAtlasError
from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
from EyeAtlasSegmentLib.structures import EYES, STRUCTURES
from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas
from EyeAtlasSegmentLib.synthetic.evaluation_family import EVALUATION_CASES, make_evaluation_subject
from EyeAtlasSegmentLib.synthetic.scoring import dice_per_structure
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

#: The tuning-family grids of bench_engines.py --vary-grid.
TUNING_GRIDS = (("RAS", (1.0, 1.0, 1.0)), ("LPS", (0.9, 0.9, 1.3)), ("PIR", (1.1, 1.1, 1.1)), ("LAS", (1.0, 1.0, 1.5)))
TUNING_FIRST_SEED = 100
KEYS = [s.key for s in STRUCTURES]


@dataclass
class CaseResult:
    """One head: Dice per segmented eye, refused eyes with reasons, globe-centre errors, time and memory."""

    family: str
    case_id: str
    contrast: str
    grid: str
    generate_s: float
    dice: dict[str, dict[str, float]]
    refused: dict[str, str]
    centre_error_mm: dict[str, float]
    seconds: float
    peak_rss_mb: float

    def eye_mean(self, eye: str) -> float:
        """Mean Dice of the nine structures (0 for a refused eye)."""
        return float(np.mean(list(self.dice[eye].values()))) if eye in self.dice else 0.0


def make_engine(name: str, overrides: dict[str, str]):
    """The engine called ``name``, with ``overrides`` (field → text) applied to its SimpleITK settings."""
    if not overrides:
        return name
    fields = {f.name: f for f in dataclasses.fields(SimpleITKSettings)}
    unknown = set(overrides) - set(fields)
    if unknown:
        raise SystemExit(f"--set: no SimpleITKSettings field {', '.join(sorted(unknown))}")
    settings = SimpleITKSettings(**{k: ast.literal_eval(v) for k, v in overrides.items()})
    if name == "simpleitk":
        return SimpleITKEngine(settings)
    if name == "ants":
        from EyeAtlasSegmentLib.engines.ants_engine import AntsEngine, AntsSettings
        return AntsEngine(AntsSettings(linear=settings))
    raise SystemExit(f"--set applies to the simpleitk and ants engines, not {name}")


def run_case(image_path: str, truth_path: str, atlas_dir: str, sex: str, engine: str, overrides: dict[str, str],
             centres_ras_mm: dict[str, tuple[float, float, float]]) -> dict:
    """Run the pipeline on one saved image (meant for a fresh process) and score it against the truth."""
    start = time.perf_counter()
    try:
        result = run_pipeline(image_path, atlas_dir, PipelineOptions(sex=sex, engine=make_engine(engine, overrides)))
        labels, segmented, refused = result.labels, result.eyes, dict(result.missing_eyes)
    except EyeAtlasError as exc:  # no eye segmented (or the run refused the image)
        labels, segmented, refused = None, {}, {eye: f"{type(exc).__name__}: {exc}" for eye in EYES}
    seconds = time.perf_counter() - start
    truth = sitk.ReadImage(truth_path)
    return {"dice": {eye: dice_per_structure(labels, truth, eye) for eye in segmented},
            "refused": {eye: refused.get(eye, "not reported") for eye in EYES if eye not in segmented},
            "centre_error_mm": {eye: float(np.linalg.norm(np.subtract(r.centre_ras_mm, centres_ras_mm[eye])))
                                for eye, r in segmented.items()},
            "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (MB).

    Linux's VmHWM is reset when the spawned child execs Python; ru_maxrss is not (it keeps the parent's peak at
    fork time, here the generator's), so it is only the fallback where /proc is absent.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _subjects(family: str, count: int | None, only: set[str]):
    """Yield (case id, contrast, grid description, spec, maker) of the family's first ``count`` cases (or of the
    cases named in ``only``, when given)."""
    if family == "tuning":
        for n in range(4 if count is None else count):
            orientation, spacing = TUNING_GRIDS[n % len(TUNING_GRIDS)]
            spec = SubjectSpec(seed=TUNING_FIRST_SEED + n, orientation=orientation, spacing_mm=spacing)
            if not only or f"seed-{spec.seed}" in only:
                yield f"seed-{spec.seed}", spec.contrast, _grid_text(orientation, spacing, "head"), spec, make_subject
    else:
        for spec in (s for s in EVALUATION_CASES[:count] if not only or s.case_id in only):
            orientation = spec.orientation + (" oblique" if any(spec.oblique_deg) else "")
            grid = _grid_text(orientation, spec.spacing_mm, spec.fov)
            yield spec.case_id, spec.contrast, grid, spec, make_evaluation_subject


def _grid_text(orientation: str, spacing_mm, fov: str) -> str:
    return f"{orientation} {'×'.join(f'{s:g}' for s in spacing_mm)} mm, {fov}"


def run_family(family: str, count: int | None, only: set[str], engine: str, overrides: dict[str, str],
               atlas_dir: Path, sex: str, work: Path) -> list[CaseResult]:
    """Generate, save and run every case of one family, each in a fresh spawned process."""
    results = []
    context = multiprocessing.get_context("spawn")
    for case_id, contrast, grid, spec, make in _subjects(family, count, only):
        start = time.perf_counter()
        subject = make(spec)
        generate_s = time.perf_counter() - start
        image_path, truth_path = work / f"{family}-{case_id}.nii.gz", work / f"{family}-{case_id}-truth.nii.gz"
        sitk.WriteImage(subject.image, str(image_path))
        sitk.WriteImage(subject.truth_labels, str(truth_path))
        with context.Pool(1) as pool:
            out = pool.apply(run_case, (str(image_path), str(truth_path), str(atlas_dir), sex, engine, overrides,
                                        subject.globe_centres_ras_mm))
        results.append(CaseResult(family, case_id, contrast, grid, generate_s, **out))
        r = results[-1]
        print(f"{family} {case_id}: right {r.eye_mean('right'):.3f}, left {r.eye_mean('left'):.3f}, "
              f"{r.seconds:.1f} s, {r.peak_rss_mb:.0f} MB; refused {r.refused or '-'}", file=sys.stderr, flush=True)
    return results


def _structure_table(by_family: dict[str, list[CaseResult]]) -> list[str]:
    families = list(by_family)
    header = "| structure | " + " | ".join(f"{f}: all eyes | {f}: segmented eyes" for f in families) + " |"
    lines = [header, "|---|" + "---|---|" * len(families)]

    def cells(values_all: list[float], values_seg: list[float]) -> str:
        seg = f"{np.mean(values_seg):.3f} ± {np.std(values_seg):.3f}" if values_seg else "–"
        return f"{np.mean(values_all):.3f} ± {np.std(values_all):.3f} | {seg}"

    for s in STRUCTURES:
        row = []
        for f in families:
            seg = [r.dice[e][s.key] for r in by_family[f] for e in r.dice]
            row.append(cells(seg + [0.0] * sum(len(r.refused) for r in by_family[f]), seg))
        lines.append(f"| {s.name} | " + " | ".join(row) + " |")
    row_mean, row_worst, row_refused = [], [], []
    for f in families:
        eye_means = {(r.case_id, e): r.eye_mean(e) for r in by_family[f] for e in EYES}
        seg = [r.eye_mean(e) for r in by_family[f] for e in r.dice]
        row_mean.append(f"**{np.mean(list(eye_means.values())):.3f}** | "
                        + (f"**{np.mean(seg):.3f}**" if seg else "–"))
        worst = min(eye_means, key=eye_means.get)
        worst_seg = min(((r.case_id, e) for r in by_family[f] for e in r.dice), key=eye_means.get, default=None)
        row_worst.append(f"{eye_means[worst]:.3f} ({worst[0]} {worst[1]}) | "
                         + (f"{eye_means[worst_seg]:.3f} ({worst_seg[0]} {worst_seg[1]})" if worst_seg else "–"))
        row_refused.append(f"{sum(len(r.refused) for r in by_family[f])} of {2 * len(by_family[f])} | –")
    lines.append("| **mean of 9** | " + " | ".join(row_mean) + " |")
    lines.append("| worst eye (mean of 9) | " + " | ".join(row_worst) + " |")
    lines.append("| eyes refused / not segmented | " + " | ".join(row_refused) + " |")
    return lines


def _case_table(results: list[CaseResult]) -> list[str]:
    lines = ["| family | case | contrast | grid | right mean Dice | left mean Dice | right / left globe | "
             "right / left lens | right / left optic nerve | centre error R / L mm | time s | peak MB | generate s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def pair(r: CaseResult, key: str) -> str:
        return " / ".join(f"{r.dice[e][key]:.2f}" if e in r.dice else "refused" for e in EYES)

    for r in results:
        means = [f"{r.eye_mean(e):.3f}" if e in r.dice else "refused" for e in EYES]
        errors = " / ".join(f"{r.centre_error_mm[e]:.1f}" if e in r.centre_error_mm else "–" for e in EYES)
        lines.append(f"| {r.family} | {r.case_id} | {r.contrast} | {r.grid} | {means[0]} | {means[1]} | "
                     f"{pair(r, 'globe')} | {pair(r, 'lens')} | {pair(r, 'optic_nerve')} | {errors} | "
                     f"{r.seconds:.1f} | {r.peak_rss_mb:.0f} | {r.generate_s:.1f} |")
    return lines


def _timing_table(by_family: dict[str, list[CaseResult]]) -> list[str]:
    lines = ["| family | heads | wall time per head, median (max) s | peak memory per head, median (max) MB |",
             "|---|---|---|---|"]
    for f, results in by_family.items():
        seconds, memory = [r.seconds for r in results], [r.peak_rss_mb for r in results]
        lines.append(f"| {f} | {len(results)} | {np.median(seconds):.1f} ({np.max(seconds):.1f}) | "
                     f"{np.median(memory):.0f} ({np.max(memory):.0f}) |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=("tuning", "evaluation", "both"), default="both")
    parser.add_argument("--cases", type=int, default=None,
                        help="first N cases of each family (default: 4 tuning subjects, all evaluation cases)")
    parser.add_argument("--only", default="", help="comma-separated case ids (seed-100 … and evaluation ids)")
    parser.add_argument("--engine", default="simpleitk")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a SimpleITKSettings field (repeatable)")
    parser.add_argument("--atlas", type=Path, help="an MR-Eye release folder (default: the synthetic atlas)")
    parser.add_argument("--sex", choices=SEXES, default="combined", help="atlas template (default: combined)")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    make_engine(args.engine, overrides)  # unknown fields fail before any case is generated
    only = {c for c in args.only.split(",") if c}

    print("$ " + shlex.join(sys.orig_argv) + "\n")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-accuracy-"))
    atlas_dir = args.atlas or make_synthetic_atlas(work, sexes=("combined",))
    families = ("tuning", "evaluation") if args.family == "both" else (args.family,)
    by_family = {f: run_family(f, args.cases, only, args.engine, overrides, atlas_dir, args.sex, work)
                 for f in families}
    by_family = {f: r for f, r in by_family.items() if r}

    n_eyes = {f: 2 * len(r) for f, r in by_family.items()}
    settings = "".join(" --set " + s for s in args.set)
    atlas_text = f"atlas {args.atlas} ({args.sex})" if args.atlas else "SYNTHETIC atlas"
    print(f"Engine {args.engine}{settings}; {atlas_text}; eyes: " + ", ".join(f"{f} {n}" for f, n in n_eyes.items())
          + ". Dice mean ± SD over eyes; a refused eye counts 0 in \"all eyes\".\n")
    print("\n".join(_structure_table(by_family)) + "\n")
    print("\n".join(_case_table([r for results in by_family.values() for r in results])) + "\n")
    print("\n".join(_timing_table(by_family)) + "\n")
    print(f"Total benchmark wall time: {time.perf_counter() - started:.0f} s (generation included).")


if __name__ == "__main__":
    main()
