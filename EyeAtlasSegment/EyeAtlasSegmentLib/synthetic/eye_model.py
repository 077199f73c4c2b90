"""Analytic model of a right eye and orbit: the ground truth behind the synthetic atlas and subjects.

Points are given in the **right-eye frame** (mm): origin at the globe centre, axes aligned with RAS
(+x subject's right = lateral for the right eye, +y anterior, +z superior). A left eye is the same model
evaluated at mirrored points (x → −x).

The eyeball is drawn as an MRI shows it: a sclera of 23.8 mm outer diameter with a corneal bulge (axial length
24.2 mm), aqueous in front of the lens and vitreous behind it. The labels follow the MR-Eye atlas, whose "globe"
is the chamber behind the lens (population 4672 mm³, far less than the ≈7,000 mm³ eyeball): sclera, cornea and
anterior chamber are unlabelled. So on real heads a template whose globe label filled the whole eyeball would be
scaled by ≈1.2 to reach the eyeball wall and report twice the population volume.

The geometry is tuned so that the nine structure volumes are close to the MR-Eye normative means
(``mr_eye_normative.csv``, right eye, both sexes): lens 117, globe 4672, optic nerve 531, intraconal fat 2668,
extraconal fat 3386, lateral/medial/inferior/superior rectus 504/657/625/790 mm³, and the orbital opening to the
adult 35–40 × 33 mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tissues import AIR, BONE, FAT, LENS, MUSCLE, NERVE, NONE, SCLERA, SOFT, VITREOUS

#: Outer surface of the sclera: ellipsoid semi-axes (x, y=AP, z) in mm, centred on the eye-frame origin.
GLOBE_SEMI_AXES_MM = np.array([11.9, 11.3, 11.9])
SCLERA_THICKNESS_MM = 1.0
#: Cornea: a sphere (centre on the optical axis, y in mm) that bulges in front of the sclera; apex at y = 12.4.
CORNEA_CENTRE_Y_MM = 4.6
CORNEA_RADIUS_MM = 7.8
LENS_CENTRE_EYE_MM = np.array([0.0, 6.9, 0.0])
LENS_SEMI_AXES_MM = np.array([4.0, 1.75, 4.0])
#: The MR-Eye globe label ends anteriorly at the lens equator plane (the iris and ciliary body).
GLOBE_LABEL_FRONT_Y_MM = LENS_CENTRE_EYE_MM[1]
ORBIT_APEX_EYE_MM = np.array([-14.5, -42.0, 2.2])
OPTIC_NERVE_RADIUS_MM = 2.0
# Muscle cone (intraconal space): elliptic cone from the apex to a base ellipse behind the equator.
CONE_BASE_Y_MM = -1.0
CONE_BASE_CENTRE_XZ_MM = np.array([0.3, 0.0])
CONE_BASE_SEMI_AXES_XZ_MM = np.array([12.6, 12.2])
CONE_APEX_RADIUS_MM = 1.7
# Bony orbit: a wider cone from behind the apex to the orbital rim (opening 2 × semi-axes).
ORBIT_RIM_Y_MM = 4.0
ORBIT_RIM_CENTRE_XZ_MM = np.array([1.0, 0.3])
ORBIT_RIM_SEMI_AXES_XZ_MM = np.array([17.5, 16.5])
ORBIT_APEX_RADIUS_MM = 3.4
BONE_THICKNESS_MM = 3.0
#: How the bony orbit and the muscle cone widen from the apex (1: straight cones; more: narrower at depth).
ORBIT_PROFILE_EXPONENT = 2.0
CONE_PROFILE_EXPONENT = 1.5
LID_THICKNESS_MM = 2.0


@dataclass(frozen=True)
class Rectus:
    """A rectus muscle: centreline polyline (eye frame, mm), outward direction and cross-section half-sizes."""

    label: int
    centreline_eye_mm: np.ndarray  # (n, 3)
    outward: np.ndarray  # unit vector of the muscle's thickness direction
    half_thickness_mm: float
    half_width_mm: float


def _bezier(control_eye_mm: np.ndarray, n: int = 48) -> np.ndarray:
    """``n`` points along the Bézier curve of the control polygon (k, 3), by de Casteljau's algorithm."""
    t = np.linspace(0.0, 1.0, n)[:, None, None]
    pts = np.broadcast_to(np.asarray(control_eye_mm, dtype=float), (n, *np.shape(control_eye_mm)))
    while pts.shape[1] > 1:
        pts = (1 - t) * pts[:, :-1] + t * pts[:, 1:]
    return pts[:, 0]


def _rectus(label: int, direction_xz: tuple[float, float], half_thickness_mm: float,
            half_width_mm: float) -> Rectus:
    """A rectus lying on the muscle cone at the given cardinal direction, inserting anterior to the equator."""
    d = np.array([direction_xz[0], 0.0, direction_xz[1]])
    base_centre = np.array([CONE_BASE_CENTRE_XZ_MM[0], CONE_BASE_Y_MM, CONE_BASE_CENTRE_XZ_MM[1]])
    semi = np.array([CONE_BASE_SEMI_AXES_XZ_MM[0], 0.0, CONE_BASE_SEMI_AXES_XZ_MM[1]])
    origin = ORBIT_APEX_EYE_MM + d * (CONE_APEX_RADIUS_MM + half_thickness_mm)
    on_cone_base = base_centre + d * (semi + half_thickness_mm)
    equator = d * (GLOBE_SEMI_AXES_MM + half_thickness_mm)
    insertion = d * (GLOBE_SEMI_AXES_MM * 0.93) + np.array([0.0, 4.0, 0.0])
    control = np.stack([origin, 0.5 * (origin + on_cone_base), on_cone_base, equator + [0, 0.5, 0], insertion])
    centreline = np.concatenate([_bezier(control[:3], 32), _bezier(control[2:], 24)[1:]])
    return Rectus(label, centreline, d, half_thickness_mm, half_width_mm)


RECTI: tuple[Rectus, ...] = (
    _rectus(6, (1.0, 0.0), 1.32, 2.73),  # lateral
    _rectus(7, (-1.0, 0.0), 1.93, 4.16),  # medial
    _rectus(8, (0.0, -1.0), 1.63, 3.43),  # inferior
    _rectus(9, (0.0, 1.0), 1.84, 4.11),  # superior
)

OPTIC_NERVE_CENTRELINE_EYE_MM = _bezier(np.array([
    [-2.3, -9.5, 0.0], [-4.0, -22.6, 0.9], [-10.2, -33.9, 1.7], ORBIT_APEX_EYE_MM, [-18.0, -54.0, 2.8]]), 64)


def _segment_projection(points: np.ndarray, polyline: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest point on a polyline for each point: (distance, nearest point, curve parameter 0..1)."""
    a, b = polyline[:-1], polyline[1:]
    ab = b - a
    best_d2 = np.full(len(points), np.inf)
    best_pt = np.zeros_like(points)
    best_t = np.zeros(len(points))
    seg_len = np.linalg.norm(ab, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)]) / seg_len.sum()
    for i in range(len(ab)):
        ap = points - a[i]
        u = np.clip(ap @ ab[i] / (ab[i] @ ab[i]), 0.0, 1.0)
        near = a[i] + u[:, None] * ab[i]
        d2 = np.sum((points - near) ** 2, axis=1)
        better = d2 < best_d2
        best_d2[better] = d2[better]
        best_pt[better] = near[better]
        best_t[better] = cum[i] + u[better] * (cum[i + 1] - cum[i])
    return np.sqrt(best_d2), best_pt, best_t


def _in_ellipsoid(p: np.ndarray, centre: np.ndarray, semi: np.ndarray) -> np.ndarray:
    return np.sum(((p - centre) / semi) ** 2, axis=1) <= 1.0


def _cone_radius_ratio(p: np.ndarray, apex: np.ndarray, base_y: float, base_centre_xz: np.ndarray,
                       base_semi_xz: np.ndarray, apex_radius: float, profile_exponent: float) -> np.ndarray:
    """Elliptic radius of ``p`` relative to a cone from ``apex`` to a base ellipse at ``base_y`` (≤1 = inside).

    The cone's width grows as the ``profile_exponent`` power of the depth fraction (an orbit is widest just behind
    its rim). Anterior to the base it continues as an elliptic cylinder; behind the apex it is closed.
    """
    s = np.clip((p[:, 1] - apex[1]) / (base_y - apex[1]), 0.0, 1.0)
    centre_x = apex[0] + s * (base_centre_xz[0] - apex[0])
    centre_z = apex[2] + s * (base_centre_xz[1] - apex[2])
    widening = s ** profile_exponent
    semi_x = apex_radius + widening * (base_semi_xz[0] - apex_radius)
    semi_z = apex_radius + widening * (base_semi_xz[1] - apex_radius)
    ratio = np.sqrt(((p[:, 0] - centre_x) / semi_x) ** 2 + ((p[:, 2] - centre_z) / semi_z) ** 2)
    ratio[p[:, 1] < apex[1]] = np.inf
    return ratio


def _in_rectus(p: np.ndarray, muscle: Rectus) -> np.ndarray:
    """Points inside a flat muscle band whose cross-section tapers towards both ends."""
    lo = muscle.centreline_eye_mm.min(axis=0) - 6.0
    hi = muscle.centreline_eye_mm.max(axis=0) + 6.0
    inside = np.zeros(len(p), dtype=bool)
    box = np.all((p >= lo) & (p <= hi), axis=1)
    if not box.any():
        return inside
    q = p[box]
    _, near, t = _segment_projection(q, muscle.centreline_eye_mm)
    offset = q - near
    taper = 0.45 + 0.55 * np.sin(np.pi * np.clip(t, 0, 1)) ** 0.6
    thickness = np.abs(offset @ muscle.outward)
    width = np.linalg.norm(offset - np.outer(offset @ muscle.outward, muscle.outward), axis=1)
    inside[box] = (thickness / (muscle.half_thickness_mm * taper)) ** 2 + (
        width / (muscle.half_width_mm * taper)) ** 2 <= 1.0
    return inside


def right_eye_labels_and_tissues(points_eye_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MR-Eye label (0-9) and tissue class of each point (n, 3) in the right-eye frame (mm)."""
    p = np.asarray(points_eye_mm, dtype=float).reshape(-1, 3)
    labels = np.zeros(len(p), dtype=np.uint8)
    tissue = np.full(len(p), NONE, dtype=np.uint8)

    orbit_ratio = _cone_radius_ratio(p, ORBIT_APEX_EYE_MM - [0, 4, 0], ORBIT_RIM_Y_MM, ORBIT_RIM_CENTRE_XZ_MM,
                                     ORBIT_RIM_SEMI_AXES_XZ_MM, ORBIT_APEX_RADIUS_MM, ORBIT_PROFILE_EXPONENT)
    behind_rim = p[:, 1] <= ORBIT_RIM_Y_MM
    in_orbit = (orbit_ratio <= 1.0) & behind_rim
    mean_semi = ORBIT_RIM_SEMI_AXES_XZ_MM.mean()
    in_wall = (orbit_ratio <= 1.0 + BONE_THICKNESS_MM / mean_semi * 1.6) & ~in_orbit & (
        p[:, 1] <= ORBIT_RIM_Y_MM + BONE_THICKNESS_MM) & (p[:, 1] >= ORBIT_APEX_EYE_MM[1] - 10)
    tissue[in_wall] = BONE

    cone_ratio = _cone_radius_ratio(p, ORBIT_APEX_EYE_MM, CONE_BASE_Y_MM, CONE_BASE_CENTRE_XZ_MM,
                                    CONE_BASE_SEMI_AXES_XZ_MM, CONE_APEX_RADIUS_MM, CONE_PROFILE_EXPONENT)
    intraconal = in_orbit & (cone_ratio <= 1.0) & (p[:, 1] <= CONE_BASE_Y_MM)
    labels[in_orbit] = 5
    labels[intraconal] = 4
    tissue[in_orbit] = FAT

    for muscle in RECTI:
        m = _in_rectus(p, muscle) & (orbit_ratio <= 1.6) & (p[:, 1] <= ORBIT_RIM_Y_MM + 4.0)
        labels[m] = muscle.label
        tissue[m] = MUSCLE

    nerve_low, nerve_high = OPTIC_NERVE_CENTRELINE_EYE_MM.min(0) - 4, OPTIC_NERVE_CENTRELINE_EYE_MM.max(0) + 4
    nerve_box = np.all((p >= nerve_low) & (p <= nerve_high), axis=1)
    dist, _, _ = _segment_projection(p[nerve_box], OPTIC_NERVE_CENTRELINE_EYE_MM)
    nerve = np.zeros(len(p), dtype=bool)
    nerve[nerve_box] = dist <= OPTIC_NERVE_RADIUS_MM
    labels[nerve] = 3
    tissue[nerve] = NERVE

    # Eyelids and skin cover the front of the orbit; beyond them is air.
    globe_front_y = CORNEA_CENTRE_Y_MM + CORNEA_RADIUS_MM
    lid_zone = (p[:, 1] > ORBIT_RIM_Y_MM) & (orbit_ratio <= 1.25)
    lid = lid_zone & (p[:, 1] <= globe_front_y + LID_THICKNESS_MM)
    tissue[lid] = SOFT
    labels[lid] = 0
    tissue[lid_zone & (p[:, 1] > globe_front_y + LID_THICKNESS_MM)] = AIR

    cornea_centre = np.array([0.0, CORNEA_CENTRE_Y_MM, 0.0])
    eyeball = _in_ellipsoid(p, np.zeros(3), GLOBE_SEMI_AXES_MM) | (
        (np.linalg.norm(p - cornea_centre, axis=1) <= CORNEA_RADIUS_MM) & (p[:, 1] > 0))
    inner_sclera = _in_ellipsoid(p, np.zeros(3), GLOBE_SEMI_AXES_MM - SCLERA_THICKNESS_MM)
    fluid = inner_sclera | ((np.linalg.norm(p - cornea_centre, axis=1) <= CORNEA_RADIUS_MM - SCLERA_THICKNESS_MM)
                            & (p[:, 1] > 0))
    labels[eyeball] = 0
    tissue[eyeball] = SCLERA
    tissue[fluid] = VITREOUS  # vitreous behind the lens, aqueous in front of it
    labels[inner_sclera & (p[:, 1] <= GLOBE_LABEL_FRONT_Y_MM)] = 2
    lens = _in_ellipsoid(p, LENS_CENTRE_EYE_MM, LENS_SEMI_AXES_MM)
    labels[lens] = 1
    tissue[lens] = LENS
    return labels, tissue
