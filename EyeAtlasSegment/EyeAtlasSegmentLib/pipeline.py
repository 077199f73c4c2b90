"""The whole engine: image in → both eyes' labels on the patient grid, statistics, biometry.

Usable from Python (``run_pipeline``), from the command line (``cli``) and from the Slicer module logic.
Nothing is written to disk here; see ``outputs.write_outputs`` (and ``outputs.report_content`` for ``report.json``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk

from .atlas import Atlas, load_atlas
from .biometry import measure_biometry
from .callbacks import CancelCheck, ProgressCallback
from .choices import DEFAULT_NOISE_MODEL
from .cnr import DEFAULT_CNR_PAIRS, CnrRow, contrast_to_noise
from .engines import get_engine
from .errors import Cancelled, EyeAtlasError, EyeNotFoundError
from .eye_qc import QcCheck
from .eye_segmentation import combined_labels, segment_eyes
from .geometry import lps_to_ras, ras_to_lps
from .globe_centres import resolve_globe_centres
from .image_io import LoadedImage, load_image
from .noise import NoiseEstimate
from .noise_methods import estimate_noise, load_noise_input, resolve_noise_method
from .population import BiometryResult, compare_with_population
from .registration import RegistrationEngine, RegistrationResult
from .statistics import RoiOptions, StructureStats, not_segmented_rows, structure_statistics
from .structures import EYES
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
        centres, missing, globe_search = resolve_globe_centres(loaded.image, options.eyes, options.centres_ras_mm,
                                                               warnings)
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
    labels = combined_labels(loaded.image, chosen)
    eye_results: dict[str, EyeResult] = {}
    for eye, attempt in chosen.items():
        centre_lps, source, score = centres[eye]
        warnings.extend(attempt.registration.warnings)
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
