"""Per-structure statistics and SNR on the patient's own voxels (never resampled).

Volume, mean, SD and median describe the whole structure. SNR is measured in the structure's *ROI*: the structure
eroded by ``erosion_mm`` (against partial volume at its borders). ROIs with fewer than ``min_voxels`` voxels are
flagged. SNR = mean_ROI / σ, where σ comes from a ``NoiseEstimate`` (background, ROI, noise scan, naive) or, in
the difference method, from the ROI itself: SNR = mean_ROI((I1+I2)/2) / (SD_ROI(I1−I2)/√2).

95 % confidence intervals combine the standard error of the ROI mean (SD/√n, which includes anatomical
heterogeneity, so it is conservative) with that of σ, assuming independent voxels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk

from .columns import STATS_TABLE, column_keys
from .geometry import voxel_volume_mm3
from .noise import DifferenceNoise, NoiseEstimate, interval95, require_same_grid
from .structures import STRUCTURES, output_label

CSV_COLUMNS = column_keys(STATS_TABLE)
DEFAULT_MIN_ROI_VOXELS = 20


SIGNAL_CORRECTIONS = ("none", "power")


@dataclass
class RoiOptions:
    """How each structure's SNR is measured: erosion (mm), the voxel count below which it is flagged, and the signal
    estimate ("none": ROI mean; "power": √(mean(M²) − 2nσ²), which removes the magnitude noise floor that lifts
    the mean of dark or noisy structures, Rician for n = 1 and non-central chi for n channels)."""

    erosion_mm: float = 0.0
    min_voxels: int = DEFAULT_MIN_ROI_VOXELS
    signal_correction: str = "none"


@dataclass
class StructureStats:
    """One row of ``stats.csv``. ``sd`` is the sample SD (N−1), as in Slicer's Segment Statistics."""

    eye: str
    label: int  # value in labels.nii.gz (right 1-9, left 11-19)
    atlas_label: int
    structure: str
    voxels: int
    volume_mm3: float | None  # None when the eye was not segmented
    mean: float | None
    sd: float | None
    median: float | None
    snr: float | None
    snr_ci_low: float | None
    snr_ci_high: float | None
    snr_signal: float | None  # the SNR numerator: ROI mean, or its noise-floor-corrected value
    signal_correction: str
    noise_sd: float | None
    noise_method: str
    noise_model: str
    noise_voxels: int
    roi_voxels: int
    roi_erosion_mm: float
    roi_mean: float | None
    roi_sd: float | None
    snr_note: str
    qc_status: str = "pass"  # "pass", "doubtful" (accepted with a caveat) or "not_segmented"
    qc_note: str = ""  # the caveat, or why the eye was not segmented

    def as_row(self) -> dict:
        return asdict(self)


def not_segmented_rows(eye: str, reason: str) -> list[StructureStats]:
    """The rows of an eye that got no labels (outside the image, or refused by quality control): no values."""
    return [StructureStats(eye, output_label(eye, s.label), s.label, s.key, 0, None, None, None, None, None, None,
                           None, None, "", None, "", "", 0, 0, 0.0, None, None, "eye not segmented",
                           "not_segmented", reason)
            for s in STRUCTURES]


def erode_mask(mask: np.ndarray, spacing_xyz_mm: tuple[float, ...], erosion_mm: float) -> np.ndarray:
    """Boolean (k, j, i) mask eroded by a ball of ``erosion_mm`` (radius per axis = round(erosion / spacing))."""
    radius = [int(round(erosion_mm / s)) for s in spacing_xyz_mm]
    if erosion_mm <= 0 or not any(radius) or not mask.any():
        return mask
    lo = np.maximum(np.argwhere(mask).min(axis=0) - 1, 0)
    hi = np.argwhere(mask).max(axis=0) + 2
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    crop = sitk.GetImageFromArray(mask[box].astype(np.uint8))
    crop.SetSpacing(spacing_xyz_mm)
    eroded = np.zeros_like(mask)
    eroded[box] = sitk.GetArrayFromImage(sitk.BinaryErode(crop, radius, sitk.sitkBall, 0, 1,
                                                          boundaryToForeground=False)) > 0
    return eroded


def mean_snr_ci(mean: float, sd: float, n: int, sigma: float, sigma_rel_se: float | None
                ) -> tuple[float, float | None, float | None]:
    """SNR = mean/σ and its 95 % interval from the relative errors of the mean (SD/√n) and of σ."""
    snr = mean / sigma
    if sigma_rel_se is None or n < 2 or mean == 0:
        return snr, None, None
    return (snr, *interval95(snr, float(np.hypot(sd / (abs(mean) * np.sqrt(n)), sigma_rel_se))))


def _signal(values: np.ndarray, mean: float, sigma: float, channels: int, correction: str) -> float:
    """The SNR numerator: the ROI mean, or √(max(mean(M²) − 2nσ², 0)) with the "power" correction.

    E[M²] = A² + 2nσ² for magnitude data from n channels (Rician for n = 1; Gudbjartsson H, Patz S, Magn Reson Med
    1995;34:910; non-central χ for sum of squares: Constantinides CD et al., Magn Reson Med 1997;38:852).
    """
    if correction == "none":
        return mean
    if correction != "power":
        raise ValueError(f"signal correction must be one of {', '.join(SIGNAL_CORRECTIONS)}, not {correction!r}")
    return float(np.sqrt(max(float(np.mean(values ** 2)) - 2 * channels * sigma ** 2, 0.0)))


def structure_statistics(image: sitk.Image, labels: sitk.Image, eyes: Iterable[str], noise: NoiseEstimate,
                         roi: RoiOptions = RoiOptions()) -> list[StructureStats]:
    """Statistics of every structure of every eye in ``eyes``.

    SNR = ROI mean / ``noise.sigma`` when σ is defined; with ``DifferenceNoise`` σ and the signal are measured in
    each ROI of the two acquisitions instead.
    """
    values = sitk.GetArrayViewFromImage(image)
    second = None
    if isinstance(noise, DifferenceNoise):
        require_same_grid(image, noise.repeat, "repeat image")
        second = sitk.GetArrayViewFromImage(noise.repeat)
    label_array = sitk.GetArrayViewFromImage(labels)
    voxel_mm3 = voxel_volume_mm3(image)
    rows = []
    for eye in eyes:
        for structure in STRUCTURES:
            value = output_label(eye, structure.label)
            mask = label_array == value
            inside = values[mask].astype(np.float64)
            n = int(inside.size)
            roi_mask = erode_mask(mask, image.GetSpacing(), roi.erosion_mm)
            roi_values = values[roi_mask].astype(np.float64)
            pair = None if second is None else (roi_values, second[roi_mask])
            roi_signal = roi_values if pair is None else 0.5 * (pair[0] + pair[1])
            row = StructureStats(
                eye=eye, label=value, atlas_label=structure.label, structure=structure.key, voxels=n,
                volume_mm3=n * voxel_mm3, mean=float(inside.mean()) if n else None,
                sd=float(inside.std(ddof=1)) if n > 1 else None, median=float(np.median(inside)) if n else None,
                snr=None, snr_ci_low=None, snr_ci_high=None, snr_signal=None,
                signal_correction=roi.signal_correction, noise_sd=noise.sigma, noise_method=noise.method,
                noise_model=noise.model, noise_voxels=noise.voxels, roi_voxels=int(roi_signal.size),
                roi_erosion_mm=float(roi.erosion_mm), roi_mean=float(roi_signal.mean()) if roi_signal.size else None,
                roi_sd=float(roi_signal.std(ddof=1)) if roi_signal.size > 1 else None, snr_note="")
            _add_snr(row, roi_signal, noise, roi, pair)
            rows.append(row)
    return rows


def _add_snr(row: StructureStats, roi_signal: np.ndarray, noise: NoiseEstimate, roi: RoiOptions,
             pair: tuple[np.ndarray, np.ndarray] | None) -> None:
    notes = []
    if row.roi_voxels < 2:
        row.snr_note = "structure has no voxels" if row.voxels == 0 else \
            f"ROI has {row.roi_voxels} voxels after {roi.erosion_mm:g} mm erosion: SNR not measured"
        return
    if pair is not None:
        sigma, sigma_rel_se = DifferenceNoise.region_sigma(*pair)
        row.noise_sd, row.noise_method, row.noise_model, row.noise_voxels = sigma, "difference", "none", row.roi_voxels
        if sigma <= 0:
            row.snr_note = "the two images are identical in this ROI: SNR undefined"
            return
    elif not noise.defined:
        row.snr_note = noise.reason or "SNR undefined"
        return
    else:
        sigma, sigma_rel_se = noise.sigma, noise.sigma_rel_se
        if noise.reason:
            notes.append(noise.reason)
    channels = 1 if pair is not None else noise.channels
    # Difference method: the power of each acquisition, (M1² + M2²)/2, carries the 2σ² floor exactly.
    power_source = roi_signal if pair is None else np.sqrt(0.5 * (pair[0] ** 2 + pair[1] ** 2))
    row.snr_signal = _signal(power_source, row.roi_mean, sigma, channels, roi.signal_correction)
    if row.snr_signal == 0:
        notes.append("signal is at the noise floor (mean(M²) ≤ 2nσ²): power-corrected signal set to 0")
    row.snr, row.snr_ci_low, row.snr_ci_high = mean_snr_ci(row.snr_signal, row.roi_sd or 0.0, row.roi_voxels,
                                                           sigma, sigma_rel_se)
    if row.roi_voxels < roi.min_voxels:
        notes.insert(0, f"LOW VOXEL COUNT: ROI has {row.roi_voxels} voxels (< {roi.min_voxels})")
    row.snr_note = "; ".join(notes)
