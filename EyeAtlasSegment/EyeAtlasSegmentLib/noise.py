"""Noise level σ of a magnitude MR image, from air background or from a user ROI.

In air, a single-channel magnitude image holds Rayleigh-distributed noise: SD_air = 0.655 σ and
mean_air = 1.253 σ, where σ is the Gaussian noise SD of each quadrature channel (the σ that the SNR of a
tissue, mean/σ, refers to). Background that scanners zero-fill, clip or quantise carries no noise
information: then σ is undefined and SNR is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import SimpleITK as sitk

RAYLEIGH_SD_FACTOR = float(np.sqrt((4.0 - np.pi) / 2.0))  # 0.655
RAYLEIGH_MEAN_FACTOR = float(np.sqrt(np.pi / 2.0))  # 1.253
MIN_NOISE_VOXELS = 1000
#: Air is at least this far from the head (mm), to stay clear of partial volume and skin.
AIR_DISTANCE_FROM_HEAD_MM = 10.0
MAX_ZERO_FRACTION = 0.2
MAX_DISTINCT_VALUE_FRACTION = 0.002  # fewer distinct values than this × voxels means quantised/clipped


@dataclass
class NoiseEstimate:
    """σ of the Gaussian noise per quadrature channel, or the reason it is undefined."""

    method: str  # e.g. "air_background_rayleigh", "roi_rayleigh", "undefined"
    sigma: Optional[float]
    voxels: int
    reason: str = ""  # why sigma is undefined, or caveats
    details: dict = field(default_factory=dict)

    @property
    def defined(self) -> bool:
        return self.sigma is not None


def head_mask(image: sitk.Image) -> sitk.Image:
    """Binary mask of the head: Otsu threshold, largest connected component, holes filled (uint8)."""
    smoothed = sitk.SmoothingRecursiveGaussian(image, 2.0)
    foreground = sitk.OtsuThreshold(smoothed, 0, 1)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(foreground), sortByObjectSize=True)
    largest = sitk.Cast(components == 1, sitk.sitkUInt8)
    closed = sitk.BinaryMorphologicalClosing(largest, [3, 3, 3])
    return sitk.BinaryFillhole(closed)


def air_mask(image: sitk.Image) -> sitk.Image:
    """Air voxels at least ``AIR_DISTANCE_FROM_HEAD_MM`` from the head (uint8)."""
    distance = sitk.SignedMaurerDistanceMap(head_mask(image), insideIsPositive=False, squaredDistance=False,
                                            useImageSpacing=True)
    return sitk.Cast(distance > AIR_DISTANCE_FROM_HEAD_MM, sitk.sitkUInt8)


def sigma_from_rayleigh_samples(values: np.ndarray, method: str) -> NoiseEstimate:
    """Rayleigh-corrected σ from air samples, refusing zero-filled, clipped or quantised background."""
    values = np.asarray(values, dtype=np.float64)
    n = int(values.size)
    if n < MIN_NOISE_VOXELS:
        return NoiseEstimate("undefined", None, n, f"only {n} background voxels (need {MIN_NOISE_VOXELS}); "
                                                     f"SNR undefined for this image")
    zero_fraction = float(np.mean(values == 0))
    if zero_fraction > MAX_ZERO_FRACTION:
        return NoiseEstimate("undefined", None, n,
                             f"background is zero-filled ({zero_fraction:.0%} of background voxels are exactly 0): "
                             f"the scanner or export removed the noise, so SNR is undefined for this image",
                             {"zero_fraction": zero_fraction})
    distinct = np.unique(values).size
    if distinct < max(8, MAX_DISTINCT_VALUE_FRACTION * n) and distinct < 16:
        return NoiseEstimate("undefined", None, n,
                             f"background has only {distinct} distinct values (clipped or quantised): "
                             f"SNR undefined for this image", {"distinct_values": distinct})
    sd = float(np.std(values, ddof=1))
    mean = float(np.mean(values))
    sigma_sd = sd / RAYLEIGH_SD_FACTOR
    sigma_mean = mean / RAYLEIGH_MEAN_FACTOR
    details = {"background_sd": sd, "background_mean": mean, "sigma_from_sd": sigma_sd, "sigma_from_mean": sigma_mean,
               "mean_to_sd_ratio": mean / sd if sd > 0 else float("inf"),
               "rayleigh_mean_to_sd_ratio": RAYLEIGH_MEAN_FACTOR / RAYLEIGH_SD_FACTOR}
    if sd <= 0:
        return NoiseEstimate("undefined", None, n, "background is constant: SNR undefined for this image", details)
    reason = ""
    if abs(sigma_mean / sigma_sd - 1.0) > 0.2:
        reason = (f"background is not pure Rayleigh noise (σ from mean {sigma_mean:.3g} vs from SD {sigma_sd:.3g}): "
                  f"ghosting, filtering or multi-channel combination may bias SNR")
    return NoiseEstimate(method, sigma_sd, n, reason, details)


def estimate_noise_from_air(image: sitk.Image) -> NoiseEstimate:
    """σ from the automatically found air background, Rayleigh-corrected (σ = SD_air / 0.655)."""
    mask = sitk.GetArrayViewFromImage(air_mask(image)).astype(bool)
    values = sitk.GetArrayViewFromImage(image)[mask]
    return sigma_from_rayleigh_samples(values, "air_background_rayleigh")


def estimate_noise_from_roi(image: sitk.Image, roi: sitk.Image) -> NoiseEstimate:
    """σ from a user-given air ROI (non-zero voxels of ``roi``, same grid), Rayleigh-corrected."""
    if roi.GetSize() != image.GetSize() or not np.allclose(roi.GetOrigin(), image.GetOrigin(), atol=1e-3) or \
            not np.allclose(roi.GetSpacing(), image.GetSpacing(), atol=1e-4):
        raise ValueError("the noise ROI must be on the image's voxel grid (same size, spacing and origin)")
    mask = sitk.GetArrayViewFromImage(roi) != 0
    values = sitk.GetArrayViewFromImage(image)[mask]
    return sigma_from_rayleigh_samples(values, "roi_rayleigh")
