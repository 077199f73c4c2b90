"""Analytic whole-head phantom (outside the orbits): scalp, skull, brain, ventricles, air sinuses, nose.

Points are in the **head frame** (RAS-aligned mm, origin at the head centre). The sinuses are deliberate
distractors for globe localisation: dark round regions next to the orbits, as in real heads.
"""

from __future__ import annotations

import numpy as np

from .tissues import AIR, BONE, CSF, GM, SCALP, SOFT, WM

HEAD_SEMI_AXES_MM = np.array([78.0, 100.0, 90.0])
HEAD_CENTRE_MM = np.array([0.0, 0.0, 0.0])
#: Nominal globe centres in the head frame (RAS mm); phantoms jitter them.
RIGHT_GLOBE_HEAD_MM = np.array([32.0, 64.0, -34.0])
LEFT_GLOBE_HEAD_MM = np.array([-32.0, 64.0, -34.0])

# (centre RAS mm, semi-axes mm) of air spaces.
_AIR_CAVITIES = (
    ((27.0, 48.0, -66.0), (12.0, 15.0, 13.0)),  # right maxillary sinus
    ((-27.0, 48.0, -66.0), (12.0, 15.0, 13.0)),  # left maxillary sinus
    ((11.0, 56.0, -36.0), (4.5, 13.0, 9.0)),  # right ethmoid cells
    ((-11.0, 56.0, -36.0), (4.5, 13.0, 9.0)),  # left ethmoid cells
    ((0.0, 82.0, 0.0), (13.0, 5.0, 8.0)),  # frontal sinus
    ((0.0, 62.0, -62.0), (7.0, 22.0, 15.0)),  # nasal cavity
    ((0.0, 30.0, -46.0), (10.0, 9.0, 9.0)),  # sphenoid sinus
)


def _ellipsoid_ratio(p: np.ndarray, centre, semi) -> np.ndarray:
    return np.sqrt(np.sum(((p - np.asarray(centre)) / np.asarray(semi)) ** 2, axis=1))


def head_tissues(points_head_mm: np.ndarray) -> np.ndarray:
    """Tissue class of each point (n, 3) given in the head frame (mm)."""
    p = np.asarray(points_head_mm, dtype=float).reshape(-1, 3)
    tissue = np.full(len(p), AIR, dtype=np.uint8)
    r_head = _ellipsoid_ratio(p, HEAD_CENTRE_MM, HEAD_SEMI_AXES_MM)
    mean_semi = HEAD_SEMI_AXES_MM.mean()
    tissue[r_head <= 1.0] = SCALP
    tissue[r_head <= 1.0 - 5.0 / mean_semi] = BONE
    tissue[r_head <= 1.0 - 11.0 / mean_semi] = CSF
    # Lower face: soft tissue instead of skull/brain below the orbits and in front of the sinuses.
    face = (p[:, 2] < -28.0) & (r_head <= 1.0 - 5.0 / mean_semi)
    tissue[face] = SOFT
    brain_ratio = _ellipsoid_ratio(p, (0.0, -6.0, 10.0), HEAD_SEMI_AXES_MM - [14.0, 22.0, 26.0])
    # Cortex folds: a smooth radial modulation of the grey/white boundary.
    theta = np.arctan2(p[:, 1], p[:, 0])
    phi = np.arctan2(p[:, 2], np.hypot(p[:, 0], p[:, 1]))
    folds = 0.035 * np.sin(9 * theta) * np.cos(7 * phi)
    tissue[brain_ratio <= 1.0] = GM
    tissue[brain_ratio <= 0.86 + folds] = WM
    for sign in (1.0, -1.0):  # lateral ventricles
        tissue[_ellipsoid_ratio(p, (sign * 9.0, -4.0, 18.0), (5.0, 22.0, 8.0)) <= 1.0] = CSF
    for centre, semi in _AIR_CAVITIES:
        r = _ellipsoid_ratio(p, centre, semi)
        tissue[(r <= 1.25) & (r > 1.0) & (tissue != AIR)] = BONE
        tissue[r <= 1.0] = AIR
    nose = _ellipsoid_ratio(p, (0.0, 78.0, -62.0), (10.0, 20.0, 22.0)) <= 1.0
    tissue[nose & (r_head > 1.0)] = SOFT  # attached to the face, outside the head ellipsoid
    return tissue
