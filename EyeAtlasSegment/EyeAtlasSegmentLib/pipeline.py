"""The whole engine: image in → both eyes' labels on the patient grid, statistics, biometry.

Usable from Python (``run_pipeline``), from the command line (``cli``) and from the Slicer module logic.
Nothing is written to disk here; see ``outputs.write_outputs`` (and ``outputs.report_content`` for ``report.json``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .atlas import Atlas, load_atlas, mirror_atlas
from .biometry import measure_biometry
from .callbacks import CancelCheck, ProgressCallback
from .choices import DEFAULT_NOISE_MODEL
from .cnr import DEFAULT_CNR_PAIRS, CnrRow, contrast_to_noise
from .engines import get_engine
from .errors import Cancelled, EyeAtlasError, EyeNotFoundError
from .eye_qc import QcCheck, symmetry_check
from .eye_segmentation import Attempt, EyeSearch, attempt_plan, run_attempt
from .geometry import lps_to_ras, ras_to_lps
from .globe_finder import find_globes
from .image_io import LoadedImage, load_image
from .noise import NoiseEstimate
from .noise_methods import estimate_noise, load_noise_input, resolve_noise_method
from .normative import population_norm
from .population import BiometryResult, compare_with_population
from .registration import RegistrationEngine, RegistrationResult
from .statistics import RoiOptions, StructureStats, not_segmented_rows, structure_statistics
from .structures import EYE_LABEL_OFFSET, EYES
from .whole_head import LOCATION_ROUTES, centres_via_standard_space


@dataclass
class PipelineOptions:
    """What to segment and how. Centres are RAS mm (eyes without one are found automatically).

    ``engine`` is an engine name (``engines.ENGINES``) or a ``RegistrationEngine`` instance (e.g. the Slicer
    module's BRAINSFit engine). Images for the noise (``noise_roi`` air mask, ``repeat`` second identical
    acquisition, ``noise_scan`` noise-only acquisition) are files or SimpleITK images; the ROI and the repeat must
    be on the input image's grid. ``noise_method`` "auto" picks difference, noise scan, ROI or air, in that order,
    from what is given.
    """

    sex: str = "combined"
    eyes: Sequence[str] = EYES
    engine: str | RegistrationEngine = "simpleitk"
    #: Engines tried when every attempt with ``engine`` fails quality control (each only if installed).
    retry_engines: Sequence[str] = ("ants",)
    centres_ras_mm: Mapping[str, Sequence[float]] = field(default_factory=dict)
    #: How eyes without a given centre are found: "globes" (the globe finder) or through the release's "mni152"
    #: (or "colin27") whole-head template, refined with the eye template (``whole_head``).
    via: str = "globes"
    noise_roi: Path | sitk.Image | None = None
    repeat: Path | sitk.Image | None = None
    noise_scan: Path | sitk.Image | None = None
    noise_method: str = "auto"
    noise_model: str = DEFAULT_NOISE_MODEL
    channels: int = 1
    roi: RoiOptions = field(default_factory=RoiOptions)
    cnr_pairs: Sequence[tuple[str, str]] = DEFAULT_CNR_PAIRS
    spacing_mm: Sequence[float] | None = None
    orientation: str | None = None


@dataclass
class EyeResult:
    """One eye: where it was found and how the atlas was registered to it."""

    eye: str
    centre_ras_mm: tuple[float, float, float]
    centre_source: str  # "detected", "user", "user_refined", or the whole-head route ("mni152", "colin27")
    detection_score: float | None
    registration: RegistrationResult
    qc_verdict: str  # "pass" or "doubtful"
    qc_checks: list[QcCheck]  # of the attempt used, plus the comparison with the other eye


@dataclass
class PipelineResult:
    """Everything the outputs are made of."""

    image: LoadedImage
    labels: sitk.Image  # on the patient grid: right 1-9, left 11-19
    eyes: dict[str, EyeResult]
    missing_eyes: dict[str, str]  # eye → why it is not segmented (outside the image, or refused by QC)
    attempts: dict[str, list[dict]]  # eye → every registration attempt with its checks
    stats: list[StructureStats]
    cnr: list[CnrRow]
    noise: NoiseEstimate
    atlas: Atlas
    options: PipelineOptions
    timings_s: dict[str, float]
    warnings: list[str]
    biometry: BiometryResult | None = None  # per-eye lengths and areas, and every measure against the population
    globe_search: dict = field(default_factory=dict)  # the globe finder's report (settings, search, detections)


#: A user-given centre this close to a detected globe is snapped to that globe's fitted centre (less than a
#: globe radius: the user clearly meant that globe, and a click is rarely as precise as the wall fit).
SNAP_TO_DETECTION_MM = 12.0


def resolve_globe_centres(loaded: LoadedImage, options: PipelineOptions, warnings: list[str]
                          ) -> tuple[dict[str, tuple[np.ndarray, str, float | None]], dict[str, str], dict]:
    """Globe centre (LPS mm), its source and detection score per requested eye; reasons for missing eyes; the
    globe finder's report (settings, contrast reading, candidates, each detection's confidence).

    Sources: "detected"; "user" (given centre used as is); "user_refined" (given centre snapped to the globe
    found within ``SNAP_TO_DETECTION_MM``).
    """
    search = find_globes(loaded.image, list(options.eyes))
    warnings.extend(search.warnings)
    centres: dict[str, tuple[np.ndarray, str, float | None]] = {}
    missing: dict[str, str] = {}
    for eye in options.eyes:
        detection = search.detections.get(eye)
        detected = np.asarray(detection.centre_lps_mm) if detection else None
        if eye in options.centres_ras_mm:
            given = ras_to_lps(options.centres_ras_mm[eye])
            distance_mm = np.linalg.norm(detected - given) if detected is not None else np.inf
            if distance_mm <= SNAP_TO_DETECTION_MM:
                warnings.append(f"{eye} eye: the given centre was refined to the fitted globe centre "
                                f"({distance_mm:.1f} mm away)")
                centres[eye] = (detected, "user_refined", detection.score)
            else:
                centres[eye] = (given, "user", None)
        elif detection:
            centres[eye] = (detected, "detected", detection.score)
        else:
            missing[eye] = search.missing.get(eye, "not found")
    return centres, missing, search.as_report()


def run_pipeline(image: str | Path | LoadedImage, atlas_dir: str | Path, options: PipelineOptions = PipelineOptions(),
                 progress: ProgressCallback | None = None,
                 is_cancelled: CancelCheck = lambda: False) -> PipelineResult:
    """Segment the requested eyes of ``image`` with the atlas in ``atlas_dir``."""
    report_progress = progress or (lambda fraction, message: None)
    for eye in options.eyes:
        if eye not in EYES:
            raise EyeAtlasError(f"eye must be 'right' or 'left', not {eye!r}")
    if options.via not in LOCATION_ROUTES:
        raise EyeAtlasError(f"via must be one of {', '.join(LOCATION_ROUTES)}, not {options.via!r}")
    timings: dict[str, float] = {}
    warnings: list[str] = []
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now
        if is_cancelled():
            raise Cancelled("cancelled by the user")

    report_progress(0.0, "loading image and atlas")
    loaded = image if isinstance(image, LoadedImage) else load_image(image, options.spacing_mm, options.orientation)
    warnings.extend(loaded.warnings)
    atlas = load_atlas(atlas_dir, options.sex)
    if atlas.synthetic:
        warnings.append("the atlas is SYNTHETIC (generated for demonstration/testing), not the MR-Eye atlas")
    engine = get_engine(options.engine) if isinstance(options.engine, str) else options.engine
    noise_method = resolve_noise_method(options)
    noise_input = load_noise_input(noise_method, loaded.image, options)
    lap("load")

    report_progress(0.05, "locating the eyes")
    globe_search: dict = {}
    if options.via == "globes":
        centres, missing, globe_search = resolve_globe_centres(loaded, options, warnings)
    else:
        centres, missing, route_warnings = centres_via_standard_space(loaded.image, atlas_dir, atlas, options.via,
                                                                      options.eyes, options.centres_ras_mm)
        warnings.extend(route_warnings)
    lap("locate_eyes")
    if not centres:
        raise EyeNotFoundError("no eye found in the image: " + "; ".join(f"{e}: {r}" for e, r in missing.items()))

    chosen, checks, attempts = segment_eyes(loaded.image, atlas, centres, engine, options.retry_engines, missing,
                                            report_progress, is_cancelled)
    lap("registration")
    labels = sitk.Image(loaded.image.GetSize(), sitk.sitkUInt8)
    labels.CopyInformation(loaded.image)
    eye_results: dict[str, EyeResult] = {}
    for eye, attempt in chosen.items():
        centre_lps, source, score = centres[eye]
        warnings.extend(attempt.registration.warnings)
        labels = _merge_eye_labels(labels, attempt.labels, EYE_LABEL_OFFSET[eye])
        eye_results[eye] = EyeResult(eye, tuple(float(v) for v in lps_to_ras(centre_lps)), source, score,
                                     attempt.registration, attempt.verdict, checks[eye])
    lap("label_transfer")
    for eye, reason in missing.items():
        warnings.append(f"{eye} eye not segmented: {reason}")
    if not eye_results:
        raise EyeNotFoundError("no eye could be segmented: " + "; ".join(f"{e}: {r}" for e, r in missing.items()))

    report_progress(0.92, "statistics")
    eye_centres_lps = [ras_to_lps(r.centre_ras_mm) for r in eye_results.values()]
    noise = estimate_noise(noise_method, loaded.image, labels, options, eye_centres_lps, noise_input)
    stats = structure_statistics(loaded.image, labels, [e for e in EYES if e in eye_results], noise, options.roi)
    cnr = contrast_to_noise(stats, noise, options.cnr_pairs)
    for row in stats:
        row.qc_status = eye_results[row.eye].qc_verdict
        row.qc_note = "; ".join(c.message for c in eye_results[row.eye].qc_checks if c.verdict != "pass")
    stats += [row for eye in EYES if eye in missing for row in not_segmented_rows(eye, missing[eye])]
    lap("statistics")
    report_progress(0.96, "biometry")
    biometry = compare_with_population(measure_biometry(loaded.image, labels, list(eye_results)), stats, missing,
                                       [eye for eye in EYES if eye in options.eyes], atlas.sex,
                                       loaded.metadata.get("patient_sex"))
    lap("biometry")
    report_progress(1.0, "done")
    return PipelineResult(loaded, labels, eye_results, missing, attempts, stats, cnr, noise, atlas, options, timings,
                          warnings, biometry, globe_search)


def segment_eyes(image: sitk.Image, atlas: Atlas, centres: Mapping[str, tuple[np.ndarray, str, float | None]],
                 engine: RegistrationEngine, retry_engines: Sequence[str], missing: dict[str, str],
                 progress: ProgressCallback,
                 is_cancelled: CancelCheck) -> tuple[dict[str, Attempt], dict[str, list[QcCheck]],
                                                            dict[str, list[dict]]]:
    """Register and check each located eye, retrying as ``eye_segmentation`` plans; then compare the two globes.

    Returns the attempt used per accepted eye, its checks (with the two-eye comparison), and every attempt per eye.
    Eyes outside the image or refused are added to ``missing`` with the reason.
    """
    searches: dict[str, EyeSearch] = {}
    chosen: dict[str, Attempt] = {}
    located = [e for e in EYES if e in centres]
    for n, eye in enumerate(located):
        centre_lps = centres[eye][0]
        eye_atlas = atlas if eye == "right" else mirror_atlas(atlas)
        base = 0.1 + 0.8 * n / len(located)

        def eye_progress(fraction: float, message: str, eye: str = eye, base: float = base) -> None:
            progress(base + 0.8 * fraction / len(located), f"{eye} eye: {message}")

        def run(plan, eye_atlas=eye_atlas, centre_lps=centre_lps, eye_progress=eye_progress) -> Attempt:
            eye_progress(0.0, f"registering the atlas ({plan.name})")
            return run_attempt(plan, eye_atlas, image, centre_lps, atlas.sex, eye_progress)

        searches[eye] = EyeSearch(attempt_plan(engine, retry_engines), run, is_cancelled)
        try:
            best = searches[eye].best()
        except EyeNotFoundError as exc:
            missing[eye] = str(exc)
            continue
        if best is None:
            missing[eye] = "refused by quality control: " + _refusal_reason(searches[eye].attempts)
        else:
            chosen[eye] = best
    checks = {eye: list(attempt.checks) for eye, attempt in chosen.items()}
    if len(chosen) == 2:
        symmetry = _make_symmetric(chosen, searches, atlas.sex)
        for eye in list(chosen):
            checks[eye].append(symmetry)
        if symmetry.verdict == "fail":
            suspect = _suspect_eye(chosen, atlas.sex)
            del chosen[suspect], checks[suspect]
            missing[suspect] = f"refused by quality control: {symmetry.message}, and this globe is the further " \
                               f"from the population"
    attempts = {eye: [a.summary() for a in search.attempts] for eye, search in searches.items()}
    return chosen, checks, attempts


def _refusal_reason(attempts: Sequence[Attempt]) -> str:
    """Why every attempt failed: the first attempt's failures, and how many alternatives were tried."""
    first = next(a for a in attempts)
    reason = "; ".join(c.message for c in first.checks if c.verdict == "fail")
    return f"{reason} (and in {len(attempts) - 1} other registration attempts)" if len(attempts) > 1 else reason


def _globe_z(eye: str, attempt: Attempt, sex: str) -> float:
    return abs(population_norm(eye, sex, "globe").z_score(attempt.volumes_mm3["globe"]))


def _suspect_eye(chosen: Mapping[str, Attempt], sex: str) -> str:
    """Of two disagreeing eyes, the one whose globe volume is further from the population mean."""
    return max(chosen, key=lambda eye: _globe_z(eye, chosen[eye], sex))


def _make_symmetric(chosen: dict[str, Attempt], searches: Mapping[str, EyeSearch], sex: str) -> QcCheck:
    """Compare the two globes; when they disagree, look for an attempt of the suspect eye that agrees.

    The suspect eye's other accepted attempts are tried first, then its remaining planned ones. ``chosen`` is
    updated in place; the returned check is the final comparison.
    """
    check = symmetry_check({eye: attempt.volumes_mm3["globe"] for eye, attempt in chosen.items()})
    if check.verdict == "pass":
        return check
    suspect = _suspect_eye(chosen, sex)
    search = searches[suspect]
    candidates = iter([a for a in search.accepted() if a is not chosen[suspect]])
    while (candidate := next(candidates, None) or search.more()) is not None:
        if candidate.verdict == "fail":
            continue
        trial = {**chosen, suspect: candidate}
        trial_check = symmetry_check({eye: attempt.volumes_mm3["globe"] for eye, attempt in trial.items()})
        if trial_check.verdict == "pass":
            chosen[suspect] = candidate
            return trial_check
    return check


def _merge_eye_labels(labels: sitk.Image, eye_labels: sitk.Image, offset: int) -> sitk.Image:
    """Add one eye's labels (0-9) to the combined map with the eye's offset; existing labels win overlaps."""
    combined = sitk.GetArrayFromImage(labels)
    new = sitk.GetArrayViewFromImage(eye_labels)
    take = (new > 0) & (combined == 0)
    combined[take] = new[take] + offset
    out = sitk.GetImageFromArray(combined)
    out.CopyInformation(labels)
    return out
