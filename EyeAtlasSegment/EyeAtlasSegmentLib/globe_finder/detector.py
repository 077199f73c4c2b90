"""Contrast-invariant sphere detector on the coarse grid, evaluated at every voxel for a few globe-sized radii.

The score of a ball of radius r at a voxel is the product of:
- the radial symmetry of the intensity gradient on a spherical shell, ``Σ ∇I·r̂ / Σ |∇I|`` (+1 for a dark ball,
  −1 for a bright ball, so T1- and T2-like vitreous are both handled);
- the contrast across the shell (full at ``full_contrast``) and the homogeneity of the interior;
- the share of the surrounding band inside the field of view;
- a surrounding band of tissue rather than air (a globe is embedded in the orbit; a skin bump or corner is not);
- for dark balls, ``air_like_interior_factor`` when the interior is as dark as air: air sinuses are dark in every
  contrast, vitreous only where its signal is nulled (FLAIR), so such a ball must win on shape and surroundings.

Every shell sum is an FFT correlation of the volume with a kernel.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from .settings import GlobeFinderSettings
from .volume import CoarseVolume, array_to_image, erode

POLARITIES = ("dark", "bright")


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


def ball_score_maps(volume: CoarseVolume, settings: GlobeFinderSettings
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per polarity: the best ball score over the shell radii (0 outside the head) and the radius achieving it."""
    spacing_mm = volume.grid.spacing_mm
    smoothed_zyx = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(
        array_to_image(volume.intensity_zyx, spacing_mm), settings.smoothing_sigma_mm))
    fov_interior_zyx = erode(volume.valid_zyx, 2)
    gradient_zyx = [g * fov_interior_zyx for g in np.gradient(smoothed_zyx, spacing_mm)]
    gradient_norm_zyx = np.sqrt(sum(g ** 2 for g in gradient_zyx))
    valid_f32 = volume.valid_zyx.astype(np.float32)

    reach_mm = settings.detector_reach_mm
    correlator = _FftCorrelator(volume.intensity_zyx.shape, 2 * int(math.ceil(reach_mm / spacing_mm)) + 1)
    gradient_spectra = [correlator.spectrum(g) for g in gradient_zyx]
    norm_spectrum = correlator.spectrum(gradient_norm_zyx)
    intensity_spectrum = correlator.spectrum(volume.intensity_zyx)
    squared_spectrum = correlator.spectrum(volume.intensity_zyx ** 2)
    valid_spectrum = correlator.spectrum(valid_f32)
    air_spectrum = correlator.spectrum(valid_f32 * (volume.intensity_zyx < settings.max_air_normalised))
    dz, dy, dx, distance_mm = _offsets_mm(reach_mm, spacing_mm)
    safe_distance_mm = np.where(distance_mm > 0, distance_mm, 1.0)

    best = {p: np.zeros(volume.intensity_zyx.shape, np.float32) for p in POLARITIES}
    best_radius = {p: np.zeros(volume.intensity_zyx.shape, np.float32) for p in POLARITIES}
    eps = 1e-6
    inner_mm, outer_mm = settings.outer_shell_mm
    for radius_mm in settings.shell_radii_mm:
        shell = np.exp(-0.5 * ((distance_mm - radius_mm) / settings.shell_sigma_mm) ** 2)
        radial_flux = sum(correlator.correlate(spectrum, shell * d / safe_distance_mm)
                          for spectrum, d in zip(gradient_spectra, (dz, dy, dx)))
        gradient_mass = correlator.correlate(norm_spectrum, shell)
        symmetry = radial_flux / (gradient_mass + eps + 1e-3 * float(gradient_mass.max()))

        interior = (distance_mm <= settings.interior_radius_fraction * radius_mm).astype(np.float32)
        surround = ((distance_mm >= radius_mm + inner_mm) & (distance_mm <= radius_mm + outer_mm)).astype(np.float32)
        interior_count = np.maximum(correlator.correlate(valid_spectrum, interior), eps)
        surround_count = np.maximum(correlator.correlate(valid_spectrum, surround), eps)
        visible_fraction = np.clip(surround_count / surround.sum(), 0.0, 1.0)
        surround_air_fraction = correlator.correlate(air_spectrum, surround) / surround_count
        embedded = np.clip(1.0 - surround_air_fraction / settings.max_surround_air_fraction, 0.0, 1.0)
        interior_mean = correlator.correlate(intensity_spectrum, interior) / interior_count
        interior_sd = np.sqrt(np.maximum(correlator.correlate(squared_spectrum, interior) / interior_count
                                         - interior_mean ** 2, 0.0))
        surround_mean = correlator.correlate(intensity_spectrum, surround) / surround_count
        contrast = surround_mean - interior_mean
        homogeneity = 1.0 / (1.0 + (interior_sd / np.maximum(np.abs(contrast), eps) / 0.4) ** 2)
        above_air = np.clip((interior_mean - settings.min_interior_above_air) / 0.1, 0.0, 1.0)
        not_air = settings.air_like_interior_factor + (1.0 - settings.air_like_interior_factor) * above_air

        for polarity, sign in (("dark", 1.0), ("bright", -1.0)):
            score = (np.clip(sign * symmetry, 0.0, 1.0) * np.clip(sign * contrast / settings.full_contrast, 0.0, 1.0)
                     * homogeneity * visible_fraction * embedded * (not_air if polarity == "dark" else 1.0))
            better = score > best[polarity]
            best[polarity] = np.where(better, score, best[polarity]).astype(np.float32)
            best_radius[polarity] = np.where(better, radius_mm, best_radius[polarity]).astype(np.float32)
    inside = volume.head_zyx & volume.valid_zyx
    return {p: np.where(inside, m, 0.0) for p, m in best.items()}, best_radius
