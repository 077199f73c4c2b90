"""Template → patient registration around one eye, engine-independent part.

The atlas template (moving) is registered to a patient crop around the found globe (fixed). The result is
a transform mapping patient LPS points to template LPS points (ITK fixed→moving convention), which is
what resampling the atlas labels onto the patient grid needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

import numpy as np
import SimpleITK as sitk

from .atlas import Atlas
from .errors import EyeNotFoundError, RegistrationError
from .orbit_crop import VoxelRegion, template_footprint_region

#: Globe and lens labels: their centroid is the template's eye centre.
EYE_CENTRE_LABELS = (1, 2)
#: Registration runs on a copy of the patient crop resampled to this isotropic spacing (statistics never do).
REGISTRATION_SPACING_MM = 1.0
#: The fixed region is the template's field of view placed on the found eye, enlarged by this margin.
CROP_MARGIN_MM = 6.0
MIN_FRACTION_IN_FOV = 0.5

ProgressCallback = Callable[[float, str], None]


@dataclass
class RegistrationResult:
    """How one eye's template was registered to the patient."""

    patient_to_atlas: sitk.Transform
    region: VoxelRegion  # patient index box that was registered (labels are transferred inside it)
    engine: str
    parameters: dict
    stages: list[dict] = field(default_factory=list)  # per stage: name, final metric, iterations, seconds
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


class RegistrationEngine(Protocol):
    """A registration back-end: optimises ``patient_to_atlas`` starting from a translation."""

    name: str

    def register(self, fixed: sitk.Image, fixed_mask: sitk.Image, moving: sitk.Image,
                 initial: sitk.Transform, progress: Optional[ProgressCallback]) -> tuple[sitk.Transform, list[dict]]:
        ...

    def parameters(self) -> dict:
        ...


def label_centroid_lps(labels: sitk.Image, values: Sequence[int] = EYE_CENTRE_LABELS) -> np.ndarray:
    """Centroid (LPS mm) of the voxels carrying any of ``values``."""
    array = sitk.GetArrayViewFromImage(labels)
    kji = np.argwhere(np.isin(array, values))
    if len(kji) == 0:
        raise RegistrationError(f"the atlas label map has no voxels with labels {list(values)}")
    ijk_mean = kji.mean(axis=0)[::-1]
    return np.asarray(labels.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in ijk_mean)))


def resample_isotropic(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Linear resampling of ``image`` onto an axis-aligned (identity direction) grid covering it."""
    size = np.asarray(image.GetSize())
    corners = [image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in np.array(c) * (size - 1)))
               for c in np.ndindex(2, 2, 2)]
    lo, hi = np.min(corners, axis=0), np.max(corners, axis=0)
    out_size = [int(np.ceil((h - l) / spacing_mm)) + 1 for l, h in zip(lo, hi)]
    return sitk.Resample(image, out_size, sitk.Transform(), sitk.sitkLinear, tuple(lo), (spacing_mm,) * 3,
                         (1, 0, 0, 0, 1, 0, 0, 0, 1), 0.0, sitk.sitkFloat32)


def orbit_mask(fixed: sitk.Image, atlas: Atlas, initial: sitk.Transform, dilation_mm: float = 6.0) -> sitk.Image:
    """Fixed-grid mask of the atlas structures (dilated), placed by the initial transform."""
    structures = sitk.Cast(atlas.labels > 0, sitk.sitkUInt8)
    radius = [max(1, int(round(dilation_mm / s))) for s in atlas.labels.GetSpacing()]
    dilated = sitk.BinaryDilate(structures, radius, sitk.sitkBall)
    return sitk.Resample(dilated, fixed, initial, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def register_eye(atlas: Atlas, patient: sitk.Image, globe_centre_lps_mm: Sequence[float], engine: RegistrationEngine,
                 progress: Optional[ProgressCallback] = None) -> RegistrationResult:
    """Register ``atlas`` (already mirrored for a left eye) to the patient around the given globe centre."""
    start = time.perf_counter()
    template_centre = label_centroid_lps(atlas.labels)
    shift = np.asarray(globe_centre_lps_mm, dtype=float) - template_centre
    region = template_footprint_region(patient, atlas.template, shift, margin_mm=CROP_MARGIN_MM)
    warnings = []
    if region.fraction_inside_image < MIN_FRACTION_IN_FOV:
        raise EyeNotFoundError(f"only {region.fraction_inside_image:.0%} of the {atlas.side} orbit region is inside "
                               f"the image's field of view")
    if region.fraction_inside_image < 0.9:
        warnings.append(f"{atlas.side} eye: {1 - region.fraction_inside_image:.0%} of the orbit region is outside "
                        f"the field of view; structures there cannot be labelled")
    fixed = resample_isotropic(region.extract(patient), REGISTRATION_SPACING_MM)
    initial = sitk.TranslationTransform(3, tuple(-shift))  # patient point + (-shift) = template point
    mask = orbit_mask(fixed, atlas, initial)
    try:
        transform, stages = engine.register(fixed, mask, atlas.template, initial, progress)
    except RuntimeError as exc:
        raise RegistrationError(f"{engine.name} registration of the {atlas.side} eye failed: "
                                f"{str(exc).strip().splitlines()[-1]}") from exc
    return RegistrationResult(transform, region, engine.name, engine.parameters(), stages,
                              time.perf_counter() - start, warnings)
