"""Analytic eyes of known geometry for validating biometry: ellipsoids, a curved tube and flat muscles.

Each eye is drawn in its own frame (mm): t along the eye axis (anterior), a horizontal (the patient's right made
perpendicular to the axis, as ``biometry`` defines it) and b vertical. Labels follow MR-Eye: the lens (1) is an
ellipsoid; the globe (2) is the chamber behind the lens, an ellipsoid cut at the lens's equatorial plane; the optic
nerve (3) a tube along a circular arc; the recti (6-9) ellipsoids converging towards the apex. In front of the lens
lie the aqueous (the fluid of the globe), a 0.55 mm cornea and, with closed lids, the lid; else air. So every
biometric measure has an exact value (``truth``). Both eyes are sampled on any grid (spacing, rotation), the left
eye mirrored, with a point-spread function and optional noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import SimpleITK as sitk

from ..geometry import LPS_TO_RAS, rotation_xyz, voxel_centres_lps
from ..structures import EYE_LABEL_OFFSET

#: Intensity of each tissue (T1-like: dark fluid, bright lens and fat).
INTENSITY = {"air": 0.0, "fat": 1000.0, "fluid": 160.0, "lens": 660.0, "cornea": 80.0, "lid": 500.0,
             "nerve": 580.0, "muscle": 420.0}
CORNEA_THICKNESS_MM = 0.55
CORNEA_RADIUS_MM = 7.8
LID_THICKNESS_MM = 2.0


@dataclass(frozen=True)
class Muscle:
    """A rectus as an ellipsoid: centre (a, b, t) in the eye frame, long-axis direction, semi-axes (mm)."""

    label: int
    centre_mm: tuple[float, float, float]
    direction: tuple[float, float, float]
    half_length_mm: float
    half_width_mm: float
    half_thickness_mm: float


@dataclass(frozen=True)
class AnalyticEye:
    """One eye's geometry (eye frame, mm) and pose. ``yaw_deg``/``pitch_deg`` turn the axis from anterior."""

    centre_ras_mm: tuple[float, float, float] = (32.0, 55.0, 0.0)
    yaw_deg: float = 10.0  # towards the patient's left for the right eye (mirrored for the left eye)
    pitch_deg: float = -6.0  # towards superior
    globe_semi_mm: tuple[float, float, float] = (10.9, 10.5, 10.2)  # a, b, t
    lens_centre_t_mm: float = 6.6
    lens_semi_mm: tuple[float, float, float] = (4.6, 4.4, 2.0)
    cornea_apex_t_mm: float = 11.6
    closed_lids: bool = True
    nerve_radius_mm: float = 1.9
    nerve_bend_radius_mm: float = 40.0
    nerve_arc_deg: float = 50.0
    muscles: tuple[Muscle, ...] = field(default_factory=lambda: (
        Muscle(6, (12.5, 0.0, -13.0), (-0.35, 0.0, -1.0), 17.0, 4.6, 1.7),
        Muscle(7, (-13.5, 0.0, -13.0), (0.2, 0.0, -1.0), 17.0, 5.4, 2.1),
        Muscle(8, (0.0, -12.0, -13.0), (0.0, 0.3, -1.0), 16.0, 5.0, 1.9),
        Muscle(9, (0.0, 12.5, -13.0), (0.0, -0.3, -1.0), 17.0, 5.2, 2.0)))

    def truth(self) -> dict[str, float]:
        """The exact value of each biometric measure (mm, mm²)."""
        lens_front = self.lens_centre_t_mm + self.lens_semi_mm[2]
        axial = lens_front + self.globe_semi_mm[2]
        values = {"axial_length": axial, "lens_thickness": 2 * self.lens_semi_mm[2],
                  "lens_diameter": 2 * float(np.sqrt(self.lens_semi_mm[0] * self.lens_semi_mm[1])),
                  "globe_horizontal_diameter": 2 * self.globe_semi_mm[0],
                  "globe_vertical_diameter": 2 * self.globe_semi_mm[1],
                  "optic_nerve_mean_diameter": 2 * self.nerve_radius_mm}
        if self.closed_lids:
            values["anterior_offset"] = self.cornea_apex_t_mm - lens_front
            values["axial_length_with_cornea"] = axial + values["anterior_offset"]
        names = {6: "lateral_rectus", 7: "medial_rectus", 8: "inferior_rectus", 9: "superior_rectus"}
        values.update({f"{names[m.label]}_max_area": float(np.pi * m.half_width_mm * m.half_thickness_mm)
                       for m in self.muscles})
        return values

    def frame_ras(self, mirror: bool) -> np.ndarray:
        """Columns a, b, t of the eye frame in RAS (the left eye: ``mirror``, its yaw towards the patient's right)."""
        yaw, pitch = np.deg2rad(self.yaw_deg), np.deg2rad(self.pitch_deg)
        axis = np.array([-np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), np.sin(pitch)])
        if mirror:
            axis[0] = -axis[0]
        right = np.array([1.0, 0.0, 0.0])
        horizontal = right - (right @ axis) * axis
        horizontal /= np.linalg.norm(horizontal)
        vertical = np.cross(axis, horizontal)
        vertical *= np.sign(vertical[2])
        return np.column_stack([horizontal, vertical, axis])

    def tissues(self, points_eye_mm: np.ndarray, lateral_sign: float) -> tuple[np.ndarray, np.ndarray]:
        """MR-Eye label (0-9) and intensity of each point (n, 3; a, b, t). ``lateral_sign`` +1: lateral is +a."""
        a, b, t = points_eye_mm.T
        labels = np.zeros(len(points_eye_mm), dtype=np.uint8)
        intensity = np.full(len(points_eye_mm), INTENSITY["fat"])
        radial = np.hypot(a, b)
        apex = self.cornea_apex_t_mm
        cornea_centre = apex - CORNEA_RADIUS_MM
        from_cornea_centre = np.sqrt(radial ** 2 + (t - cornea_centre) ** 2)
        front = (t > self.lens_centre_t_mm) & (radial < 14.0)
        intensity[front] = INTENSITY["air"]
        intensity[front & (t <= apex + LID_THICKNESS_MM) & self.closed_lids] = INTENSITY["lid"]
        intensity[front & (from_cornea_centre <= CORNEA_RADIUS_MM)] = INTENSITY["cornea"]
        intensity[front & (from_cornea_centre <= CORNEA_RADIUS_MM - CORNEA_THICKNESS_MM)] = INTENSITY["fluid"]
        for muscle in self.muscles:
            centre = np.array(muscle.centre_mm) * [lateral_sign, 1.0, 1.0]
            long_axis = np.array(muscle.direction) * [lateral_sign, 1.0, 1.0]
            long_axis /= np.linalg.norm(long_axis)
            across = np.array([0.0, 1.0, 0.0]) if muscle.label in (6, 7) else np.array([1.0, 0.0, 0.0])
            thick = np.cross(long_axis, across)
            thick /= np.linalg.norm(thick)
            width = np.cross(thick, long_axis)
            d = points_eye_mm - centre
            inside = ((d @ long_axis / muscle.half_length_mm) ** 2 + (d @ width / muscle.half_width_mm) ** 2
                      + (d @ thick / muscle.half_thickness_mm) ** 2) <= 1.0
            labels[inside], intensity[inside] = muscle.label, INTENSITY["muscle"]
        nerve = self._in_nerve(points_eye_mm, lateral_sign)
        labels[nerve], intensity[nerve] = 3, INTENSITY["nerve"]
        ga, gb, gt = self.globe_semi_mm
        globe = ((a / ga) ** 2 + (b / gb) ** 2 + (t / gt) ** 2 <= 1.0) & (t <= self.lens_centre_t_mm)
        labels[globe], intensity[globe] = 2, INTENSITY["fluid"]
        la, lb, lt = self.lens_semi_mm
        lens = (a / la) ** 2 + (b / lb) ** 2 + ((t - self.lens_centre_t_mm) / lt) ** 2 <= 1.0
        labels[lens], intensity[lens] = 1, INTENSITY["lens"]
        return labels, intensity

    def _in_nerve(self, p: np.ndarray, lateral_sign: float) -> np.ndarray:
        """Points within the nerve radius of an arc leaving the back of the globe and bending nasally."""
        start = np.array([-2.5 * lateral_sign, 0.0, -self.globe_semi_mm[2] + 0.5])
        nasal = np.array([-lateral_sign, 0.0, 0.0])
        posterior = np.array([0.0, 0.0, -1.0])
        centre = start + self.nerve_bend_radius_mm * nasal
        d = p - centre
        u, w = d @ -nasal, d @ posterior  # in the arc's plane: the arc is (R cos φ, R sin φ)
        out_of_plane = d[:, 1]
        phi = np.arctan2(w, u)
        along = (phi >= 0) & (phi <= np.deg2rad(self.nerve_arc_deg))
        return along & (np.hypot(np.hypot(u, w) - self.nerve_bend_radius_mm, out_of_plane) <= self.nerve_radius_mm)


#: Draws one eye: points (n, 3) in its frame (a, b, t mm) and the side of lateral (+1: +a) → labels 0-9, intensity.
EyeDrawing = Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]


@dataclass
class AnalyticEyesImage:
    """Both eyes on one grid: labels (right 1-9, left 11-19), image, and each eye's true measures."""

    labels: sitk.Image
    image: sitk.Image
    truth: dict[str, dict[str, float]]


def rotation_matrix(angles_deg: Sequence[float]) -> np.ndarray:
    """Rotation about x, then y, then z (degrees)."""
    return rotation_xyz(np.deg2rad(angles_deg))


def eyes_on_grid(eyes: Mapping[str, tuple[Sequence[float], np.ndarray, EyeDrawing]],
                 spacing_mm: Sequence[float] = (1.0, 1.0, 1.0), grid_rotation_deg: Sequence[float] = (0.0, 0.0, 0.0),
                 noise_sigma: float = 0.0, seed: int = 0, psf_fraction: float = 0.4,
                 box_ras_mm: tuple[Sequence[float], Sequence[float]] = ((-56.0, 10.0, -24.0), (56.0, 72.0, 24.0)),
                 background: float = INTENSITY["fat"]) -> tuple[sitk.Image, sitk.Image]:
    """Labels and image of the eyes (eye → centre RAS mm, frame columns a, b, t in RAS, drawing) on a grid.

    The grid has ``spacing_mm``, its axes turned by ``grid_rotation_deg`` from LPS, and covers ``box_ras_mm`` (low,
    high corners). The image is blurred by a Gaussian of ``psf_fraction`` × the voxel size per axis and given
    Gaussian noise of ``noise_sigma``. The left eye's lateral side is the patient's left (its drawing is mirrored).
    """
    lo, hi = (np.asarray(c, dtype=float) for c in box_ras_mm)
    direction = rotation_matrix(grid_rotation_deg)
    spacing = np.asarray(spacing_mm, dtype=float)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    corners_lps = corners @ LPS_TO_RAS
    local = corners_lps @ direction  # coordinates along the grid axes
    size = np.ceil((local.max(axis=0) - local.min(axis=0)) / spacing).astype(int) + 1
    grid = sitk.Image([int(n) for n in size], sitk.sitkFloat32)
    grid.SetSpacing(tuple(spacing))
    grid.SetDirection(tuple(direction.ravel()))
    grid.SetOrigin(tuple(direction @ local.min(axis=0)))
    points_ras = voxel_centres_lps(grid).reshape(-1, 3) @ LPS_TO_RAS
    labels = np.zeros(len(points_ras), dtype=np.uint8)
    intensity = np.full(len(points_ras), background)
    for eye, (centre_ras_mm, frame_ras, draw) in eyes.items():
        q = np.einsum("ni,ij->nj", points_ras - np.asarray(centre_ras_mm), frame_ras)
        near = np.flatnonzero(np.all(np.abs(q) <= [34.0, 34.0, 56.0], axis=1))
        eye_labels, eye_intensity = draw(q[near], -1.0 if eye == "left" else 1.0)
        eye_labels = np.where(eye_labels > 0, eye_labels + EYE_LABEL_OFFSET[eye], 0)
        labels[near], intensity[near] = eye_labels, eye_intensity
    shape = tuple(int(n) for n in size[::-1])
    label_image = sitk.GetImageFromArray(labels.reshape(shape))
    label_image.CopyInformation(grid)
    image = sitk.GetImageFromArray(intensity.reshape(shape).astype(np.float32))
    image.CopyInformation(grid)
    image = sitk.DiscreteGaussian(image, [float((psf_fraction * s) ** 2) for s in spacing], 32, 0.01, True)
    if noise_sigma > 0:
        array = sitk.GetArrayFromImage(image)
        array += np.random.default_rng(seed).normal(0.0, noise_sigma, array.shape).astype(np.float32)
        noisy = sitk.GetImageFromArray(array)
        noisy.CopyInformation(image)
        image = noisy
    return label_image, image


def analytic_eyes_image(right: AnalyticEye, left: AnalyticEye, spacing_mm: Sequence[float] = (1.0, 1.0, 1.0),
                        grid_rotation_deg: Sequence[float] = (0.0, 0.0, 0.0), noise_sigma: float = 0.0,
                        seed: int = 0) -> AnalyticEyesImage:
    """Both analytic eyes on a grid (``eyes_on_grid``), with their true measures; the left eye mirrored."""
    eyes = {eye: (np.array(spec.centre_ras_mm) * ([-1.0, 1.0, 1.0] if eye == "left" else 1.0),
                  spec.frame_ras(mirror=eye == "left"), spec.tissues)
            for eye, spec in (("right", right), ("left", left))}
    labels, image = eyes_on_grid(eyes, spacing_mm, grid_rotation_deg, noise_sigma, seed)
    return AnalyticEyesImage(labels, image, {"right": right.truth(), "left": left.truth()})
