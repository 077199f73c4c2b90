"""A simple analytic whole head for the evaluation family: skin, scalp fat, skull, CSF, brain (grey and white
matter, ventricles), air sinuses with mucosa and bony walls, nasal cavity, nose and neck.

Points are in the **head frame** (RAS-aligned mm, origin at the head centre). Coarser than ``head_model`` on
purpose: ``orbit_anatomy`` replaces it around each eye; the sinuses are the dark round distractors next to them.
"""

from __future__ import annotations

import numpy as np

from .contrasts import AIR, BONE, CSF, GM, MUCOSA, SCALP_FAT, SKIN, SOFT, WM
from .shapes import ellipsoid_depth_mm

HEAD_SEMI_AXES_MM = (84.0, 99.0, 96.0)
NECK_CENTRE_Y_MM, NECK_SEMI_AXES_MM, NECK_TOP_Z_MM = -10.0, (56.0, 62.0), -40.0
#: Nominal right globe centre (head frame, mm); the left one is mirrored.
RIGHT_GLOBE_HEAD_MM = np.array([31.0, 68.0, -32.0])
SKIN_MM, SCALP_MM = 2.0, 5.0
BRAIN_CENTRE_MM, BRAIN_SEMI_AXES_MM = (0.0, -2.0, 14.0), (66.0, 84.0, 64.0)
CSF_MM, SKULL_MM, CORTEX_MM = 2.0, 7.0, 3.0
VENTRICLES = (((8.0, -2.0, 20.0), (5.0, 20.0, 8.0)), ((-8.0, -2.0, 20.0), (5.0, 20.0, 8.0)))
NOSE = ((0.0, 92.0, -60.0), (12.0, 16.0, 23.0))
#: (centre, semi-axes) in mm of the air spaces: maxillary ×2, ethmoid ×2, frontal, sphenoid, nasal cavity.
SINUSES = (
    ((28.0, 56.0, -69.0), (13.0, 16.0, 16.0)), ((-28.0, 56.0, -69.0), (13.0, 16.0, 16.0)),
    ((7.5, 60.0, -31.0), (4.5, 15.0, 10.0)), ((-7.5, 60.0, -31.0), (4.5, 15.0, 10.0)),
    ((0.0, 85.0, -6.0), (13.0, 4.5, 9.0)), ((0.0, 34.0, -55.0), (11.0, 9.0, 9.0)),
    ((0.0, 66.0, -64.0), (8.0, 26.0, 18.0)),
)
MUCOSA_MM, SINUS_WALL_MM = 1.0, 1.5


def _neck_depth_mm(p: np.ndarray) -> np.ndarray:
    """Signed distance (mm, negative inside) to the neck, an elliptic cylinder below ``NECK_TOP_Z_MM``."""
    xy = np.stack([p[:, 0], p[:, 1] - NECK_CENTRE_Y_MM, np.zeros(len(p))], axis=1)
    depth = ellipsoid_depth_mm(xy, (0.0, 0.0, 0.0), (*NECK_SEMI_AXES_MM, 1.0))
    return np.where(p[:, 2] < NECK_TOP_Z_MM, depth, np.inf)


def _near(p: np.ndarray, shapes, margin_mm: float) -> np.ndarray:
    """Indices of the points inside the bounding box of the (centre, semi-axes) ellipsoids, grown by a margin."""
    centres, semis = np.array([c for c, _ in shapes]), np.array([s for _, s in shapes])
    low, high = (centres - semis).min(axis=0) - margin_mm, (centres + semis).max(axis=0) + margin_mm
    return np.flatnonzero(np.all((p >= low) & (p <= high), axis=1))


def simple_head_tissues(points_head_mm: np.ndarray) -> np.ndarray:
    """Tissue class of each point (n, 3) in the head frame."""
    p = np.asarray(points_head_mm, dtype=float).reshape(-1, 3)
    surface = np.minimum(ellipsoid_depth_mm(p, (0.0, 0.0, 0.0), HEAD_SEMI_AXES_MM), _neck_depth_mm(p))
    nose = _near(p, [NOSE], 1.0)
    surface[nose] = np.minimum(surface[nose], ellipsoid_depth_mm(p[nose], *NOSE))
    tissue = np.full(len(p), AIR, dtype=np.uint8)
    tissue[surface <= 0] = SKIN
    tissue[surface <= -SKIN_MM] = SCALP_FAT
    tissue[surface <= -SCALP_MM] = SOFT
    brain = ellipsoid_depth_mm(p, BRAIN_CENTRE_MM, BRAIN_SEMI_AXES_MM)
    tissue[(brain <= CSF_MM + SKULL_MM) & (surface <= -SCALP_MM)] = BONE
    tissue[brain <= CSF_MM] = CSF
    inside = np.flatnonzero(brain <= 0)
    q = p[inside]
    folds = np.sin(0.31 * q[:, 0]) * np.sin(0.27 * q[:, 1] + 1.0) * np.sin(0.29 * q[:, 2] + 2.0)
    tissue[inside] = np.where(brain[inside] <= -CORTEX_MM * (1.0 + 0.6 * folds), WM, GM)
    near = _near(p, VENTRICLES, 0.0)
    ventricle = np.min([ellipsoid_depth_mm(p[near], c, s) for c, s in VENTRICLES], axis=0) <= 0
    tissue[near[ventricle]] = CSF
    near = _near(p, SINUSES, SINUS_WALL_MM + 1.0)
    sinus_depth = np.min([ellipsoid_depth_mm(p[near], c, s) for c, s in SINUSES], axis=0)
    sub = tissue[near]
    sub[(sinus_depth <= SINUS_WALL_MM) & (sinus_depth > 0) & (sub != AIR)] = BONE
    sub[sinus_depth <= 0] = MUCOSA
    sub[sinus_depth <= -MUCOSA_MM] = AIR
    tissue[near] = sub
    return tissue
