"""The whole-head route (``--via mni152``): find each eye through the release's standard-space whole head.

1. The whole-head template (``mni152/`` or ``colin27/`` of the release) is registered to the patient: rigid, then
   affine, Mattes mutual information on a 3 mm grid, started from the centroids of the two head masks.
2. Each eye's centre in the template (the lens + globe labels; the release labels the right eye only, so the left
   is its mirror image about the template's mid-sagittal plane x = 0, as in MNI space) is carried to the patient.
3. The eye template (mirrored for the left eye) is registered rigidly around that point, on gradient magnitude (an
   edge in every contrast), started with the head's rotation. Its globe centre is the eye's centre, unless the
   refinement moved it more than ``MAX_REFINEMENT_MM``: then the whole-head estimate is kept and a warning says so.

It needs no visible globe contrast, only a head: use it where the globe finder cannot see a ball (defaced faces,
blurred or unusual contrast). It needs the whole head, or most of it, in the field of view.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .atlas import Atlas, StandardSpaceTemplate, load_standard_space, mirror_atlas
from .errors import RegistrationError, library_reason
from .geometry import ras_to_lps
from .registration import EYE_CENTRE_LABELS, label_centroid_lps, resample_isotropic, structure_mask
from .structures import EYES

HEAD_GRID_MM = 3.0  # the whole-head registration runs on this grid
HEAD_THRESHOLD = 0.15  # of the 99th percentile: above it is head, below is air
EYE_CROP_HALF_MM = 40.0  # patient box around the whole-head estimate for the eye-template refinement
EDGE_SIGMA_MM = 1.0
#: How the pipeline finds the eyes: the globe finder, or through a standard-space whole head of the release.
LOCATION_ROUTES = ("globes", "mni152", "colin27")
GLOBE_RIM_MM = 5.0  # the refinement's metric sees the globe and this much around it
#: A refinement moving the eye further than this from the whole-head estimate is not trusted (about a globe radius).
MAX_REFINEMENT_MM = 12.0


@dataclass
class WholeHeadLocation:
    """Eye centres (LPS mm) found through a whole-head template, with the whole-head estimates before refinement."""

    centres_lps_mm: dict[str, np.ndarray]
    head_estimates_lps_mm: dict[str, np.ndarray]
    missing: dict[str, str] = field(default_factory=dict)  # eye → why it has no centre
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def template_eye_centres_lps(standard: StandardSpaceTemplate) -> dict[str, np.ndarray]:
    """Each eye's centre (lens + globe labels) in the template; an unlabelled eye mirrored about x = 0."""
    labels = sitk.GetArrayViewFromImage(standard.labels)
    kji = np.argwhere(np.isin(labels, EYE_CENTRE_LABELS))
    if len(kji) == 0:
        raise RegistrationError(f"{standard.labels_file.name} has no lens or globe label")
    points_lps = np.array([standard.labels.TransformContinuousIndexToPhysicalPoint(tuple(map(float, p[::-1])))
                           for p in kji[:: max(1, len(kji) // 20000)]])
    # Right eye: RAS x > 0, i.e. LPS x < 0.
    sides = {"right": points_lps[points_lps[:, 0] < 0], "left": points_lps[points_lps[:, 0] > 0]}
    centres = {eye: pts.mean(axis=0) for eye, pts in sides.items() if len(pts) > 0.2 * len(points_lps)}
    if not centres:
        raise RegistrationError(f"{standard.labels_file.name}: the eye labels are not on either side of x = 0")
    for eye, other in (("left", "right"), ("right", "left")):
        if eye not in centres:
            centres[eye] = centres[other] * [-1.0, 1.0, 1.0]
    return centres


def register_whole_head(patient: sitk.Image, standard: StandardSpaceTemplate) -> sitk.AffineTransform:
    """Patient → template affine (a patient point to its template point): rigid from the head masks' centroids,
    then affine."""
    fixed = _normalised(resample_isotropic(patient, HEAD_GRID_MM))
    moving = _normalised(resample_isotropic(standard.image, HEAD_GRID_MM))
    rigid = sitk.CenteredTransformInitializer(_foreground(fixed), _foreground(moving), sitk.Euler3DTransform(),
                                              sitk.CenteredTransformInitializerFilter.MOMENTS)
    rigid = _register(fixed, moving, rigid, shrink=(2, 1), smooth_mm=(2 * HEAD_GRID_MM, HEAD_GRID_MM), iterations=100)
    affine = sitk.AffineTransform(3)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    return _register(fixed, moving, affine, shrink=(2, 1), smooth_mm=(HEAD_GRID_MM, 0.0), iterations=100)


def refine_with_eye_template(patient: sitk.Image, atlas: Atlas, estimate_lps_mm: np.ndarray,
                             rotation: np.ndarray) -> np.ndarray:
    """The eye centre where the eye template, registered rigidly around ``estimate_lps_mm``, puts its globe."""
    template_centre = label_centroid_lps(atlas.labels)
    crop = _crop(patient, estimate_lps_mm, EYE_CROP_HALF_MM)
    fixed = sitk.GradientMagnitudeRecursiveGaussian(sitk.Cast(crop, sitk.sitkFloat32), EDGE_SIGMA_MM)
    moving = sitk.GradientMagnitudeRecursiveGaussian(atlas.template, EDGE_SIGMA_MM)
    start = sitk.Euler3DTransform()
    start.SetCenter(tuple(map(float, estimate_lps_mm)))
    start.SetMatrix(tuple(map(float, rotation.ravel())))
    start.SetTranslation(tuple(map(float, template_centre - estimate_lps_mm)))
    mask = structure_mask(fixed, atlas, start, EYE_CENTRE_LABELS, GLOBE_RIM_MM)
    rigid = _register(fixed, moving, start, shrink=(2, 1), smooth_mm=(1.0, 0.0), iterations=100, fixed_mask=mask)
    return np.asarray(rigid.GetInverse().TransformPoint(tuple(map(float, template_centre))))


def locate_eyes_via_template(patient: sitk.Image, atlas: Atlas, standard: StandardSpaceTemplate,
                             eyes: Sequence[str] = EYES) -> WholeHeadLocation:
    """The eyes' centres through the whole-head template, refined with the eye template (see the module)."""
    clock = time.perf_counter()
    head = register_whole_head(patient, standard)
    to_patient = head.GetInverse()
    rotation = _nearest_rotation(np.asarray(head.GetMatrix()).reshape(3, 3))
    located = WholeHeadLocation({}, {})
    for eye, centre in template_eye_centres_lps(standard).items():
        if eye not in eyes:
            continue
        estimate = np.asarray(to_patient.TransformPoint(tuple(map(float, centre))))
        located.head_estimates_lps_mm[eye] = estimate
        if not _inside(patient, estimate):
            located.missing[eye] = f"the {standard.space} whole-head registration puts it outside the field of view"
            continue
        eye_atlas = atlas if eye == "right" else mirror_atlas(atlas)
        try:
            refined, reason = refine_with_eye_template(patient, eye_atlas, estimate, rotation), ""
        except (RuntimeError, RegistrationError) as exc:  # SimpleITK, or a crop cut by the field of view
            refined, reason = estimate, library_reason(exc)
        moved = float(np.linalg.norm(refined - estimate))
        if reason or moved > MAX_REFINEMENT_MM:
            located.warnings.append(f"{eye} eye: the eye-template refinement was not used "
                                    f"({reason or f'it moved the eye {moved:.1f} mm'}); the {standard.space} "
                                    f"whole-head estimate is used")
            refined = estimate
        located.centres_lps_mm[eye] = refined
    located.seconds = time.perf_counter() - clock
    return located


def centres_via_standard_space(patient: sitk.Image, atlas_dir: str | Path, atlas: Atlas, space: str,
                               eyes: Sequence[str], given_ras_mm: Mapping[str, Sequence[float]]
                               ) -> tuple[dict[str, tuple[np.ndarray, str, None]], dict[str, str], list[str]]:
    """The pipeline's eye centres by the whole-head route: (LPS mm, source, score) per eye, reasons for missing
    eyes, warnings. A centre the user gave is used as given ("user"); the others come from ``space``."""
    centres = {eye: (ras_to_lps(given_ras_mm[eye]), "user", None) for eye in eyes if eye in given_ras_mm}
    wanted = [eye for eye in eyes if eye not in centres]
    if not wanted:
        return centres, {}, []
    located = locate_eyes_via_template(patient, atlas, load_standard_space(atlas_dir, space), wanted)
    centres.update({eye: (centre, space, None) for eye, centre in located.centres_lps_mm.items()})
    warnings = [f"eyes located through the {space} whole-head template in {located.seconds:.0f} s"] + located.warnings
    return centres, located.missing, warnings


def _normalised(image: sitk.Image) -> sitk.Image:
    """Intensities scaled to the 99th percentile of the non-zero voxels (templates and scans differ in units)."""
    array = sitk.GetArrayViewFromImage(image)
    positive = array[array > 0]
    scale = float(np.percentile(positive, 99)) if positive.size else 1.0
    return sitk.Cast(image, sitk.sitkFloat32) / max(scale, 1e-6)


def _foreground(normalised: sitk.Image) -> sitk.Image:
    """Voxels above ``HEAD_THRESHOLD`` (float 0/1), whose moments centre the rigid start."""
    return sitk.Cast(normalised > HEAD_THRESHOLD, sitk.sitkFloat32)


def _register(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, shrink: tuple[int, ...],
              smooth_mm: tuple[float, ...], iterations: int, fixed_mask: sitk.Image | None = None) -> sitk.Transform:
    method = sitk.ImageRegistrationMethod()
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    method.SetMetricAsMattesMutualInformation(32)
    method.SetMetricSamplingStrategy(method.REGULAR)
    method.SetMetricSamplingPercentage(0.2, seed=1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-3, numberOfIterations=iterations,
                                                    relaxationFactor=0.6, gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(shrink))
    method.SetSmoothingSigmasPerLevel(list(smooth_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(transform, inPlace=False)
    return _unwrap(method.Execute(fixed, moving))


def _unwrap(transform: sitk.Transform) -> sitk.Transform:
    """The single transform inside what ``ImageRegistrationMethod.Execute`` returns."""
    if isinstance(transform, sitk.CompositeTransform) and transform.GetNumberOfTransforms() == 1:
        transform = transform.GetNthTransform(0)
    return transform.Downcast()


def _crop(image: sitk.Image, centre_lps_mm: np.ndarray, half_mm: float) -> sitk.Image:
    """The voxel box of ``image`` covering ``centre ± half_mm`` (clipped to the image)."""
    corners = [np.array(c) * 2 - 1 for c in np.ndindex(2, 2, 2)]
    indices = np.array([image.TransformPhysicalPointToContinuousIndex(tuple(map(float, centre_lps_mm + half_mm * c)))
                        for c in corners])
    lo = np.clip(np.floor(indices.min(axis=0)).astype(int), 0, np.array(image.GetSize()) - 1)
    hi = np.clip(np.ceil(indices.max(axis=0)).astype(int) + 1, 0, np.array(image.GetSize()))
    if np.any(hi - lo < 8):
        raise RegistrationError("the eye estimate is outside the image")
    return sitk.RegionOfInterest(image, [int(v) for v in hi - lo], [int(v) for v in lo])


def _inside(image: sitk.Image, point_lps_mm: np.ndarray) -> bool:
    index = np.asarray(image.TransformPhysicalPointToContinuousIndex(tuple(map(float, point_lps_mm))))
    return bool(np.all(index >= -0.5) and np.all(index <= np.asarray(image.GetSize()) - 0.5))


def _nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation closest to a 3×3 matrix (polar decomposition)."""
    u, _, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        u[:, -1] *= -1
        rotation = u @ vt
    return rotation

