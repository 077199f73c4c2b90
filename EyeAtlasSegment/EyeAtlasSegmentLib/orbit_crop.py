"""The patient region around one eye that registration looks at (patient voxel grid, never resampled)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import SimpleITK as sitk

from .errors import EyeNotFoundError
from .geometry import corner_voxel_centres_lps


@dataclass(frozen=True)
class VoxelRegion:
    """An index box of the patient grid: ``start`` (i, j, k) and ``size`` in voxels."""

    start: tuple[int, int, int]
    size: tuple[int, int, int]
    fraction_inside_image: float  # share of the requested box that lies inside the image

    def extract(self, image: sitk.Image) -> sitk.Image:
        """The sub-image of ``image`` (same spacing, direction; shifted origin)."""
        return sitk.RegionOfInterest(image, list(self.size), list(self.start))


def template_footprint_region(patient: sitk.Image, template: sitk.Image,
                              template_to_patient_shift_lps_mm: Sequence[float], margin_mm: float = 0.0) -> VoxelRegion:
    """Patient index box covering the template's field of view after translating it by a shift (LPS mm).

    ``margin_mm`` > 0 enlarges the box, < 0 shrinks it.
    """
    corners_lps = corner_voxel_centres_lps(template) + np.asarray(template_to_patient_shift_lps_mm, dtype=float)
    centre = np.mean(corners_lps, axis=0)
    half_extent = np.max(np.abs(corners_lps - centre), axis=0) + margin_mm
    box_corners = [centre + np.array(s) * half_extent for s in product((-1, 1), repeat=3)]
    cont_index = np.array([patient.TransformPhysicalPointToContinuousIndex(tuple(map(float, p))) for p in box_corners])
    lo = np.floor(cont_index.min(axis=0)).astype(int)
    hi = np.ceil(cont_index.max(axis=0)).astype(int) + 1
    requested = np.prod(np.maximum(hi - lo, 1))
    lo_clip = np.maximum(lo, 0)
    hi_clip = np.minimum(hi, patient.GetSize())
    if np.any(hi_clip - lo_clip < 4):
        raise EyeNotFoundError("the eye region lies outside the image's field of view")
    fraction = float(np.prod(hi_clip - lo_clip) / requested)
    return VoxelRegion(tuple(int(v) for v in lo_clip), tuple(int(v) for v in hi_clip - lo_clip), fraction)
