"""Analytic solids of the evaluation family, evaluated on point arrays (n, 3) in mm."""

from __future__ import annotations

import numpy as np


def ellipsoid_radius(points_mm: np.ndarray, centre_mm, semi_axes_mm) -> np.ndarray:
    """Normalised ellipsoidal radius of each point: < 1 inside the axis-aligned ellipsoid, 1 on its surface."""
    d = (points_mm - np.asarray(centre_mm, dtype=float)) / np.asarray(semi_axes_mm, dtype=float)
    return np.sqrt(np.einsum("ij,ij->i", d, d))


def perpendicular_frame(axis: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (side, up') perpendicular to ``axis``: ``up'`` is ``up`` made perpendicular, side = axis × up'."""
    axis = axis / np.linalg.norm(axis)
    up_perp = up - (up @ axis) * axis
    up_perp = up_perp / np.linalg.norm(up_perp)
    return np.cross(axis, up_perp), up_perp


def along_segment(points_mm: np.ndarray, start_mm: np.ndarray, end_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, offset): each point's parameter along start→end (0 at start, 1 at end, not clipped) and its offset
    (mm) from the point of the line at that parameter."""
    chord = end_mm - start_mm
    t = (points_mm - start_mm) @ chord / (chord @ chord)
    return t, points_mm - start_mm - t[:, None] * chord


def in_tube(points_mm: np.ndarray, start_mm, end_mm, radius_start_mm: float, radius_end_mm: float) -> np.ndarray:
    """Points inside a truncated cone (flat ends) from ``start`` to ``end`` with linearly varying radius."""
    start, end = np.asarray(start_mm, dtype=float), np.asarray(end_mm, dtype=float)
    t, offset = along_segment(points_mm, start, end)
    radius = radius_start_mm + (radius_end_mm - radius_start_mm) * np.clip(t, 0.0, 1.0)
    return (t >= 0.0) & (t <= 1.0) & (np.einsum("ij,ij->i", offset, offset) <= radius ** 2)


def ellipsoid_depth_mm(points_mm: np.ndarray, centre_mm, semi_axes_mm) -> np.ndarray:
    """Approximate signed distance (mm) to an axis-aligned ellipsoid's surface: negative inside.

    First-order (F − 1)/|∇F| of the normalised radius F: exact on the axes and accurate within a few mm of the
    surface, which is where thin layers (scalp, skull, sinus walls) are drawn.
    """
    semi = np.asarray(semi_axes_mm, dtype=float)
    d = (points_mm - np.asarray(centre_mm, dtype=float)) / semi
    f = np.sqrt(np.einsum("ij,ij->i", d, d))
    gradient_times_f = np.sqrt(np.einsum("ij,ij,j->i", d, d, 1.0 / semi ** 2)) + 1e-12
    return (f - 1.0) * f / gradient_times_f
