"""Analytic right orbit of the evaluation family.

A globe with a corneal bulge (axial length 23.4 mm), a biconvex lens, a conical bony orbit (opening 38 × 33 mm,
lateral rim posterior), four recti from an annulus at the apex that wrap onto the globe and insert at Tillaux-like
distances, the superior and inferior obliques, the levator, the lacrimal gland, an S-shaped optic nerve into its
canal, intra- and extraconal fat, and eyelids with an optional open fissure.

Points are in the **right-eye frame** (mm): origin at the centre of the scleral ellipsoid, +x lateral (the
subject's right), +y anterior, +z superior; a left eye is evaluated at mirrored points (x → −x). Only the nine
MR-Eye structures are labelled (1 lens … 9 superior rectus), as MR-Eye defines them: its globe is the vitreous chamber
behind the lens and ciliary ring; sclera, cornea, aqueous, obliques, levator, gland, lids and bone are label 0.
Shapes and construction are independent of ``eye_model`` (the tuning family), so it can judge what was tuned on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .contrasts import AIR, AQUEOUS, BONE, FAT, GLAND, HEAD, LENS, MUSCLE, NERVE, SCLERA, SOFT, UVEA, VITREOUS
from .shapes import along_segment, ellipsoid_radius, in_tube, perpendicular_frame

GLOBE_SEMI_AXES_MM = np.array([10.8, 10.5, 10.6])  # scleral ellipsoid: lateral, antero-posterior, vertical
SCLERA_MM = 0.9
CORNEA_RADIUS_MM = 6.8
CORNEA_APEX_Y_MM = 12.9  # axial length 10.5 + 12.9 = 23.4 mm
CORNEA_MM = 0.6
LENS_FRONT_Y_MM = 9.2  # anterior chamber 3.1 mm behind the cornea
LENS_THICKNESS_MM = 3.6
LENS_RADII_MM = (10.0, 6.0)  # anterior and posterior surface curvature
LENS_DECENTRE_X_MM = 0.3
UVEA_Y_MM = (7.5, 8.3)  # ciliary body / iris root ring between the lens equator and the wall
ORBIT_APEX_MM = np.array([-13.5, -35.5, 1.5])
RIM_CENTRE_MM = np.array([1.5, 2.5, 0.5])
RIM_SEMI_AXES_MM = np.array([18.5, 16.5])  # opening 38 × 33 mm
RIM_TILT_DEG = 15.0
APEX_RADIUS_MM = 3.0
ORBIT_PROFILE_EXPONENT = 1.4  # cross-section ∝ depth^exponent from the apex
WALL_MM = 2.2
ANNULUS_RADIUS_MM = 3.5
ANNULUS_DEPTH_MM = 2.0  # annulus of Zinn, in front of the apex
TANGENT_Y_MM = -4.0  # where the recti reach the globe
TENDON_MM = 1.0  # thickness of a rectus tendon on the globe
NERVE_EXIT_MM = np.array([-3.0, -9.6, 1.0])
NERVE_CANAL_MM = 8.0
NERVE_RADII_MM = (2.35, 2.0)  # at the globe, at the end of the canal
NERVE_SAG_MM = 2.0
LID_DOME_CENTRE_MM = np.array([1.0, 0.0, 0.5])
LID_DOME_SEMI_AXES_MM = np.array([20.5, 16.0, 18.0])
FRONT_FOOTPRINT = 1.15  # lids and air in front of the rim out to this multiple of the rim ellipse
#: Box (right-eye frame, mm) that holds everything above; outside it the orbit model is HEAD everywhere.
BOX_MM = ((-30.0, 27.0), (-47.0, 20.0), (-23.0, 23.0))

_AXIS = RIM_CENTRE_MM - ORBIT_APEX_MM
_DEPTH_MM = float(np.linalg.norm(_AXIS))
_AXIS = _AXIS / _DEPTH_MM
_SIDE, _UP = perpendicular_frame(_AXIS)  # _SIDE points laterally
_TILT = np.deg2rad(RIM_TILT_DEG)
_RIM_NORMAL = np.array([np.sin(_TILT), np.cos(_TILT), 0.0])
_Y = np.array([0.0, 1.0, 0.0])


def _orbit_semi_axes(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical semi-axes (mm) of the orbit cross-section at fractional depth ``u`` (0 apex, 1 rim)."""
    f = np.clip(u, 0.0, 1.0) ** ORBIT_PROFILE_EXPONENT
    return (APEX_RADIUS_MM + (RIM_SEMI_AXES_MM[0] - APEX_RADIUS_MM) * f,
            APEX_RADIUS_MM + (RIM_SEMI_AXES_MM[1] - APEX_RADIUS_MM) * f)


def _orbit_point(u: float, angle_deg: float, rho: float) -> np.ndarray:
    """Eye-frame point at depth ``u``, angle (0° lateral, 90° superior) and elliptic radius ``rho`` of the orbit."""
    w, h = _orbit_semi_axes(np.array(u))
    a = np.deg2rad(angle_deg)
    return ORBIT_APEX_MM + u * _DEPTH_MM * _AXIS + rho * (w * np.cos(a) * _SIDE + h * np.sin(a) * _UP)


def _globe_surface_point(direction: np.ndarray, lift_mm: float) -> np.ndarray:
    """Point ``lift_mm`` outside the scleral ellipsoid along ``direction`` from the globe centre."""
    d = np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    return d * (1.0 / np.sqrt(np.sum((d / GLOBE_SEMI_AXES_MM) ** 2)) + lift_mm)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class FlatMuscle:
    """A flat muscle belly along start→end: thickness along ``outward``, tendon-thin at both ends."""

    start_mm: np.ndarray
    end_mm: np.ndarray
    outward: np.ndarray  # thickness direction (made perpendicular to the belly)
    half_thickness_mm: float  # at the belly
    half_width_mm: tuple[float, float]  # at the start, from 60 % of the length on
    tendon_half_thickness_mm: float = 0.5 * TENDON_MM

    def contains(self, p: np.ndarray) -> np.ndarray:
        """Points inside the belly."""
        t, offset = along_segment(p, self.start_mm, self.end_mm)
        s = (self.end_mm - self.start_mm) / np.linalg.norm(self.end_mm - self.start_mm)
        n = self.outward - (self.outward @ s) * s
        n = n / np.linalg.norm(n)
        tc = np.clip(t, 0.0, 1.0)
        belly = np.sin(np.pi * tc ** 1.357) ** 0.8  # peaks at 60 % of the length
        half_t = self.tendon_half_thickness_mm + (self.half_thickness_mm - self.tendon_half_thickness_mm) * belly
        half_w = self.half_width_mm[0] + (self.half_width_mm[1] - self.half_width_mm[0]) * _smoothstep(tc / 0.6)
        a, b = offset @ n, offset @ np.cross(s, n)
        return (t >= 0.0) & (t <= 1.0) & ((a / half_t) ** 2 + (b / half_w) ** 2 <= 1.0)


@dataclass(frozen=True)
class Rectus:
    """A rectus: a flat belly from the annulus to the globe behind the equator, then a tendon band on the sclera."""

    label: int
    direction: np.ndarray  # cardinal direction in the eye frame (lateral, medial, inferior, superior)
    insertion_y_mm: float
    half_thickness_mm: float
    half_width_mm: float
    insertion_half_width_mm: float

    @property
    def origin_mm(self) -> np.ndarray:
        on_annulus = self.direction[0] * _SIDE + self.direction[2] * _UP
        return ORBIT_APEX_MM + ANNULUS_DEPTH_MM * _AXIS + ANNULUS_RADIUS_MM * on_annulus

    @property
    def tangent_mm(self) -> np.ndarray:
        ring = np.sqrt(1.0 - (TANGENT_Y_MM / GLOBE_SEMI_AXES_MM[1]) ** 2)
        radius = ring / np.sqrt(np.sum((self.direction / GLOBE_SEMI_AXES_MM) ** 2))
        return TANGENT_Y_MM * _Y + self.direction * (radius + 0.5 * TENDON_MM)

    def contains(self, p: np.ndarray) -> np.ndarray:
        """Points inside the belly or the tendon band."""
        belly = FlatMuscle(self.origin_mm, self.tangent_mm, self.direction, self.half_thickness_mm,
                           (1.5, self.half_width_mm)).contains(p)
        y = p[:, 1]
        f = np.clip((y - TANGENT_Y_MM) / (self.insertion_y_mm - TANGENT_Y_MM), 0.0, 1.0)
        half_w = self.half_width_mm + (self.insertion_half_width_mm - self.half_width_mm) * f
        shell = ellipsoid_radius(p, np.zeros(3), GLOBE_SEMI_AXES_MM)
        band = ((y >= TANGENT_Y_MM) & (y <= self.insertion_y_mm) & (p @ self.direction > 0.0)
                & (np.abs(p @ np.cross(_Y, self.direction)) <= half_w)
                & (shell >= 1.0) & (shell <= 1.0 + TENDON_MM / GLOBE_SEMI_AXES_MM.mean()))
        return belly | band


#: Insertions behind the limbus as Tillaux's spiral: medial 5.5, inferior 6.5, lateral 6.9, superior 7.7 mm.
RECTI: tuple[Rectus, ...] = (
    Rectus(6, np.array([1.0, 0.0, 0.0]), 3.4, 1.5, 4.2, 4.6),  # lateral
    Rectus(7, np.array([-1.0, 0.0, 0.0]), 4.7, 2.15, 5.1, 5.1),  # medial
    Rectus(8, np.array([0.0, 0.0, -1.0]), 3.8, 1.95, 4.9, 4.9),  # inferior
    Rectus(9, np.array([0.0, 0.0, 1.0]), 2.7, 2.3, 5.5, 5.3),  # superior
)


def _in_muscle_cone(p: np.ndarray) -> np.ndarray:
    """Points inside the cone spanned by the four recti (annulus → where they reach the globe), up to the equator."""
    annulus = ORBIT_APEX_MM + ANNULUS_DEPTH_MM * _AXIS
    base = TANGENT_Y_MM * _Y
    e1, e2 = perpendicular_frame(base - annulus)
    t, offset = along_segment(p, annulus, base)
    tc = np.clip(t, 0.0, 1.0)

    def reach(rectus: Rectus, axis: np.ndarray) -> np.ndarray:
        """Distance of the rectus centreline from the cone axis along ``axis``, at each point's depth."""
        return np.abs((1 - tc) * ((rectus.origin_mm - annulus) @ axis) + tc * ((rectus.tangent_mm - base) @ axis))

    lateral, medial, inferior, superior = RECTI
    h, v = offset @ e1, offset @ e2
    h_semi = np.where(h > 0, reach(lateral, e1), reach(medial, e1))
    v_semi = np.where(v > 0, reach(superior, e2), reach(inferior, e2))
    beyond_base = -TANGENT_Y_MM / np.linalg.norm(base - annulus)  # continue to the equator plane
    return (t >= 0.0) & (t <= 1.0 + beyond_base) & ((h / h_semi) ** 2 + (v / v_semi) ** 2 <= 1.0)


def _in_optic_nerve(p: np.ndarray) -> np.ndarray:
    """An S-shaped nerve from the back of the globe through the apex to the end of the optic canal."""
    end = ORBIT_APEX_MM - NERVE_CANAL_MM * _AXIS
    chord = end - NERVE_EXIT_MM
    t_apex = (ORBIT_APEX_MM - NERVE_EXIT_MM) @ chord / (chord @ chord)
    sag_dir = np.array([0.6, 0.0, -0.8]) - (np.array([0.6, 0.0, -0.8]) @ chord) / (chord @ chord) * chord
    sag_dir = sag_dir / np.linalg.norm(sag_dir)
    t, offset = along_segment(p, NERVE_EXIT_MM, end)
    offset = offset - (NERVE_SAG_MM * np.sin(np.pi * np.clip(t / t_apex, 0.0, 1.0)))[:, None] * sag_dir
    radius = NERVE_RADII_MM[0] + (NERVE_RADII_MM[1] - NERVE_RADII_MM[0]) * np.clip(t, 0.0, 1.0)
    return (t >= 0.0) & (t <= 1.0) & (np.einsum("ij,ij->i", offset, offset) <= radius ** 2)


def _unlabelled_muscles(p: np.ndarray) -> np.ndarray:
    """Superior oblique (belly, trochlea, reflected tendon), inferior oblique and levator palpebrae."""
    trochlea = _orbit_point(0.95, 130.0, 0.82)
    so_insertion = _globe_surface_point([0.45, -0.35, 0.82], 0.4)
    so_mid = _globe_surface_point(0.5 * (trochlea + so_insertion), 1.5)
    superior_oblique = (in_tube(p, _orbit_point(0.12, 125.0, 0.6), trochlea, 1.0, 1.9)
                        | in_tube(p, trochlea, so_mid, 0.8, 0.8) | in_tube(p, so_mid, so_insertion, 0.8, 0.8))
    io_mid = _globe_surface_point([0.15, -0.05, -1.0], 1.6)
    inferior_oblique = (in_tube(p, _orbit_point(0.9, 240.0, 0.88), io_mid, 1.3, 1.7)
                        | in_tube(p, io_mid, _globe_surface_point([0.75, -0.45, -0.45], 0.9), 1.7, 1.1))
    superior_rectus = RECTI[3]
    levator = FlatMuscle(superior_rectus.origin_mm + 2.2 * _UP, _orbit_point(0.97, 92.0, 0.8), _UP, 1.1,
                         (1.5, 4.5)).contains(p)
    return superior_oblique | inferior_oblique | levator


def _in_lacrimal_gland(p: np.ndarray) -> np.ndarray:
    """An almond-shaped gland in the superolateral front of the orbit."""
    a = np.deg2rad(35.0)
    radial, tangent = np.cos(a) * _SIDE + np.sin(a) * _UP, -np.sin(a) * _SIDE + np.cos(a) * _UP
    d = p - _orbit_point(0.86, 35.0, 0.78)
    return (d @ tangent / 7.5) ** 2 + (d @ _AXIS / 4.5) ** 2 + (d @ radial / 2.3) ** 2 <= 1.0


def _globe_tissue(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inside the globe's outer surface, tissue class inside it) for each point."""
    cornea_centre = np.array([0.0, CORNEA_APEX_Y_MM - CORNEA_RADIUS_MM, 0.0])
    to_cornea = np.linalg.norm(p - cornea_centre, axis=1)
    outer = (ellipsoid_radius(p, np.zeros(3), GLOBE_SEMI_AXES_MM) <= 1.0) | (to_cornea <= CORNEA_RADIUS_MM)
    inner = ((ellipsoid_radius(p, np.zeros(3), GLOBE_SEMI_AXES_MM - SCLERA_MM) <= 1.0)
             | (to_cornea <= CORNEA_RADIUS_MM - CORNEA_MM))
    y = p[:, 1]
    tissue = np.full(len(p), SCLERA, dtype=np.uint8)
    tissue[inner & (y < UVEA_Y_MM[0])] = VITREOUS
    tissue[inner & (y >= UVEA_Y_MM[0]) & (y <= UVEA_Y_MM[1])] = UVEA
    tissue[inner & (y > UVEA_Y_MM[1])] = AQUEOUS
    return outer, tissue


def _in_lens(p: np.ndarray) -> np.ndarray:
    """Biconvex lens: intersection of the anterior and posterior surface spheres."""
    front, back = LENS_FRONT_Y_MM, LENS_FRONT_Y_MM - LENS_THICKNESS_MM
    anterior = np.array([LENS_DECENTRE_X_MM, front - LENS_RADII_MM[0], 0.0])
    posterior = np.array([LENS_DECENTRE_X_MM, back + LENS_RADII_MM[1], 0.0])
    return ((np.linalg.norm(p - anterior, axis=1) <= LENS_RADII_MM[0])
            & (np.linalg.norm(p - posterior, axis=1) <= LENS_RADII_MM[1]))


def in_box(points_eye_mm: np.ndarray) -> np.ndarray:
    """Points inside ``BOX_MM`` (outside it the orbit model leaves the head model in place)."""
    return np.all([(points_eye_mm[:, a] >= lo) & (points_eye_mm[:, a] < hi) for a, (lo, hi) in enumerate(BOX_MM)],
                  axis=0)


def right_orbit_labels_and_tissues(points_eye_mm: np.ndarray, fissure_mm: float = 0.0
                                   ) -> tuple[np.ndarray, np.ndarray]:
    """MR-Eye label (0-9) and tissue class (``HEAD`` where the head model applies) of points (n, 3), right-eye frame.

    ``fissure_mm`` is the height of the open palpebral fissure (0: eyes closed).
    """
    p_all = np.asarray(points_eye_mm, dtype=float).reshape(-1, 3)
    labels_all = np.zeros(len(p_all), dtype=np.uint8)
    tissue_all = np.full(len(p_all), HEAD, dtype=np.uint8)
    rel = p_all - ORBIT_APEX_MM
    u = rel @ _AXIS / _DEPTH_MM
    w, h = _orbit_semi_axes(u)
    rho = np.hypot(rel @ _SIDE / w, rel @ _UP / h)
    wall_rho = 1.0 + WALL_MM / np.minimum(w, h)
    near = np.flatnonzero((u >= -(NERVE_CANAL_MM + 1.0) / _DEPTH_MM) & (rho <= np.maximum(wall_rho, FRONT_FOOTPRINT)))
    p, u, rho, wall_rho = p_all[near], u[near], rho[near], wall_rho[near]
    labels = np.zeros(len(p), dtype=np.uint8)
    tissue = np.full(len(p), HEAD, dtype=np.uint8)

    behind_rim = (p - RIM_CENTRE_MM) @ _RIM_NORMAL <= 0.0
    cavity = behind_rim & (u >= 0.0) & (rho <= 1.0)
    tissue[behind_rim & ~cavity & (u >= -WALL_MM / _DEPTH_MM) & (rho <= wall_rho)] = BONE
    in_wall = tissue == BONE
    front = ~behind_rim & (rho <= FRONT_FOOTPRINT)
    tissue[front] = AIR
    tissue[front & (ellipsoid_radius(p, LID_DOME_CENTRE_MM, LID_DOME_SEMI_AXES_MM) <= 1.0)] = SOFT
    fissure = front & (np.abs(p[:, 2] - LID_DOME_CENTRE_MM[2]) < fissure_mm / 2) & (np.abs(p[:, 0] - 1.0) < 13.0) & (
        p[:, 1] > 5.0)
    tissue[fissure] = AIR
    tissue[cavity] = FAT
    labels[cavity] = 5
    labels[cavity & _in_muscle_cone(p)] = 4
    for shape, kind in ((_unlabelled_muscles(p), MUSCLE), (_in_lacrimal_gland(p), GLAND)):
        tissue[shape & cavity] = kind
        labels[shape & cavity] = 0
    for rectus in RECTI:  # a rectus may indent the wall, where it runs along it near the apex
        m = rectus.contains(p) & (cavity | front | in_wall)
        tissue[m] = MUSCLE
        labels[m] = rectus.label
    nerve = _in_optic_nerve(p)
    tissue[nerve] = NERVE
    labels[nerve] = 3
    globe, globe_tissue = _globe_tissue(p)
    tissue[globe] = globe_tissue[globe]
    labels[globe] = 0  # sclera, cornea, ciliary ring and aqueous: unlabelled in MR-Eye
    labels[globe & (globe_tissue == VITREOUS)] = 2  # MR-Eye's globe: the chamber behind the lens
    lens = _in_lens(p)
    tissue[lens] = LENS
    labels[lens] = 1
    labels_all[near], tissue_all[near] = labels, tissue
    return labels_all, tissue_all
