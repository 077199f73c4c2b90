"""Refinement on the native image: the globe wall is located along rays from the coarse centre (the strongest
edge of the polarity's sign near the current radius, with tissue rather than air outside it), a sphere is fitted
robustly to those points,
and the front of the globe is checked for defacing (blurred, or cut away to air)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .coarse_search import Candidate
from .settings import GlobeFinderSettings
from .volume import IntensityLevels, Reading, native_crop, sample_linear

#: Fit support credited when the sphere fit fails and the coarse centre is kept.
FAILED_FIT_SUPPORT = 0.75
#: Factor on the score when the front of the globe is blurred or cut away.
DEFACED_FRONT_FACTOR = 0.5


@dataclass(frozen=True)
class Refined:
    """A refined globe: centre and radius, the fit's support in [0, 1] and warnings (already naming the eye)."""

    centre_lps_mm: np.ndarray
    radius_mm: float
    support: float
    warnings: list[str]


@dataclass(frozen=True)
class _Neighbourhood:
    """The lightly smoothed native image around a globe, as searched (inverted if the reading says so)."""

    image: sitk.Image
    levels: IntensityLevels


def refine(image: sitk.Image, candidate: Candidate, eye: str, levels: IntensityLevels, reading: Reading,
           settings: GlobeFinderSettings) -> Refined:
    """Fit a sphere to the globe wall; keep the coarse centre (with less support) if the fit is implausible."""
    neighbourhood = _neighbourhood(image, candidate.centre_lps_mm, levels, reading, settings)
    directions_lps = fibonacci_directions(settings.refine_rays)
    fit = None if neighbourhood is None else _iterated_sphere_fit(neighbourhood, candidate, directions_lps, settings)
    if fit is None:
        return Refined(candidate.centre_lps_mm, candidate.radius_mm, FAILED_FIT_SUPPORT,
                       [f"{eye} globe: the boundary sphere fit failed; the coarse (~2 mm) centre is reported"])
    centre_lps_mm, radius_mm, on_sphere_fraction = fit
    support, warnings = 0.5 + 0.5 * on_sphere_fraction, []
    front = _front_state(neighbourhood, centre_lps_mm, radius_mm, directions_lps, settings)
    if front is not None:
        warnings.append(f"{eye} globe: {front} (defaced image?); the anterior boundary, lens and centre are uncertain")
        support *= DEFACED_FRONT_FACTOR
    return Refined(centre_lps_mm, radius_mm, support, warnings)


def _neighbourhood(image: sitk.Image, centre_lps_mm: np.ndarray, levels: IntensityLevels, reading: Reading,
                   settings: GlobeFinderSettings) -> _Neighbourhood | None:
    half_width_mm = settings.refine_half_width_mm
    crop = native_crop(image, np.asarray(centre_lps_mm) - half_width_mm, np.asarray(centre_lps_mm) + half_width_mm)
    if crop is None:
        return None
    smoothed = sitk.SmoothingRecursiveGaussian(reading.apply(crop), 0.5 * settings.refine_spacing_mm)
    return _Neighbourhood(smoothed, levels)


def _iterated_sphere_fit(neighbourhood: _Neighbourhood, candidate: Candidate, directions_lps: np.ndarray,
                         settings: GlobeFinderSettings) -> tuple[np.ndarray, float, float] | None:
    """Alternate boundary search along rays from the current centre and robust sphere fitting.

    Returns (centre LPS mm, radius mm, share of rays whose boundary lies within ``sphere_tolerance_mm`` of the
    sphere), or None when the boundary does not look like a globe (fit failed, moved too far from the detection,
    or implausible radius).
    """
    centre_lps_mm, radius_mm, on_sphere_fraction = candidate.centre_lps_mm, candidate.radius_mm, 0.0
    low_mm, high_mm = settings.globe_radius_range_mm
    for _ in range(settings.refine_iterations):
        edges_lps_mm, strengths = _boundary_points(neighbourhood, centre_lps_mm, radius_mm, directions_lps,
                                                   candidate.polarity, settings)
        fit = _robust_sphere_fit(edges_lps_mm, strengths)
        if (fit is None or np.linalg.norm(fit[0] - candidate.centre_lps_mm) > settings.max_refine_shift_mm
                or not low_mm <= fit[1] <= high_mm):
            return None
        centre_lps_mm, radius_mm = fit
        residual_mm = np.abs(np.linalg.norm(edges_lps_mm - centre_lps_mm, axis=1) - radius_mm)
        on_sphere_fraction = float(np.mean(np.isfinite(strengths) & (residual_mm <= settings.sphere_tolerance_mm)))
    return centre_lps_mm, radius_mm, on_sphere_fraction


def fibonacci_directions(count: int) -> np.ndarray:
    """``count`` near-uniform unit vectors (rows)."""
    k = np.arange(count) + 0.5
    polar = np.arccos(1.0 - 2.0 * k / count)
    azimuth = math.pi * (1.0 + math.sqrt(5.0)) * k
    return np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1)


def _boundary_points(neighbourhood: _Neighbourhood, centre_lps_mm: np.ndarray, radius_mm: float,
                     directions_lps: np.ndarray, polarity: str, settings: GlobeFinderSettings
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The globe wall along each ray: points (LPS mm) and edge strengths (NaN where none was found).

    The wall is the strongest outward edge of the polarity's sign (dark to bright for a dark globe), weighted by a
    Gaussian of ``wall_radius_sigma_mm`` around the current radius: fat–muscle and fat–bone edges a few millimetres
    beyond a thin sclera can be stronger than the wall itself (PD). Edges with air just outside them (skin or eyelid
    against air, a face cut away) are skipped: the globe wall borders tissue, and in T2-like images the skin/air
    edge in front of the eye has the same sign as the wall.
    """
    step_mm = 0.5
    low_mm, high_mm = settings.refine_radius_range_mm
    radii_mm = np.arange(low_mm, high_mm + settings.wall_outside_mm + 1e-6, step_mm)
    profiles = sample_linear(neighbourhood.image, centre_lps_mm + radii_mm[None, :, None] * directions_lps[:, None, :])
    slope = np.gradient(profiles, radii_mm, axis=1) * (1.0 if polarity == "dark" else -1.0)
    shift = int(round(settings.wall_outside_mm / step_mm))
    outside_is_tissue = neighbourhood.levels.normalise(profiles[:, shift:]) >= settings.max_air_normalised
    prior = np.exp(-0.5 * ((radii_mm[:-shift] - radius_mm) / settings.wall_radius_sigma_mm) ** 2)
    slope = np.where(np.isfinite(slope[:, :-shift]) & outside_is_tissue, slope[:, :-shift] * prior, -np.inf)
    best = np.argmax(slope, axis=1)
    strengths = slope[np.arange(len(directions_lps)), best]
    strengths = np.where(np.isfinite(strengths) & (strengths > 0), strengths, np.nan)
    offsets_mm = _parabolic_peak_offset(np.where(np.isfinite(slope), slope, 0.0), best) * step_mm
    return centre_lps_mm + (radii_mm[best] + offsets_mm)[:, None] * directions_lps, strengths


def _parabolic_peak_offset(values: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """Sub-sample position (in samples, within ±0.5) of each row's maximum at ``peak``, from a parabola."""
    rows = np.arange(len(values))
    left = values[rows, np.maximum(peak - 1, 0)]
    centre = values[rows, peak]
    right = values[rows, np.minimum(peak + 1, values.shape[1] - 1)]
    curvature = left - 2.0 * centre + right
    return np.clip(np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0),
                   -0.5, 0.5)


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


def _front_state(neighbourhood: _Neighbourhood, centre_lps_mm: np.ndarray, radius_mm: float,
                 directions_lps: np.ndarray, settings: GlobeFinderSettings) -> str | None:
    """What is wrong with the front of the globe, if anything: blurred tissue, as defacing tools leave it (the band
    2–8 mm in front of the globe tissue-bright but far smoother than the band behind it); None for a normal face or
    air in front of the eye."""
    smoothed = sitk.SmoothingRecursiveGaussian(neighbourhood.image, settings.blur_check_sigma_mm)
    detail = sitk.Abs(neighbourhood.image - smoothed)
    radii_mm = radius_mm + np.arange(2.0, 8.01, 1.0)

    def band(cone: np.ndarray, image: sitk.Image) -> np.ndarray:
        values = sample_linear(image, centre_lps_mm + radii_mm[None, :, None] * directions_lps[cone][:, None, :])
        return values[np.isfinite(values)]

    front, back = directions_lps[:, 1] < -0.7, directions_lps[:, 1] > 0.7
    front_detail, back_detail = band(front, detail), band(back, detail)
    front_intensity = band(front, neighbourhood.image)
    if min(front_detail.size, back_detail.size) < 20 or np.median(back_detail) <= 0:
        return None
    smoothness_ratio = float(np.median(front_detail) / np.median(back_detail))
    tissue_bright = float(neighbourhood.levels.normalise(np.median(front_intensity))) > 0.5
    if smoothness_ratio < settings.max_blur_smoothness_ratio and tissue_bright:
        return "the tissue in front of the globe is blurred"
    return None
