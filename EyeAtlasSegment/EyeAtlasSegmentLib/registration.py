"""Template → patient registration around one eye, engine-independent part.

The atlas template (moving) is registered to a patient crop around the found globe (fixed). The result is
a transform mapping patient LPS points to template LPS points (ITK fixed→moving convention), which is
what resampling the atlas labels onto the patient grid needs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import SimpleITK as sitk

from .atlas import Atlas
from .callbacks import ProgressCallback
from .errors import EyeNotFoundError, RegistrationError, library_reason
from .eye_qc import QcCheck, deformable_check, folding_check
from .geometry import corner_voxel_centres_lps
from .orbit_crop import VoxelRegion, template_footprint_region

#: Globe and lens labels: their centroid is the template's eye centre.
EYE_CENTRE_LABELS = (1, 2)
#: Registration runs on a copy of the patient crop resampled to this isotropic spacing (statistics never do).
REGISTRATION_SPACING_MM = 1.0
#: The fixed region is the template's field of view placed on the found eye, enlarged by this margin.
CROP_MARGIN_MM = 6.0
MIN_FRACTION_IN_FOV = 0.5
#: Linear stages look at the globe and its rim only: its edge is the most salient, contrast-independent feature.
GLOBE_MASK_DILATION_MM = 4.0
#: The deformable stage looks at all nine structures and their surroundings.
ORBIT_MASK_DILATION_MM = 6.0
#: The registered globe must stay this close to the found (or given) centre: the sphere fit is accurate to ~1–2 mm,
#: while a deformable stage that matched the wrong tissue moves the globe by 3–9 mm (measured on real T2/MNI heads).
GLOBE_ENVELOPE_MM = 2.5
MAX_DEFORMABLE_GLOBE_VOLUME_CHANGE = 0.2



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
    checks: list[QcCheck] = field(default_factory=list)  # deformable kept, folding of the transform used


@dataclass
class RegistrationMasks:
    """Fixed-image metric masks: ``globe`` for the linear stages, ``orbit`` for the deformable stage."""

    globe: sitk.Image
    orbit: sitk.Image


@dataclass
class EngineOutput:
    """An engine's answer: the linear transform and the full (linear + deformable) one."""

    linear: sitk.Transform
    full: sitk.Transform
    stages: list[dict]


class RegistrationEngine(Protocol):
    """A registration back-end: optimises ``patient_to_atlas`` from ``initial``, a rigid transform (rotation about
    the found globe centre, then the translation that puts the template's globe there)."""

    name: str

    def register(self, fixed: sitk.Image, masks: RegistrationMasks, moving: sitk.Image, initial: sitk.Transform,
                 anchor_lps_mm: Sequence[float], progress: ProgressCallback | None) -> EngineOutput:
        """Register; ``anchor_lps_mm`` is the found globe centre (patient LPS mm), the centre of linear stages."""

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
    corners = corner_voxel_centres_lps(image)
    lo, hi = np.min(corners, axis=0), np.max(corners, axis=0)
    out_size = [int(np.ceil((high - low) / spacing_mm)) + 1 for low, high in zip(lo, hi)]
    return sitk.Resample(image, out_size, sitk.Transform(), sitk.sitkLinear, tuple(lo), (spacing_mm,) * 3,
                         (1, 0, 0, 0, 1, 0, 0, 0, 1), 0.0, sitk.sitkFloat32)


def structure_mask(fixed: sitk.Image, atlas: Atlas, initial: sitk.Transform, labels: Sequence[int],
                   dilation_mm: float) -> sitk.Image:
    """Fixed-grid mask of the given atlas labels (all structures when empty), dilated, placed by ``initial``."""
    label_array = sitk.GetArrayViewFromImage(atlas.labels)
    selected = np.isin(label_array, labels) if labels else label_array > 0
    structures = sitk.GetImageFromArray(selected.astype(np.uint8))
    structures.CopyInformation(atlas.labels)
    radius = [max(1, int(round(dilation_mm / s))) for s in atlas.labels.GetSpacing()]
    dilated = sitk.BinaryDilate(structures, radius, sitk.sitkBall)
    return sitk.Resample(dilated, fixed, initial, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def initial_transform(globe_centre_lps_mm: Sequence[float], template_shift_lps_mm: Sequence[float],
                      rotation_deg: Sequence[float] = (0.0, 0.0, 0.0)) -> sitk.Euler3DTransform:
    """Patient → template start: rotate by ``rotation_deg`` (about the LPS x, y, z axes) about the found globe centre,
    then move by −``template_shift_lps_mm`` (the template's globe centre minus the found one, negated)."""
    angles = np.deg2rad(np.asarray(rotation_deg, dtype=float))
    return sitk.Euler3DTransform(tuple(map(float, globe_centre_lps_mm)), *map(float, angles),
                                 tuple(-np.asarray(template_shift_lps_mm, dtype=float)))


def register_eye(atlas: Atlas, patient: sitk.Image, globe_centre_lps_mm: Sequence[float], engine: RegistrationEngine,
                 progress: ProgressCallback | None = None,
                 start_rotation_deg: Sequence[float] = (0.0, 0.0, 0.0)) -> RegistrationResult:
    """Register ``atlas`` (already mirrored for a left eye) to the patient around the given globe centre.

    ``start_rotation_deg`` turns the template's starting pose about the globe centre (for retries). The
    deformable result is replaced by the linear one when it moves or resizes the globe, or folds the orbit.
    """
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
    initial = initial_transform(globe_centre_lps_mm, shift, start_rotation_deg)
    masks = RegistrationMasks(globe=structure_mask(fixed, atlas, initial, EYE_CENTRE_LABELS, GLOBE_MASK_DILATION_MM),
                              orbit=structure_mask(fixed, atlas, initial, (), ORBIT_MASK_DILATION_MM))
    try:
        output = engine.register(fixed, masks, atlas.template, initial, tuple(map(float, globe_centre_lps_mm)),
                                 progress)
    except RuntimeError as exc:
        raise RegistrationError(f"{engine.name} registration of the {atlas.side} eye failed: "
                                f"{library_reason(exc)}") from exc
    transform, stages = output.full, list(output.stages)
    folding = folding_check(output.full, fixed, masks.orbit)
    problem = deformation_problem(atlas, fixed, output.linear, output.full, globe_centre_lps_mm) or (
        folding.message if folding.verdict == "fail" else "")
    if problem:
        transform = output.linear
        folding = folding_check(output.linear, fixed, masks.orbit)
        stages.append({"stage": "deformable_rejected", "reason": problem})
        warnings.append(f"{atlas.side} eye: the deformable registration was rejected ({problem}); the linear result "
                        f"is used, so thin structures are less accurate — check qc.png")
    return RegistrationResult(transform, region, engine.name, engine.parameters(), stages,
                              time.perf_counter() - start, warnings, [deformable_check(problem), folding])


def _globe_geometry(atlas: Atlas, fixed: sitk.Image, transform: sitk.Transform) -> tuple[np.ndarray, float]:
    """Centroid (LPS mm) and volume (mm³) of the atlas globe+lens mapped onto the fixed grid."""
    globe = sitk.Cast(sitk.BinaryThreshold(atlas.labels, 1, 2, 1, 0), sitk.sitkFloat32)
    warped = sitk.Resample(globe, fixed, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32) > 0.5
    volume = float(np.sum(sitk.GetArrayViewFromImage(warped))) * float(np.prod(fixed.GetSpacing()))
    if volume == 0:
        return np.full(3, np.nan), 0.0
    return label_centroid_lps(sitk.Cast(warped, sitk.sitkUInt8), (1,)), volume


def deformation_problem(atlas: Atlas, fixed: sitk.Image, linear: sitk.Transform, full: sitk.Transform,
                        globe_centre_lps_mm: Sequence[float]) -> str:
    """Why the deformable result is implausible ('' when it is acceptable).

    The deformable stage should refine shapes, not move the globe away from where it was found (more than
    ``GLOBE_ENVELOPE_MM``) or resize it relative to the linear result (beyond ``MAX_DEFORMABLE_GLOBE_VOLUME_CHANGE``):
    either means it matched the wrong tissues, e.g. bright vitreous of a T2 image to bright orbital fat of a
    T1 template.
    """
    _, volume_linear = _globe_geometry(atlas, fixed, linear)
    centre_full, volume_full = _globe_geometry(atlas, fixed, full)
    if volume_linear == 0 or volume_full == 0:
        return "the globe left the registered region"
    shift = float(np.linalg.norm(centre_full - np.asarray(globe_centre_lps_mm, dtype=float)))
    change = volume_full / volume_linear - 1.0
    if shift > GLOBE_ENVELOPE_MM:
        return f"it put the globe {shift:.1f} mm from the found centre"
    if abs(change) > MAX_DEFORMABLE_GLOBE_VOLUME_CHANGE:
        return f"it changed the globe volume by {change:+.0%}"
    return ""
