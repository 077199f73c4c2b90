"""Automatic localisation of both eyeballs (globes) in a 3D head or orbit MRI of any contrast.

Method (all positions in LPS millimetres; the header orientation is trusted):

1. The image is box-averaged and linearly resampled onto an axis-aligned LPS grid of ~2 mm (array axes
   ``z, y, x`` = I→S, A→P, R→L) and normalised so that air ≈ 0 and the typical tissue intensity ≈ 1
   (Otsu split of the voxels inside the field of view; zero-filled background counts as air, not tissue).
   A head mask (largest component, holes filled) limits the search.
2. A contrast-invariant sphere detector is evaluated at every voxel for a few globe-sized radii: the
   radial symmetry of the intensity gradient on a spherical shell, ``Σ ∇I·r̂ / Σ |∇I|`` (+1 for a dark ball,
   −1 for a bright ball, so T1- and T2-like vitreous are both handled), weighted by the contrast across
   the shell, the homogeneity of the interior, the fraction of the shell inside the field of view, a
   surrounding band of tissue rather than air (a globe is embedded in the orbit; a convex skin bump or a
   corner is not) and — for dark balls — an interior brighter than air (air sinuses are dark in every
   contrast, vitreous is not).
   All shell sums are FFT convolutions.
3. Local maxima lying close behind the anterior skin surface are paired under anatomical priors: 40–90 mm
   apart, separated mainly along L-R (head roll/yaw up to 35°), same polarity. One convincing candidate
   without a partner is reported alone, named from the face profile (nasal bridge medial, temple lateral),
   and the other eye is reported missing with a reason; a position is never guessed.
4. Each chosen centre is refined on a 1 mm grid resampled from the native image: the globe wall is
   located along 256 rays (strongest edge of the polarity's sign that has tissue, not air, outside it)
   and a sphere is fitted robustly to those points. A smooth, tissue-bright band in front of the globe
   (a blurred, defaced face) is reported as a warning.

``GlobeDetection.score`` is in [0, 1]: detector score × sphere-fit support (halved for a blurred face).
Clearly visible globes score ~0.6–0.95; below ``LOW_SCORE`` a warning is added; candidates below
``MIN_SCORE`` are never reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from .errors import InputImageError
from .geometry import physical_to_continuous_index
from .structures import EYES

COARSE_SPACING_MM = 2.0
MAX_COARSE_VOXELS = 3_000_000
SHELL_RADII_MM = (9.0, 11.0, 13.0)
SHELL_SIGMA_MM = 1.5
INTERIOR_RADIUS_FRACTION = 0.6
OUTER_SHELL_MM = (1.0, 4.0)  # surrounding band, beyond the shell radius
DETECTOR_REACH_MM = max(SHELL_RADII_MM) + max(3.0 * SHELL_SIGMA_MM, OUTER_SHELL_MM[1])
SMOOTHING_SIGMA_MM = 2.0
MIN_INTERIOR_ABOVE_AIR = 0.08  # dark-ball interior, in normalised units (air 0, tissue 1)
FULL_CONTRAST = 0.25  # normalised contrast across the shell that earns a full score
MAX_SURROUND_AIR_FRACTION = 0.3  # a globe is embedded in tissue; the score falls to 0 at this air fraction
MAX_AIR_NORMALISED = 0.15  # normalised intensity below which a sample counts as air
MAX_ANTERIOR_DEPTH_MM = (35.0, 55.0)  # full prior up to the first value, zero beyond the second
PAIR_DISTANCE_MM = (40.0, 90.0)
MAX_PAIR_TILT_DEG = 35.0
TYPICAL_INTEROCULAR_MM = 62.0
FACE_PROFILE_OFFSET_MM = 25.0
MIN_FACE_PROFILE_STEP_MM = 10.0
CANDIDATES_PER_POLARITY = 12
MIN_CANDIDATE_SEPARATION_MM = 12.0
MIN_SCORE = 0.15
MIN_PAIR_SCORE = 0.3  # geometric mean of the two candidates' scores
MIN_SINGLE_SCORE = 0.35
SINGLE_GLOBE_PENALTY = 0.6  # a lone globe must beat the best pair's score by this factor
LOW_SCORE = 0.3
REFINE_SPACING_MM = 1.0
REFINE_HALF_WIDTH_MM = 26.0
REFINE_RAYS = 256
REFINE_RADIUS_RANGE_MM = (5.0, 19.0)
REFINE_ITERATIONS = 4
MAX_REFINE_SHIFT_MM = 10.0
GLOBE_RADIUS_RANGE_MM = (7.0, 16.0)
SPHERE_TOLERANCE_MM = 2.0  # boundary points closer than this to the fitted sphere support it
WALL_OUTSIDE_MM = 3.0  # where "just outside" a boundary point is sampled
BLUR_CHECK_SIGMA_MM = 1.5
MAX_BLUR_SMOOTHNESS_RATIO = 0.3  # detail in front of the globe relative to behind it


@dataclass(frozen=True)
class GlobeDetection:
    """One located globe.

    ``score`` is in [0, 1] (higher is better; ~0.6–0.95 for clearly visible globes, < ``LOW_SCORE`` is
    unreliable). ``radius_mm`` is the radius of the sphere fitted to the globe wall. ``polarity`` is "dark"
    (T1-like vitreous) or "bright" (T2-like vitreous).
    """

    eye: str
    centre_lps_mm: tuple[float, float, float]
    radius_mm: float
    score: float
    polarity: str


@dataclass
class GlobeSearchResult:
    """Detections for the eyes found, a human-readable reason for each requested eye not found, warnings."""

    detections: dict[str, GlobeDetection] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Grid:
    """Axis-aligned LPS grid: array index (z, y, x) ↦ origin + spacing · (x, y, z)."""

    origin_lps_mm: np.ndarray
    spacing_mm: float
    shape_zyx: tuple[int, int, int]

    def to_lps(self, index_zyx: np.ndarray) -> np.ndarray:
        return self.origin_lps_mm + self.spacing_mm * np.asarray(index_zyx, dtype=float)[..., ::-1]

    def to_index(self, point_lps_mm: np.ndarray) -> np.ndarray:
        return ((np.asarray(point_lps_mm, dtype=float) - self.origin_lps_mm) / self.spacing_mm)[..., ::-1]


@dataclass(frozen=True)
class _IntensityLevels:
    """Raw intensities of air (noise floor or zero fill) and of typical tissue."""

    air: float
    tissue: float

    def normalise(self, raw: np.ndarray | float) -> np.ndarray | float:
        """Map air to 0 and typical tissue to 1."""
        return (raw - self.air) / max(self.tissue - self.air, 1e-6 * max(abs(self.tissue), 1.0))


@dataclass(frozen=True)
class _CoarseVolume:
    intensity_zyx: np.ndarray  # normalised: air ≈ 0, tissue ≈ 1, 0 outside the field of view
    valid_zyx: np.ndarray  # inside the image's field of view
    head_zyx: np.ndarray  # head (or orbit) tissue mask, holes filled
    grid: _Grid
    levels: _IntensityLevels


@dataclass(frozen=True)
class _Candidate:
    centre_lps_mm: np.ndarray
    radius_mm: float
    score: float
    polarity: str


# ----------------------------------------------------------------------------------------------- public API


def find_globes(image: sitk.Image, eyes: Sequence[str] = EYES) -> GlobeSearchResult:
    """Locate the requested eyes' globes in ``image`` (any MR contrast, any orientation, LPS geometry).

    Both globes are always searched for (the pair is the strongest cue); only the requested ``eyes`` are
    returned. An eye that is not found is listed in ``missing`` with a reason — a position is never guessed.
    """
    requested = _validate_request(image, eyes)
    volume = _coarse_volume(image)
    result = GlobeSearchResult()
    if not volume.head_zyx.any():
        for eye in requested:
            result.missing[eye] = "the image contains no tissue above the background noise"
        return result
    candidates = _detect_candidates(volume)
    chosen, reasons, warnings = _choose_globes(candidates, volume, image)
    result.warnings.extend(warnings)
    for eye in requested:
        if eye in chosen:
            detection, refine_warnings = _refine(image, chosen[eye], eye, volume.levels)
            result.detections[eye] = detection
            result.warnings.extend(refine_warnings)
        else:
            result.missing[eye] = reasons[eye]
    return result


def _validate_request(image: sitk.Image, eyes: Sequence[str]) -> list[str]:
    if image.GetDimension() != 3:
        raise InputImageError(f"a 3D image is required, got a {image.GetDimension()}D image")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputImageError("a single-channel (scalar) image is required, got a multi-component image")
    unknown = [eye for eye in eyes if eye not in EYES]
    if unknown:
        raise ValueError(f"unknown eye name(s) {unknown}; use {EYES}")
    return list(dict.fromkeys(eyes))


# ------------------------------------------------------------------------------------ coarse volume, masks


def _coarse_volume(image: sitk.Image) -> _CoarseVolume:
    """Resample to the coarse LPS grid, normalise intensities and build the head mask."""
    image_f32 = sitk.Cast(image, sitk.sitkFloat32)
    grid = _coarse_grid(image_f32)
    shrunk = _box_average(image_f32, grid.spacing_mm)
    reference = sitk.Image([int(n) for n in grid.shape_zyx[::-1]], sitk.sitkFloat32)
    reference.SetOrigin(tuple(float(v) for v in grid.origin_lps_mm))
    reference.SetSpacing((grid.spacing_mm,) * 3)
    raw_zyx = sitk.GetArrayFromImage(sitk.Resample(shrunk, reference, sitk.Transform(), sitk.sitkLinear, math.nan))
    valid_zyx = np.isfinite(raw_zyx)
    raw_zyx = np.where(valid_zyx, raw_zyx, 0.0).astype(np.float32)
    if not valid_zyx.any():
        raise InputImageError("the image has no voxels")
    levels, head_threshold = _intensity_levels(raw_zyx, valid_zyx)
    intensity_zyx = np.where(valid_zyx, levels.normalise(raw_zyx), 0.0).astype(np.float32)
    head_zyx = _head_mask(raw_zyx > head_threshold) if levels.tissue > levels.air else np.zeros_like(valid_zyx)
    return _crop_to_head(_CoarseVolume(intensity_zyx, valid_zyx, head_zyx, grid, levels))


def _crop_to_head(volume: _CoarseVolume) -> _CoarseVolume:
    """Restrict the volume to the head's bounding box plus the detector's reach (saves FFT time)."""
    if not volume.head_zyx.any():
        return volume
    margin = int(math.ceil(DETECTOR_REACH_MM / volume.grid.spacing_mm)) + 1
    head_indices = np.nonzero(volume.head_zyx)
    low = np.maximum([int(a.min()) - margin for a in head_indices], 0)
    high = np.minimum([int(a.max()) + margin + 1 for a in head_indices], volume.grid.shape_zyx)
    box = tuple(slice(int(lo), int(hi)) for lo, hi in zip(low, high))
    grid = _Grid(volume.grid.to_lps(low), volume.grid.spacing_mm, tuple(int(n) for n in high - low))
    return _CoarseVolume(volume.intensity_zyx[box], volume.valid_zyx[box], volume.head_zyx[box], grid, volume.levels)


def _coarse_grid(image: sitk.Image) -> _Grid:
    """Axis-aligned grid covering the image's bounding box at ≥ ``COARSE_SPACING_MM``."""
    size = np.asarray(image.GetSize(), dtype=float)
    corners_index = np.array([[i, j, k] for i in (-0.5, size[0] - 0.5) for j in (-0.5, size[1] - 0.5)
                              for k in (-0.5, size[2] - 0.5)])
    corners_lps_mm = np.array([image.TransformContinuousIndexToPhysicalPoint(c.tolist()) for c in corners_index])
    low_lps_mm, high_lps_mm = corners_lps_mm.min(axis=0), corners_lps_mm.max(axis=0)
    extent_mm = high_lps_mm - low_lps_mm
    spacing_mm = max(COARSE_SPACING_MM, float(np.cbrt(np.prod(extent_mm) / MAX_COARSE_VOXELS)))
    shape_xyz = np.maximum(np.ceil(extent_mm / spacing_mm).astype(int), 1)
    origin_lps_mm = low_lps_mm + 0.5 * (extent_mm - (shape_xyz - 1) * spacing_mm)
    return _Grid(origin_lps_mm, spacing_mm, tuple(int(n) for n in shape_xyz[::-1]))


def _box_average(image: sitk.Image, target_spacing_mm: float) -> sitk.Image:
    """Average blocks of voxels so no axis is much finer than the target (anti-aliasing before resampling)."""
    factors = [max(1, int(target_spacing_mm / s)) for s in image.GetSpacing()]
    return sitk.BinShrink(image, factors) if max(factors) > 1 else image


def _intensity_levels(raw_zyx: np.ndarray, valid_zyx: np.ndarray) -> tuple[_IntensityLevels, float]:
    """Air and tissue levels and the head-mask threshold, from the voxels inside the field of view.

    Otsu's threshold splits air from tissue; the tissue level is the median above it, the air level a low
    percentile, and the head mask keeps everything above a quarter of the way from air to Otsu's threshold.
    """
    values = raw_zyx[valid_zyx]
    air_level = float(np.percentile(values, 0.5))
    otsu_threshold = _otsu_threshold(values)
    above = values[values > otsu_threshold]
    tissue_level = float(np.median(above)) if above.size else air_level
    return _IntensityLevels(air_level, tissue_level), air_level + 0.25 * (otsu_threshold - air_level)


def _otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    counts, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between_variance = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between_variance))])


def _head_mask(foreground_zyx: np.ndarray) -> np.ndarray:
    """Largest connected foreground component, closed and with holes filled (in 3D and per axial slice)."""
    mask = sitk.GetImageFromArray(foreground_zyx.astype(np.uint8))
    mask = sitk.BinaryMorphologicalClosing(mask, [2, 2, 2])
    components = sitk.RelabelComponent(sitk.ConnectedComponent(mask), sortByObjectSize=True)
    mask = sitk.BinaryFillhole(sitk.Equal(components, 1))
    mask_zyx = sitk.GetArrayFromImage(mask).astype(bool)
    for z in range(mask_zyx.shape[0]):
        if mask_zyx[z].any():
            filled = sitk.BinaryFillhole(sitk.GetImageFromArray(mask_zyx[z].astype(np.uint8)))
            mask_zyx[z] = sitk.GetArrayFromImage(filled) > 0
    return mask_zyx


# ------------------------------------------------------------------------------------------ sphere detector


class _FftCorrelator:
    """Correlates several same-shaped volumes with centred kernels via zero-padded real FFTs."""

    def __init__(self, shape_zyx: tuple[int, ...], kernel_width: int) -> None:
        self.shape_zyx = shape_zyx
        self.padded_shape = tuple(_fast_fft_length(n + kernel_width - 1) for n in shape_zyx)

    def spectrum(self, volume_zyx: np.ndarray) -> np.ndarray:
        return np.fft.rfftn(volume_zyx.astype(np.float32), self.padded_shape, axes=(0, 1, 2))

    def correlate(self, volume_spectrum: np.ndarray, kernel_zyx: np.ndarray) -> np.ndarray:
        """Σ_o volume(x + o) · kernel(o) for kernels with odd sizes centred on the offset 0."""
        flipped = np.ascontiguousarray(kernel_zyx[::-1, ::-1, ::-1], dtype=np.float32)
        full = np.fft.irfftn(volume_spectrum * np.fft.rfftn(flipped, self.padded_shape, axes=(0, 1, 2)),
                             self.padded_shape, axes=(0, 1, 2))
        h = kernel_zyx.shape[0] // 2
        nz, ny, nx = self.shape_zyx
        return full[h:h + nz, h:h + ny, h:h + nx]


def _fast_fft_length(n: int) -> int:
    """Smallest 5-smooth integer ≥ n."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _offsets_mm(max_radius_mm: float, spacing_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Offset grids (dz, dy, dx, |d|) in mm of a cubic kernel covering ``max_radius_mm``."""
    n = int(math.ceil(max_radius_mm / spacing_mm))
    axis_mm = np.arange(-n, n + 1) * spacing_mm
    dz, dy, dx = np.meshgrid(axis_mm, axis_mm, axis_mm, indexing="ij")
    return dz, dy, dx, np.sqrt(dz ** 2 + dy ** 2 + dx ** 2)


def _detect_candidates(volume: _CoarseVolume) -> list[_Candidate]:
    """Local maxima of the dark- and bright-ball score maps inside the head, strongest first."""
    score_maps, radius_maps = _ball_score_maps(volume)
    candidates = []
    for polarity in ("dark", "bright"):
        candidates.extend(_local_maxima(score_maps[polarity], radius_maps[polarity], polarity, volume))
    return sorted(candidates, key=lambda c: -c.score)


def _ball_score_maps(volume: _CoarseVolume) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per polarity: best ball score over the shell radii and the radius achieving it (mm)."""
    spacing_mm = volume.grid.spacing_mm
    smoothed_zyx = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(
        _array_to_image(volume.intensity_zyx, spacing_mm), SMOOTHING_SIGMA_MM))
    fov_interior_zyx = _erode(volume.valid_zyx, 2)
    gradient_zyx = [g * fov_interior_zyx for g in np.gradient(smoothed_zyx, spacing_mm)]
    gradient_norm_zyx = np.sqrt(sum(g ** 2 for g in gradient_zyx))
    valid_f32 = volume.valid_zyx.astype(np.float32)

    correlator = _FftCorrelator(volume.intensity_zyx.shape, 2 * int(math.ceil(DETECTOR_REACH_MM / spacing_mm)) + 1)
    gradient_spectra = [correlator.spectrum(g) for g in gradient_zyx]
    norm_spectrum = correlator.spectrum(gradient_norm_zyx)
    intensity_spectrum = correlator.spectrum(volume.intensity_zyx)
    squared_spectrum = correlator.spectrum(volume.intensity_zyx ** 2)
    valid_spectrum = correlator.spectrum(valid_f32)
    air_spectrum = correlator.spectrum(valid_f32 * (volume.intensity_zyx < MAX_AIR_NORMALISED))
    dz, dy, dx, distance_mm = _offsets_mm(DETECTOR_REACH_MM, spacing_mm)
    safe_distance_mm = np.where(distance_mm > 0, distance_mm, 1.0)

    best = {p: np.zeros(volume.intensity_zyx.shape, np.float32) for p in ("dark", "bright")}
    best_radius = {p: np.zeros(volume.intensity_zyx.shape, np.float32) for p in ("dark", "bright")}
    eps = 1e-6
    for radius_mm in SHELL_RADII_MM:
        shell = np.exp(-0.5 * ((distance_mm - radius_mm) / SHELL_SIGMA_MM) ** 2)
        radial_flux = sum(correlator.correlate(spectrum, shell * d / safe_distance_mm)
                          for spectrum, d in zip(gradient_spectra, (dz, dy, dx)))
        gradient_mass = correlator.correlate(norm_spectrum, shell)
        symmetry = radial_flux / (gradient_mass + eps + 1e-3 * float(gradient_mass.max()))

        interior = (distance_mm <= INTERIOR_RADIUS_FRACTION * radius_mm).astype(np.float32)
        surround = ((distance_mm >= radius_mm + OUTER_SHELL_MM[0])
                    & (distance_mm <= radius_mm + OUTER_SHELL_MM[1])).astype(np.float32)
        interior_count = np.maximum(correlator.correlate(valid_spectrum, interior), eps)
        surround_count = np.maximum(correlator.correlate(valid_spectrum, surround), eps)
        visible_fraction = np.clip(surround_count / surround.sum(), 0.0, 1.0)
        surround_air_fraction = correlator.correlate(air_spectrum, surround) / surround_count
        embedded = np.clip(1.0 - surround_air_fraction / MAX_SURROUND_AIR_FRACTION, 0.0, 1.0)
        interior_mean = correlator.correlate(intensity_spectrum, interior) / interior_count
        interior_sd = np.sqrt(np.maximum(correlator.correlate(squared_spectrum, interior) / interior_count
                                         - interior_mean ** 2, 0.0))
        surround_mean = correlator.correlate(intensity_spectrum, surround) / surround_count
        contrast = surround_mean - interior_mean
        homogeneity = 1.0 / (1.0 + (interior_sd / np.maximum(np.abs(contrast), eps) / 0.4) ** 2)
        not_air = np.clip((interior_mean - MIN_INTERIOR_ABOVE_AIR) / 0.1, 0.0, 1.0)

        for polarity, sign in (("dark", 1.0), ("bright", -1.0)):
            score = (np.clip(sign * symmetry, 0.0, 1.0) * np.clip(sign * contrast / FULL_CONTRAST, 0.0, 1.0)
                     * homogeneity * visible_fraction * embedded * (not_air if polarity == "dark" else 1.0))
            better = score > best[polarity]
            best[polarity] = np.where(better, score, best[polarity]).astype(np.float32)
            best_radius[polarity] = np.where(better, radius_mm, best_radius[polarity]).astype(np.float32)
    inside = volume.head_zyx & volume.valid_zyx
    return ({p: np.where(inside, m, 0.0) for p, m in best.items()}, best_radius)


def _local_maxima(score_zyx: np.ndarray, radius_zyx: np.ndarray, polarity: str,
                  volume: _CoarseVolume) -> list[_Candidate]:
    peaks_zyx = np.argwhere((score_zyx >= _max_filter(score_zyx, 2)) & (score_zyx > MIN_SCORE))
    order = np.argsort(-score_zyx[tuple(peaks_zyx.T)])
    candidates: list[_Candidate] = []
    for index_zyx in peaks_zyx[order]:
        centre_lps_mm = volume.grid.to_lps(index_zyx)
        if any(np.linalg.norm(c.centre_lps_mm - centre_lps_mm) < MIN_CANDIDATE_SEPARATION_MM for c in candidates):
            continue  # another radius or a sub-region of a ball already listed
        score = float(score_zyx[tuple(index_zyx)]) * _anterior_prior(index_zyx, volume)
        if score > MIN_SCORE:
            candidates.append(_Candidate(centre_lps_mm, float(radius_zyx[tuple(index_zyx)]), score, polarity))
        if len(candidates) == CANDIDATES_PER_POLARITY:
            break
    return candidates


def _anterior_prior(index_zyx: np.ndarray, volume: _CoarseVolume) -> float:
    """1 when the anterior skin surface (towards −y in LPS) is close in front of the point, fading to 0.

    Where the head reaches the field-of-view boundary, that boundary stands in for the skin surface.
    """
    z, y, x = (int(v) for v in index_zyx)
    column_head = volume.head_zyx[z, :y + 1, x]
    if not column_head.any():
        return 0.0
    depth_mm = (y - int(np.argmax(column_head))) * volume.grid.spacing_mm
    near_mm, far_mm = MAX_ANTERIOR_DEPTH_MM
    return float(np.clip((far_mm - depth_mm) / (far_mm - near_mm), 0.0, 1.0))


# ----------------------------------------------------------------------------------------- pair selection


def _choose_globes(candidates: list[_Candidate], volume: _CoarseVolume, image: sitk.Image
                   ) -> tuple[dict[str, _Candidate], dict[str, str], list[str]]:
    """Pick the best anatomically plausible pair; fall back to one convincing globe; name eyes by side."""
    pair, pair_score = _best_pair(candidates)
    single = next((c for c in candidates if c.score >= MIN_SINGLE_SCORE), None)
    pair_wins = single is None or pair_score >= SINGLE_GLOBE_PENALTY * single.score
    if pair is not None and pair_score >= MIN_PAIR_SCORE and pair_wins:
        first, second = pair
        right, left = (first, second) if first.centre_lps_mm[0] < second.centre_lps_mm[0] else (second, first)
        return {"right": right, "left": left}, {}, []
    if single is None:
        reason = "no globe-like structure (a round, homogeneous ball of 7–16 mm radius) was found in the image"
        return {}, {eye: reason for eye in EYES}, []
    eye, side_warnings = _side_of_single_globe(single, volume, image)
    other = "left" if eye == "right" else "right"
    return {eye: single}, {other: _missing_partner_reason(single, eye, image)}, side_warnings


def _best_pair(candidates: list[_Candidate]) -> tuple[tuple[_Candidate, _Candidate] | None, float]:
    """The plausible pair with the highest geometric-mean score, and that score."""
    best, best_score = None, 0.0
    for i, a in enumerate(candidates):
        for b in candidates[i + 1:]:
            score = math.sqrt(a.score * b.score)
            if score > best_score and _plausible_pair(a, b):
                best, best_score = (a, b), score
    return best, best_score


def _plausible_pair(a: _Candidate, b: _Candidate) -> bool:
    """Same polarity, a plausible interocular distance, and separated mainly along L-R."""
    separation_lps_mm = b.centre_lps_mm - a.centre_lps_mm
    distance_mm = float(np.linalg.norm(separation_lps_mm))
    if a.polarity != b.polarity or not PAIR_DISTANCE_MM[0] <= distance_mm <= PAIR_DISTANCE_MM[1]:
        return False
    tilt_deg = math.degrees(math.acos(min(1.0, abs(separation_lps_mm[0]) / distance_mm)))
    return tilt_deg <= MAX_PAIR_TILT_DEG


def _side_of_single_globe(candidate: _Candidate, volume: _CoarseVolume, image: sitk.Image) -> tuple[str, list[str]]:
    """Name a lone globe (subject's right = smaller LPS x) from the face profile, else the head midline.

    At eye level the skin surface lies far in front of the globe medially (nasal bridge) and behind it
    laterally (temple), which works even when the head is cut by the field of view.
    """
    step_mm = _face_profile_step_mm(candidate.centre_lps_mm, volume)
    if step_mm is not None and abs(step_mm) >= MIN_FACE_PROFILE_STEP_MM:
        return ("right" if step_mm > 0 else "left"), []
    x_lps_mm = float(candidate.centre_lps_mm[0])
    if not any(_head_cut_by_fov_along_x(volume)):
        midline_x_lps_mm = float(volume.grid.to_lps(np.array([0.0, 0.0, np.nonzero(volume.head_zyx)[2].mean()]))[0])
        return ("right" if x_lps_mm < midline_x_lps_mm else "left"), []
    centre_index = (np.asarray(image.GetSize(), dtype=float) - 1.0) / 2.0
    image_centre_x_lps_mm = image.TransformContinuousIndexToPhysicalPoint(centre_index.tolist())[0]
    eye = "right" if x_lps_mm < image_centre_x_lps_mm else "left"
    return eye, [f"only one globe was found and neither the face nor the head midline is usable: it was named "
                 f"{eye} from its position relative to the image centre — check the side"]


def _face_profile_step_mm(centre_lps_mm: np.ndarray, volume: _CoarseVolume) -> float | None:
    """How far the anterior skin surface recedes towards −x (subject's right) compared with +x, measured
    ``FACE_PROFILE_OFFSET_MM`` to either side of the globe at its level; None where the skin is not imaged.

    Positive means the −x side is lateral, i.e. the globe is the subject's right one.
    """
    front_y_mm = []
    for offset_x_mm in (-FACE_PROFILE_OFFSET_MM, FACE_PROFILE_OFFSET_MM):
        z, y, x = np.round(volume.grid.to_index(centre_lps_mm + np.array([offset_x_mm, 0.0, 0.0]))).astype(int)
        if not (0 <= z < volume.grid.shape_zyx[0] and 0 <= x < volume.grid.shape_zyx[2]):
            return None
        head_column, valid_column = volume.head_zyx[z, :, x], volume.valid_zyx[z, :, x]
        if not head_column.any() or np.argmax(head_column) == np.argmax(valid_column):
            return None  # no skin here, or the face is cut by the field of view
        front_y_mm.append(float(np.argmax(head_column)) * volume.grid.spacing_mm)
    return front_y_mm[0] - front_y_mm[1]


def _head_cut_by_fov_along_x(volume: _CoarseVolume, min_area_mm2: float = 400.0) -> tuple[bool, bool]:
    """Whether the head mask reaches the field-of-view boundary on the low-x (right) / high-x (left) side."""
    valid, head = volume.valid_zyx, volume.head_zyx
    first_x = np.argmax(valid, axis=2)
    last_x = valid.shape[2] - 1 - np.argmax(valid[:, :, ::-1], axis=2)
    z, y = np.nonzero(valid.any(axis=2))
    min_rows = min_area_mm2 / volume.grid.spacing_mm ** 2
    return (int(head[z, y, first_x[z, y]].sum()) >= min_rows, int(head[z, y, last_x[z, y]].sum()) >= min_rows)


def _missing_partner_reason(found: _Candidate, found_eye: str, image: sitk.Image) -> str:
    """Explain why the other globe was not found: outside the field of view, or not recognisable."""
    other = "left" if found_eye == "right" else "right"
    step_x_mm = TYPICAL_INTEROCULAR_MM if found_eye == "right" else -TYPICAL_INTEROCULAR_MM  # +x LPS = left
    expected_index = physical_to_continuous_index(image, found.centre_lps_mm + np.array([step_x_mm, 0.0, 0.0]))
    if np.any(expected_index < -0.5) or np.any(expected_index > np.asarray(image.GetSize()) - 0.5):
        return (f"the {other} globe is probably outside the field of view: its expected position (about "
                f"{TYPICAL_INTEROCULAR_MM:.0f} mm to the subject's {other} of the {found_eye} globe) is not imaged")
    return (f"no globe-like structure was found on the subject's {other} side matching the {found_eye} globe "
            "(eye removed, prosthesis, severe artefact or defacing?)")


# ------------------------------------------------------------------------------------------------ refinement


def _refine(image: sitk.Image, candidate: _Candidate, eye: str,
            levels: _IntensityLevels) -> tuple[GlobeDetection, list[str]]:
    """Fit a sphere to the globe boundary at ~1 mm; keep the coarse centre if the fit is implausible."""
    cube_zyx, cube_origin_lps_mm = _resample_cube(image, candidate.centre_lps_mm)
    directions_lps = _fibonacci_directions(REFINE_RAYS)
    fit = _iterated_sphere_fit(cube_zyx, cube_origin_lps_mm, candidate, directions_lps, levels)
    warnings = []
    if fit is None:
        centre_lps_mm, radius_mm, confidence = candidate.centre_lps_mm, candidate.radius_mm, 0.75
        warnings.append(f"{eye} globe: the boundary sphere fit failed; the coarse (~2 mm) centre is reported")
    else:
        centre_lps_mm, radius_mm, on_sphere_fraction = fit
        confidence = 0.5 + 0.5 * on_sphere_fraction
        if _front_is_blurred_tissue(cube_zyx, cube_origin_lps_mm, centre_lps_mm, radius_mm, directions_lps, levels):
            warnings.append(f"{eye} globe: the tissue in front of the globe is blurred (defaced image?); the "
                            "anterior boundary, lens and centre are uncertain")
            confidence *= 0.5
    score = float(np.clip(candidate.score * confidence, 0.0, 1.0))
    if score < LOW_SCORE:
        warnings.append(f"{eye} globe: low detection confidence (score {score:.2f}); check the position")
    detection = GlobeDetection(eye=eye, centre_lps_mm=tuple(float(v) for v in centre_lps_mm),
                               radius_mm=float(radius_mm), score=score, polarity=candidate.polarity)
    return detection, warnings


def _iterated_sphere_fit(cube_zyx: np.ndarray, cube_origin_lps_mm: np.ndarray, candidate: _Candidate,
                         directions_lps: np.ndarray, levels: _IntensityLevels
                         ) -> tuple[np.ndarray, float, float] | None:
    """Alternate boundary search along rays from the current centre and robust sphere fitting.

    Returns (centre LPS mm, radius mm, fraction of rays whose boundary lies within ``SPHERE_TOLERANCE_MM``
    of the sphere), or None when the boundary does not look like a globe (fit failed, moved too far from
    the detection, or implausible radius).
    """
    centre_lps_mm, radius_mm, on_sphere_fraction = candidate.centre_lps_mm, candidate.radius_mm, 0.0
    for _ in range(REFINE_ITERATIONS):
        edges_lps_mm, strengths = _boundary_points(cube_zyx, cube_origin_lps_mm, centre_lps_mm,
                                                   directions_lps, candidate.polarity, levels)
        fit = _robust_sphere_fit(edges_lps_mm, strengths)
        if (fit is None or np.linalg.norm(fit[0] - candidate.centre_lps_mm) > MAX_REFINE_SHIFT_MM
                or not GLOBE_RADIUS_RANGE_MM[0] <= fit[1] <= GLOBE_RADIUS_RANGE_MM[1]):
            return None
        centre_lps_mm, radius_mm = fit
        residual_mm = np.abs(np.linalg.norm(edges_lps_mm - centre_lps_mm, axis=1) - radius_mm)
        on_sphere_fraction = float(np.mean(np.isfinite(strengths) & (residual_mm <= SPHERE_TOLERANCE_MM)))
    return centre_lps_mm, radius_mm, on_sphere_fraction


def _resample_cube(image: sitk.Image, centre_lps_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lightly smoothed ~1 mm axis-aligned cube around ``centre_lps_mm``; NaN outside the image."""
    n = int(round(2 * REFINE_HALF_WIDTH_MM / REFINE_SPACING_MM)) + 1
    origin_lps_mm = np.asarray(centre_lps_mm, dtype=float) - REFINE_HALF_WIDTH_MM
    crop = _native_crop(image, origin_lps_mm, origin_lps_mm + (n - 1) * REFINE_SPACING_MM)
    reference = sitk.Image([n, n, n], sitk.sitkFloat32)
    reference.SetOrigin(tuple(float(v) for v in origin_lps_mm))
    reference.SetSpacing((REFINE_SPACING_MM,) * 3)
    if crop is None:
        return np.full((n, n, n), np.nan, np.float32), origin_lps_mm
    smoothed = sitk.SmoothingRecursiveGaussian(sitk.Cast(crop, sitk.sitkFloat32), 0.5 * REFINE_SPACING_MM)
    cube = sitk.Resample(smoothed, reference, sitk.Transform(), sitk.sitkLinear, math.nan)
    return sitk.GetArrayFromImage(cube), origin_lps_mm


def _native_crop(image: sitk.Image, low_lps_mm: np.ndarray, high_lps_mm: np.ndarray) -> sitk.Image | None:
    """The part of ``image`` (native grid) covering the LPS box, with a 2-voxel margin; None if disjoint."""
    corners = np.array([[x, y, z] for x in (low_lps_mm[0], high_lps_mm[0]) for y in (low_lps_mm[1], high_lps_mm[1])
                        for z in (low_lps_mm[2], high_lps_mm[2])])
    index = np.array([image.TransformPhysicalPointToContinuousIndex(c.tolist()) for c in corners])
    size = np.asarray(image.GetSize())
    low = np.clip(np.floor(index.min(axis=0)).astype(int) - 2, 0, size)
    high = np.clip(np.ceil(index.max(axis=0)).astype(int) + 3, 0, size)
    if np.any(high - low < 2):
        return None
    return image[int(low[0]):int(high[0]), int(low[1]):int(high[1]), int(low[2]):int(high[2])]


def _fibonacci_directions(count: int) -> np.ndarray:
    """``count`` near-uniform unit vectors (rows)."""
    k = np.arange(count) + 0.5
    polar = np.arccos(1.0 - 2.0 * k / count)
    azimuth = math.pi * (1.0 + math.sqrt(5.0)) * k
    return np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1)


def _boundary_points(cube_zyx: np.ndarray, cube_origin_lps_mm: np.ndarray, centre_lps_mm: np.ndarray,
                     directions_lps: np.ndarray, polarity: str,
                     levels: _IntensityLevels) -> tuple[np.ndarray, np.ndarray]:
    """Strongest outward edge of the right sign along each ray: points (LPS mm) and strengths (NaN if none).

    Edges with air just outside them (skin or eyelid against air) are skipped: the globe wall borders
    tissue, and in T2-like images the skin/air edge in front of the eye has the same sign as the wall.
    """
    step_mm = 0.5
    radii_mm = np.arange(REFINE_RADIUS_RANGE_MM[0], REFINE_RADIUS_RANGE_MM[1] + WALL_OUTSIDE_MM + 1e-6, step_mm)
    points_lps_mm = centre_lps_mm + radii_mm[None, :, None] * directions_lps[:, None, :]
    profiles = _trilinear(cube_zyx, (points_lps_mm - cube_origin_lps_mm) / REFINE_SPACING_MM)
    slope = np.gradient(profiles, radii_mm, axis=1) * (1.0 if polarity == "dark" else -1.0)
    shift = int(round(WALL_OUTSIDE_MM / step_mm))
    outside_is_tissue = levels.normalise(profiles[:, shift:]) >= MAX_AIR_NORMALISED
    slope = np.where(np.isfinite(slope[:, :-shift]) & outside_is_tissue, slope[:, :-shift], -np.inf)
    best = np.argmax(slope, axis=1)
    strengths = slope[np.arange(len(directions_lps)), best]
    strengths = np.where(np.isfinite(strengths) & (strengths > 0), strengths, np.nan)
    return centre_lps_mm + radii_mm[best][:, None] * directions_lps, strengths


def _trilinear(volume_zyx: np.ndarray, index_xyz: np.ndarray) -> np.ndarray:
    """Trilinear interpolation at continuous (x, y, z) indices; NaN outside the volume."""
    shape_xyz = np.array(volume_zyx.shape[::-1])
    low = np.floor(index_xyz).astype(int)
    frac = index_xyz - low
    inside = np.all((low >= 0) & (low + 1 < shape_xyz), axis=-1)
    low = np.where(inside[..., None], low, 0)
    values = np.zeros(index_xyz.shape[:-1])
    for corner in np.ndindex(2, 2, 2):
        weight = np.prod(np.where(np.array(corner) == 1, frac, 1.0 - frac), axis=-1)
        values += weight * volume_zyx[low[..., 2] + corner[2], low[..., 1] + corner[1], low[..., 0] + corner[0]]
    return np.where(inside, values, np.nan)


def _robust_sphere_fit(points_lps_mm: np.ndarray, strengths: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Weighted algebraic sphere fit with iterative rejection of points > max(1.5 mm, 3 MAD) off the sphere."""
    usable = np.isfinite(strengths)
    inliers = usable.copy()
    for _ in range(5):
        if inliers.sum() < 12:
            return None
        centre_lps_mm, radius_mm = _sphere_fit(points_lps_mm[inliers], strengths[inliers])
        residual_mm = np.abs(np.linalg.norm(points_lps_mm - centre_lps_mm, axis=1) - radius_mm)
        spread_mm = 1.4826 * float(np.median(residual_mm[inliers]))
        updated = usable & (residual_mm <= max(1.5, 3.0 * spread_mm))
        if np.array_equal(updated, inliers):
            break
        inliers = updated
    return centre_lps_mm, radius_mm


def _sphere_fit(points_mm: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere through points: |p|² = 2 c·p + (R² − |c|²)."""
    design = np.hstack([2.0 * points_mm, np.ones((len(points_mm), 1))])
    target = np.sum(points_mm ** 2, axis=1)
    w = np.sqrt(weights)[:, None]
    solution, *_ = np.linalg.lstsq(design * w, target * w[:, 0], rcond=None)
    centre_mm = solution[:3]
    return centre_mm, float(math.sqrt(max(solution[3] + centre_mm @ centre_mm, 0.0)))


def _front_is_blurred_tissue(cube_zyx: np.ndarray, cube_origin_lps_mm: np.ndarray, centre_lps_mm: np.ndarray,
                             radius_mm: float, directions_lps: np.ndarray, levels: _IntensityLevels) -> bool:
    """Whether the band 2–8 mm in front of the globe is tissue-bright but far smoother than the band behind it.

    Defacing tools that blur the face leave exactly that; air in front of the eye (dark) or a normal face
    (textured) do not trigger it.
    """
    finite = np.isfinite(cube_zyx)
    filled_zyx = np.where(finite, cube_zyx, 0.0).astype(np.float32)
    smoothed_zyx = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(
        _array_to_image(filled_zyx, REFINE_SPACING_MM), BLUR_CHECK_SIGMA_MM))
    detail_zyx = np.where(finite, np.abs(filled_zyx - smoothed_zyx), np.nan)
    radii_mm = radius_mm + np.arange(2.0, 8.01, 1.0)

    def band(cone: np.ndarray, volume_zyx: np.ndarray) -> np.ndarray:
        points_lps_mm = centre_lps_mm + radii_mm[None, :, None] * directions_lps[cone][:, None, :]
        values = _trilinear(volume_zyx, (points_lps_mm - cube_origin_lps_mm) / REFINE_SPACING_MM)
        return values[np.isfinite(values)]

    front, back = directions_lps[:, 1] < -0.7, directions_lps[:, 1] > 0.7
    front_detail, back_detail, front_intensity = band(front, detail_zyx), band(back, detail_zyx), band(front, cube_zyx)
    if min(front_detail.size, back_detail.size) < 20 or np.median(back_detail) <= 0:
        return False
    smoothness_ratio = float(np.median(front_detail) / np.median(back_detail))
    return smoothness_ratio < MAX_BLUR_SMOOTHNESS_RATIO and float(levels.normalise(np.median(front_intensity))) > 0.5


# ------------------------------------------------------------------------------------------------ utilities


def _array_to_image(array_zyx: np.ndarray, spacing_mm: float) -> sitk.Image:
    image = sitk.GetImageFromArray(array_zyx.astype(np.float32))
    image.SetSpacing((spacing_mm,) * 3)
    return image


def _max_filter(volume_zyx: np.ndarray, radius_voxels: int) -> np.ndarray:
    """Maximum over a (2r+1)³ box (separable), −inf beyond the edges."""
    result = volume_zyx
    for axis in range(3):
        pad = [(radius_voxels, radius_voxels) if a == axis else (0, 0) for a in range(3)]
        padded = np.pad(result, pad, constant_values=-np.inf)
        result = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius_voxels + 1, axis=axis).max(axis=-1)
    return result


def _erode(mask_zyx: np.ndarray, radius_voxels: int) -> np.ndarray:
    eroded = sitk.BinaryErode(sitk.GetImageFromArray(mask_zyx.astype(np.uint8)), [radius_voxels] * 3)
    return sitk.GetArrayFromImage(eroded).astype(bool)
