"""Per-structure statistics on the patient's own voxels (never resampled)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Optional

import numpy as np
import SimpleITK as sitk

from .geometry import voxel_volume_mm3
from .noise import NoiseEstimate
from .structures import STRUCTURES, output_label

CSV_COLUMNS = ("eye", "label", "atlas_label", "structure", "voxels", "volume_mm3", "mean", "sd", "median",
               "snr", "noise_sd", "noise_method", "noise_voxels", "snr_note")


@dataclass
class StructureStats:
    """One row of ``stats.csv``. ``sd`` is the sample SD (N−1), as in Slicer's Segment Statistics."""

    eye: str
    label: int  # value in labels.nii.gz (right 1-9, left 11-19)
    atlas_label: int
    structure: str
    voxels: int
    volume_mm3: float
    mean: Optional[float]
    sd: Optional[float]
    median: Optional[float]
    snr: Optional[float]
    noise_sd: Optional[float]
    noise_method: str
    noise_voxels: int
    snr_note: str

    def as_row(self) -> dict:
        return asdict(self)


def structure_statistics(image: sitk.Image, labels: sitk.Image, eyes: Iterable[str],
                         noise: NoiseEstimate) -> list[StructureStats]:
    """Statistics of every structure of every eye in ``eyes``; SNR = mean / σ when σ is defined."""
    values = sitk.GetArrayViewFromImage(image)
    label_array = sitk.GetArrayViewFromImage(labels)
    voxel_mm3 = voxel_volume_mm3(image)
    rows = []
    for eye in eyes:
        for structure in STRUCTURES:
            value = output_label(eye, structure.label)
            inside = values[label_array == value].astype(np.float64)
            n = int(inside.size)
            mean = float(inside.mean()) if n else None
            snr, note = None, noise.reason
            if not noise.defined:
                note = noise.reason or "SNR undefined"
            elif n == 0:
                note = "structure has no voxels"
            else:
                snr = mean / noise.sigma
            rows.append(StructureStats(
                eye=eye, label=value, atlas_label=structure.label, structure=structure.key, voxels=n,
                volume_mm3=n * voxel_mm3, mean=mean, sd=float(inside.std(ddof=1)) if n > 1 else None,
                median=float(np.median(inside)) if n else None, snr=snr, noise_sd=noise.sigma,
                noise_method=noise.method, noise_voxels=noise.voxels, snr_note=note))
    return rows
