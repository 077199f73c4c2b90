"""SYNTHETIC evaluation family: heads made independently of the tuning family, for judging accuracy only.

The pipeline and the synthetic atlas were tuned on ``subject_generator`` (``eye_model`` + ``head_model``). This
family has its own anatomy (``evaluation.orbit_anatomy``: corneal bulge, biconvex lens, conical bony orbit, recti
from an annulus, obliques, levator, lacrimal gland, eyelids; ``evaluation.simple_head``), its own T1/T2/PD
intensities (``evaluation.contrasts``), smooth tissue texture in orbital fat and muscle, a smooth bias field and
Rician noise of known σ (``noise_simulation``). Never tune on it.

Rendering: tissues are sampled at voxel centres; inside a box around each eye, a voxel within one voxel of a
tissue boundary takes the mean intensity over sub-samples ≤ 0.5 mm apart along each voxel axis (partial volume,
slice profile of thick slices). The image is then blurred by a Gaussian PSF (σ = 0.42 voxel), multiplied by the
bias field and given Rician noise.
**Truth labels are the labels at voxel centres** (exact for the analytic anatomy): right 1-9, left 11-19.
All random draws come from ``spec.seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk

from ..geometry import LPS_TO_RAS, direction_lps_from_axis_code
from ..structures import EYES
from .evaluation.contrasts import TEXTURED, relative_intensities
from .evaluation.rendering import EyePose, GridToHead, SmoothField, boundary_voxels, scene_at, subsample_offsets
from .evaluation.simple_head import RIGHT_GLOBE_HEAD_MM, simple_head_tissues
from .noise_simulation import magnitude_with_noise

SIGNAL_SCALE = 1000.0  # noiseless intensity of relative value 1 (fat in T1 and PD, vitreous in T2)
SUBSAMPLE_PITCH_MM = 0.5
PSF_SIGMA_VOXELS = 0.42
#: Fields of view (RAS mm: R-L, A-P, S-I sizes). "head" is centred in the scanner; the orbit crops on the globes.
HEAD_FOV_MM, HEAD_FOV_CENTRE_RAS_MM = (180.0, 230.0, 200.0), (0.0, 6.0, -2.0)
ORBITS_FOV_MM, ORBITS_FOV_OFFSET_MM = (130.0, 110.0, 64.0), (0.0, -20.0, 0.0)  # offset from the globes' midpoint
CUT_ORBIT_LATERAL_MM = 12.0  # "cut_orbit": the left FOV edge this far lateral of the left globe centre
FOVS = ("head", "orbits", "cut_orbit")
_CHUNK_POINTS = 1_000_000


@dataclass(frozen=True)
class EvaluationSpec:
    """One evaluation subject: grid, contrast, field of view, poses and artefacts."""

    case_id: str = "t1-head-1mm"
    seed: int = 0
    contrast: str = "T1"  # "T1", "T2" or "PD"
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    orientation: str = "RAS"  # axis code of the voxel axes
    oblique_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # voxel axes then rotated about the LPS x, y, z axes
    fov: str = "head"  # one of FOVS
    head_rotation_deg: float = 5.0  # head pose in the scanner: max |angle| about each axis
    head_shift_mm: float = 4.0  # and max |shift| along each axis
    eye_rotation_deg: float = 3.0  # each orbit (with its contents) rotated by this angle about a random axis
    eye_scale: float = 1.0  # both orbits scaled by this factor ...
    eye_scale_jitter: float = 0.03  # ... and each axis of each orbit by 1 ± this
    eye_shift_mm: float = 1.5  # max |shift| of each globe centre along each axis
    fissure_mm: tuple[float, float] = (0.0, 9.0)  # open palpebral fissure height, drawn from this range
    noise_sigma: float = 20.0  # Gaussian σ per quadrature channel, scanner units (Rician magnitude)
    bias_amplitude: float = 0.15  # smooth multiplicative bias field within 1 ± this
    texture_amplitude: float = 0.04  # relative SD of the smooth texture in orbital fat and muscle


@dataclass
class EvaluationSubject:
    """A synthetic evaluation image with its truth."""

    image: sitk.Image  # noisy magnitude, float32, LPS geometry
    noiseless: sitk.Image  # the same before noise (after PSF and bias)
    truth_labels: sitk.Image  # uint8 on the same grid: right 1-9, left 11-19, labels at voxel centres
    globe_centres_ras_mm: dict[str, tuple[float, float, float]]  # centre of each scleral ellipsoid
    spec: EvaluationSpec


def _euler_rotation(angles_deg) -> np.ndarray:
    angles = np.deg2rad(np.asarray(angles_deg, dtype=float))
    return np.asarray(sitk.Euler3DTransform((0.0, 0.0, 0.0), *angles).GetMatrix()).reshape(3, 3)


def _draw_eye_pose(rng: np.random.Generator, spec: EvaluationSpec, eye: str) -> EyePose:
    axis = rng.normal(size=3)
    rotation = np.asarray(sitk.VersorTransform(tuple(axis / np.linalg.norm(axis)),
                                               float(np.deg2rad(spec.eye_rotation_deg))).GetMatrix()).reshape(3, 3)
    scale = spec.eye_scale * (1.0 + rng.uniform(-spec.eye_scale_jitter, spec.eye_scale_jitter, 3))
    nominal = RIGHT_GLOBE_HEAD_MM * ([1.0, 1.0, 1.0] if eye == "right" else [-1.0, 1.0, 1.0])
    return EyePose(nominal + rng.uniform(-spec.eye_shift_mm, spec.eye_shift_mm, 3), rotation, scale, eye == "left")


def _fov_box_ras(spec: EvaluationSpec, centres_ras_mm: dict[str, np.ndarray], head_rotation: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(centre, size) in RAS mm of the box the grid must cover."""
    if spec.fov == "head":
        return np.asarray(HEAD_FOV_CENTRE_RAS_MM), np.asarray(HEAD_FOV_MM)
    if spec.fov not in FOVS:
        raise ValueError(f"fov must be one of {', '.join(FOVS)}, not {spec.fov!r}")
    centre = 0.5 * (centres_ras_mm["right"] + centres_ras_mm["left"]) + head_rotation @ ORBITS_FOV_OFFSET_MM
    size = np.asarray(ORBITS_FOV_MM)
    if spec.fov == "cut_orbit":  # RAS x decreases towards the subject's left
        low, high = centres_ras_mm["left"][0] - CUT_ORBIT_LATERAL_MM, centre[0] + size[0] / 2
        centre, size = centre.copy(), size.copy()
        centre[0], size[0] = (low + high) / 2, high - low
    return centre, size


def _grid(spec: EvaluationSpec, centre_ras_mm: np.ndarray, size_ras_mm: np.ndarray) -> sitk.Image:
    """Empty image covering the RAS box with the spec's spacing and (possibly oblique) orientation."""
    direction = _euler_rotation(spec.oblique_deg) @ direction_lps_from_axis_code(spec.orientation)
    spacing = np.asarray(spec.spacing_mm, dtype=float)
    extent_mm = np.abs(direction).T @ size_ras_mm  # box extent along each voxel axis
    size = np.maximum(1, np.ceil(extent_mm / spacing - 1e-6)).astype(int)
    image = sitk.Image([int(s) for s in size], sitk.sitkFloat32)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(d) for d in direction.ravel()))
    origin_lps = LPS_TO_RAS @ centre_ras_mm - direction @ (spacing * (size - 1) / 2.0)
    image.SetOrigin(tuple(float(o) for o in origin_lps))
    return image


def make_evaluation_subject(spec: EvaluationSpec = EvaluationSpec()) -> EvaluationSubject:
    """Render one evaluation subject (both eyes)."""
    rng = np.random.default_rng(spec.seed)
    lut = relative_intensities(spec.contrast) * SIGNAL_SCALE
    head_rotation = _euler_rotation(rng.uniform(-spec.head_rotation_deg, spec.head_rotation_deg, 3))
    head_shift_ras = rng.uniform(-spec.head_shift_mm, spec.head_shift_mm, 3)
    poses = {eye: _draw_eye_pose(rng, spec, eye) for eye in EYES}
    fissure_mm = float(rng.uniform(*spec.fissure_mm))
    texture = SmoothField(rng, (3.0, 10.0))
    bias = SmoothField(rng, (250.0, 400.0), waves=3)
    centres_ras = {eye: head_rotation @ pose.centre_head_mm + head_shift_ras for eye, pose in poses.items()}
    grid = _grid(spec, *_fov_box_ras(spec, centres_ras, head_rotation))
    to_head = GridToHead.of(grid, head_rotation, head_shift_ras)

    tissue = np.empty(to_head.n_voxels, dtype=np.uint8)
    for start in range(0, to_head.n_voxels, _CHUNK_POINTS):
        flat = np.arange(start, min(to_head.n_voxels, start + _CHUNK_POINTS))
        tissue[flat] = simple_head_tissues(to_head.points(to_head.ijk(flat)))
    labels = np.zeros(to_head.n_voxels, dtype=np.uint8)
    boxed = np.unique(np.concatenate([to_head.flat_in_box(pose) for pose in poses.values()]))
    for start in range(0, len(boxed), _CHUNK_POINTS):
        flat = boxed[start:start + _CHUNK_POINTS]
        tissue[flat], labels[flat] = scene_at(to_head.points(to_head.ijk(flat)), poses, fissure_mm)
    signal = lut[tissue]
    textured = boxed[np.isin(tissue[boxed], TEXTURED)]
    signal[textured] *= 1.0 + spec.texture_amplitude * texture(to_head.points(to_head.ijk(textured)))
    # Partial volume: voxels at a tissue boundary in the eye boxes take the mean over sub-samples.
    mixed = boxed[boundary_voxels(tissue.reshape(to_head.shape_kji)).ravel()[boxed]]
    offsets = subsample_offsets(grid.GetSpacing(), SUBSAMPLE_PITCH_MM)
    per_chunk = max(1, _CHUNK_POINTS // len(offsets))
    for start in range(0, len(mixed), per_chunk):
        flat = mixed[start:start + per_chunk]
        points = to_head.points((to_head.ijk(flat)[:, None, :] + offsets[None]).reshape(-1, 3))
        sub_tissue, _ = scene_at(points, poses, fissure_mm)
        sub_signal = lut[sub_tissue].astype(np.float64)
        sub_textured = np.isin(sub_tissue, TEXTURED)
        sub_signal[sub_textured] *= 1.0 + spec.texture_amplitude * texture(points[sub_textured])
        signal[flat] = sub_signal.reshape(len(flat), len(offsets)).mean(axis=1)

    blurred = sitk.DiscreteGaussian(_image_like(grid, signal.reshape(to_head.shape_kji)),
                                    [float((PSF_SIGMA_VOXELS * s) ** 2) for s in grid.GetSpacing()])
    noiseless = sitk.GetArrayFromImage(blurred) * (1.0 + spec.bias_amplitude * np.tanh(bias.on_grid(to_head) / 2.0))
    noisy = magnitude_with_noise(noiseless, spec.noise_sigma, rng)
    truth = sitk.GetImageFromArray(labels.reshape(to_head.shape_kji))
    truth.CopyInformation(grid)
    return EvaluationSubject(_image_like(grid, noisy), _image_like(grid, noiseless), truth,
                             {eye: tuple(float(v) for v in c) for eye, c in centres_ras.items()}, spec)


def _image_like(reference: sitk.Image, array_kji: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(np.asarray(array_kji, dtype=np.float32))
    image.CopyInformation(reference)
    return image


_BASE = EvaluationSpec()
#: Named evaluation cases: contrasts, 1 mm whole heads, the clinical 0.5 × 0.5 × 3 mm orbit protocol, orbit-only and
#: cut fields of view, an oblique grid, orbits rotated by 15° and scaled by ±15 %, strong pose/noise/bias.
EVALUATION_CASES: tuple[EvaluationSpec, ...] = tuple(replace(_BASE, **kw) for kw in (
    dict(case_id="t1-head-1mm-RAS", seed=201),
    dict(case_id="t2-head-1mm-LPS", seed=202, contrast="T2", orientation="LPS"),
    dict(case_id="pd-head-1mm-PIR", seed=203, contrast="PD", orientation="PIR"),
    dict(case_id="t1-head-0.9x0.9x1.2mm-LAS", seed=204, orientation="LAS", spacing_mm=(0.9, 0.9, 1.2)),
    dict(case_id="t1-orbit-axial-0.5x0.5x3mm", seed=205, fov="orbits", orientation="LPS", spacing_mm=(0.5, 0.5, 3.0)),
    dict(case_id="t2-orbit-coronal-0.5x0.5x3mm", seed=206, contrast="T2", fov="orbits", orientation="LIP",
         spacing_mm=(0.5, 0.5, 3.0)),
    dict(case_id="pd-orbit-axial-0.5x0.5x3mm", seed=207, contrast="PD", fov="orbits", orientation="RAS",
         spacing_mm=(0.5, 0.5, 3.0)),
    dict(case_id="t1-orbits-only-1mm", seed=208, fov="orbits"),
    dict(case_id="t2-cut-left-orbit-1mm", seed=209, contrast="T2", fov="cut_orbit"),
    dict(case_id="t1-head-1mm-oblique", seed=210, oblique_deg=(12.0, -8.0, 10.0)),
    dict(case_id="t1-eyes-rotated-15deg", seed=211, eye_rotation_deg=15.0),
    dict(case_id="t2-eyes-rotated-15deg", seed=212, contrast="T2", eye_rotation_deg=15.0),
    dict(case_id="t1-eyes-scaled-1.15", seed=213, eye_scale=1.15),
    dict(case_id="t1-eyes-scaled-0.85", seed=214, eye_scale=0.85),
    dict(case_id="t2-head-pose-15deg-noisy", seed=215, contrast="T2", head_rotation_deg=15.0, noise_sigma=45.0,
         bias_amplitude=0.3),
))
