"""Coordinate conventions.

ITK/SimpleITK physical points are **LPS** millimetres; NIfTI affines and all user-facing positions in this
project are **RAS** millimetres. RAS = diag(-1, -1, 1) · LPS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def ras_to_lps(point_ras_mm: Sequence[float]) -> np.ndarray:
    """Convert a RAS point (mm) to LPS (mm)."""
    return LPS_TO_RAS @ np.asarray(point_ras_mm, dtype=float)


def lps_to_ras(point_lps_mm: Sequence[float]) -> np.ndarray:
    """Convert an LPS point (mm) to RAS (mm)."""
    return LPS_TO_RAS @ np.asarray(point_lps_mm, dtype=float)


def direction_matrix(image: sitk.Image) -> np.ndarray:
    """3×3 direction cosines of ``image`` (columns = voxel axes in LPS)."""
    return np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)


def ijk_to_ras_affine(image: sitk.Image) -> np.ndarray:
    """4×4 NIfTI-style affine mapping voxel index (i, j, k) to RAS mm for a SimpleITK image."""
    lps = direction_matrix(image) @ np.diag(image.GetSpacing())
    affine = np.eye(4)
    affine[:3, :3] = LPS_TO_RAS @ lps
    affine[:3, 3] = LPS_TO_RAS @ np.asarray(image.GetOrigin(), dtype=float)
    return affine


def set_geometry_from_ras_affine(image: sitk.Image, affine_ras: np.ndarray) -> None:
    """Set spacing/origin/direction of ``image`` (array axes i, j, k) from a 4×4 RAS affine, in place."""
    affine_ras = np.asarray(affine_ras, dtype=float)
    if affine_ras.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got {affine_ras.shape}")
    lin_lps = LPS_TO_RAS @ affine_ras[:3, :3]
    spacing = np.linalg.norm(lin_lps, axis=0)
    if np.any(spacing <= 0) or not np.all(np.isfinite(spacing)):
        raise ValueError("affine has a zero or non-finite voxel size")
    direction = lin_lps / spacing
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(d) for d in direction.ravel()))
    image.SetOrigin(tuple(float(o) for o in LPS_TO_RAS @ affine_ras[:3, 3]))


def physical_to_continuous_index(image: sitk.Image, point_lps_mm: Sequence[float]) -> np.ndarray:
    """Continuous voxel index (i, j, k) of an LPS point."""
    return np.asarray(image.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in point_lps_mm)))


def rotation_xyz(angles_rad: Sequence[float]) -> np.ndarray:
    """Rotation matrix Rz·Ry·Rx: about x, then y, then z (radians)."""
    ax, ay, az = angles_rad
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def corner_voxel_centres_lps(image: sitk.Image) -> np.ndarray:
    """The centres (LPS mm) of the image's eight corner voxels, as an 8 × 3 array: its physical extent."""
    size = np.asarray(image.GetSize())
    return np.array([image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in np.array(c) * (size - 1)))
                     for c in np.ndindex(2, 2, 2)])


def voxel_volume_mm3(image: sitk.Image) -> float:
    """Volume of one voxel in mm³."""
    return float(np.prod(image.GetSpacing()))


_AXIS_CODE_TO_LPS = {
    "L": (1.0, 0.0, 0.0), "R": (-1.0, 0.0, 0.0),
    "P": (0.0, 1.0, 0.0), "A": (0.0, -1.0, 0.0),
    "S": (0.0, 0.0, 1.0), "I": (0.0, 0.0, -1.0),
}


def direction_lps_from_axis_code(code: str) -> np.ndarray:
    """3×3 LPS direction matrix for an axis code such as "RAS" or "PIR".

    Each letter names the anatomical direction in which voxel index i, j, k increases (NIfTI/nibabel
    convention: "RAS" means i → right, j → anterior, k → superior).
    """
    letters = str(code).strip().upper()
    if len(letters) != 3 or any(c not in _AXIS_CODE_TO_LPS for c in letters):
        raise ValueError(f"orientation {code!r} must be three letters from R/L, A/P, S/I, e.g. RAS or LPS")
    if len({int(np.argmax(np.abs(_AXIS_CODE_TO_LPS[c]))) for c in letters}) != 3:
        raise ValueError(f"orientation {code!r} must name each of R/L, A/P and S/I exactly once")
    return np.array([_AXIS_CODE_TO_LPS[c] for c in letters]).T


def voxel_centres_lps(image: sitk.Image) -> np.ndarray:
    """LPS mm coordinates of every voxel centre, shaped like ``sitk.GetArrayFromImage`` (k, j, i) + (3,)."""
    size_ijk = image.GetSize()
    k, j, i = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in size_ijk[::-1]), indexing="ij")
    ijk = np.stack([i, j, k], axis=-1)
    lin = direction_matrix(image) @ np.diag(image.GetSpacing())
    return ijk @ lin.T + np.asarray(image.GetOrigin())


def same_grid(a: sitk.Image, b: sitk.Image, *, spacing_mm: float = 1e-4, origin_mm: float = 1e-3,
              direction: float = 1e-5, rtol: float = 1e-5) -> bool:
    """True when two images share size and, within the given tolerances, spacing, origin and direction (mm)."""
    return (a.GetSize() == b.GetSize()
            and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=rtol, atol=spacing_mm)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=rtol, atol=origin_mm)
            and np.allclose(a.GetDirection(), b.GetDirection(), rtol=rtol, atol=direction))
