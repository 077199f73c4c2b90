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


HEAD_MASK_SPACING_MM = 4.0
HEAD_MASK_CLOSING_MM = 12.0


def head_mask(image: sitk.Image) -> sitk.Image:
    """Binary mask (uint8, on ``image``'s grid) of the head, openings such as eye sockets and nostrils closed.

    Computed on a ~4 mm copy: foreground above the Otsu threshold, islands below 1 % of the largest object
    dropped (noise, ghosts), a 12 mm closing (dark skull and air cavities open to the outside through the
    orbits and nose would otherwise count as background), then enclosed regions filled.
    """
    factors = [max(1, int(round(HEAD_MASK_SPACING_MM / s))) for s in image.GetSpacing()]
    coarse = sitk.BinShrink(image, factors)
    foreground = sitk.OtsuThreshold(coarse, 0, 1)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(foreground), sortByObjectSize=True)
    sizes = np.bincount(sitk.GetArrayViewFromImage(components).ravel())
    keep = int(np.sum(sizes[1:] >= 0.01 * sizes[1])) if len(sizes) > 1 else 0
    objects = sitk.Cast(sitk.BinaryThreshold(components, 1, max(keep, 1), 1, 0), sitk.sitkUInt8)
    radius = [max(1, int(round(HEAD_MASK_CLOSING_MM / s))) for s in coarse.GetSpacing()]
    padded = sitk.ConstantPad(objects, radius, radius, 0)  # so the closing is not cut by the image border
    closed = sitk.Crop(sitk.BinaryMorphologicalClosing(padded, radius, sitk.sitkBall), radius, radius)
    filled = sitk.BinaryFillhole(closed)
    return sitk.Resample(filled, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


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
    mask = sitk.GetArrayFromImage(air_mask(image)).astype(bool)
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
