"""Sampling the evaluation family's analytic scene on a voxel grid: eye poses, grid → head mapping, tissue and
truth at points, boundary voxels for partial volume, and smooth random fields (texture, bias)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ...geometry import LPS_TO_RAS
from ...structures import EYE_LABEL_OFFSET
from .contrasts import HEAD
from .orbit_anatomy import BOX_MM, in_box, right_orbit_labels_and_tissues
from .simple_head import simple_head_tissues

_MIRROR_X = np.array([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class EyePose:
    """Maps head-frame points to one eye's right-orbit model frame."""

    centre_head_mm: np.ndarray
    rotation: np.ndarray  # eye frame → head frame
    scale: np.ndarray  # (3,) model frame = eye frame / scale
    mirror: bool  # a left eye: the right-eye model at mirrored points

    def to_model(self, points_head_mm: np.ndarray) -> np.ndarray:
        """Right-eye model coordinates (mm) of head-frame points."""
        q = (points_head_mm - self.centre_head_mm) @ self.rotation
        return (q * _MIRROR_X if self.mirror else q) / self.scale

    def to_head(self, points_model_mm: np.ndarray) -> np.ndarray:
        """Head-frame coordinates of right-eye model points (inverse of ``to_model``)."""
        q = points_model_mm * self.scale
        return (q * _MIRROR_X if self.mirror else q) @ self.rotation.T + self.centre_head_mm


@dataclass(frozen=True)
class GridToHead:
    """Voxel index (i, j, k) → head frame (mm): p_head = index_to_head · ijk + index_offset_mm."""

    index_to_head: np.ndarray
    index_offset_mm: np.ndarray
    size_ijk: np.ndarray

    @classmethod
    def of(cls, grid: sitk.Image, head_rotation: np.ndarray, head_shift_ras_mm: np.ndarray) -> GridToHead:
        """The mapping of ``grid`` for a head posed in the scanner as RAS = rotation · head + shift."""
        lin_ras = LPS_TO_RAS @ np.asarray(grid.GetDirection()).reshape(3, 3) @ np.diag(grid.GetSpacing())
        offset = head_rotation.T @ (LPS_TO_RAS @ np.asarray(grid.GetOrigin()) - head_shift_ras_mm)
        return cls(head_rotation.T @ lin_ras, offset, np.asarray(grid.GetSize()))

    @property
    def shape_kji(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.size_ijk[::-1])

    @property
    def n_voxels(self) -> int:
        return int(np.prod(self.size_ijk))

    def ijk(self, flat: np.ndarray) -> np.ndarray:
        """(i, j, k) indices (float) of flat positions in the (k, j, i) C-ordered array."""
        k, rest = np.divmod(flat, self.size_ijk[0] * self.size_ijk[1])
        j, i = np.divmod(rest, self.size_ijk[0])
        return np.stack([i, j, k], axis=1).astype(np.float64)

    def points(self, ijk: np.ndarray) -> np.ndarray:
        """Head-frame points (mm) of continuous indices (n, 3)."""
        return ijk @ self.index_to_head.T + self.index_offset_mm

    def flat_in_box(self, pose: EyePose) -> np.ndarray:
        """Flat indices of the voxels whose centres lie in the eye's orbit box (``BOX_MM``)."""
        corners_head = pose.to_head(np.array(np.meshgrid(*BOX_MM, indexing="ij")).reshape(3, -1).T)
        corners_ijk = np.linalg.solve(self.index_to_head, (corners_head - self.index_offset_mm).T).T
        low = np.clip(np.floor(corners_ijk.min(axis=0)), 0, self.size_ijk - 1).astype(int)
        high = np.clip(np.ceil(corners_ijk.max(axis=0)), 0, self.size_ijk - 1).astype(int)
        k, j, i = np.meshgrid(*(np.arange(lo, hi + 1) for lo, hi in zip(low[::-1], high[::-1])), indexing="ij")
        flat = ((k * self.size_ijk[1] + j) * self.size_ijk[0] + i).ravel()
        return flat[in_box(pose.to_model(self.points(self.ijk(flat))))]


def scene_at(points_head_mm: np.ndarray, poses: dict[str, EyePose], fissure_mm: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """(tissue, truth label) of head-frame points: the head, replaced by each eye's orbit inside its box; labels
    right 1-9, left 11-19."""
    tissue = simple_head_tissues(points_head_mm)
    labels = np.zeros(len(points_head_mm), dtype=np.uint8)
    for eye, pose in poses.items():
        model = pose.to_model(points_head_mm)
        idx = np.flatnonzero(in_box(model))
        eye_labels, eye_tissue = right_orbit_labels_and_tissues(model[idx], fissure_mm)
        orbit, labelled = eye_tissue != HEAD, eye_labels > 0
        tissue[idx[orbit]] = eye_tissue[orbit]
        labels[idx[labelled]] = eye_labels[labelled] + EYE_LABEL_OFFSET[eye]
    return tissue, labels


def boundary_voxels(tissue_kji: np.ndarray) -> np.ndarray:
    """Voxels within one voxel (26-neighbourhood) of a voxel whose centre has another tissue."""
    edge = np.zeros(tissue_kji.shape, dtype=bool)
    for axis in range(3):
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        differs = tissue_kji[tuple(lo)] != tissue_kji[tuple(hi)]
        edge[tuple(lo)] |= differs
        edge[tuple(hi)] |= differs
    for axis in range(3):  # grow by one voxel along each axis in turn (a 3×3×3 box)
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        grown = edge.copy()
        grown[tuple(lo)] |= edge[tuple(hi)]
        grown[tuple(hi)] |= edge[tuple(lo)]
        edge = grown
    return edge


def subsample_offsets(spacing_mm, pitch_mm: float) -> np.ndarray:
    """Sub-sample positions within a voxel (index units, centred), at most ``pitch_mm`` apart along each axis."""
    per_axis = [(np.arange(n) + 0.5) / n - 0.5 for n in (max(1, int(np.ceil(s / pitch_mm - 1e-6))) for s in spacing_mm)]
    return np.stack(np.meshgrid(*per_axis, indexing="ij"), axis=-1).reshape(-1, 3)


class SmoothField:
    """A smooth random field of unit SD: a sum of plane waves with wavelengths drawn from a range (mm)."""

    def __init__(self, rng: np.random.Generator, wavelengths_mm: tuple[float, float], waves: int = 24):
        directions = rng.normal(size=(waves, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        self.wave_vectors = directions * (2 * np.pi / rng.uniform(*wavelengths_mm, size=(waves, 1)))
        self.phases = rng.uniform(0.0, 2 * np.pi, waves)

    def __call__(self, points_mm: np.ndarray) -> np.ndarray:
        """The field at points (n, 3)."""
        return np.sqrt(2.0 / len(self.phases)) * np.cos(points_mm @ self.wave_vectors.T + self.phases).sum(axis=1)

    def on_grid(self, grid: GridToHead) -> np.ndarray:
        """The field at every voxel centre, (k, j, i), from separable complex exponentials of the indices."""
        total = np.zeros(grid.shape_kji)
        for wave_vector, phase in zip(self.wave_vectors, self.phases):
            per_step = wave_vector @ grid.index_to_head  # phase gained per index step along i, j, k
            e_i, e_j, e_k = (np.exp(1j * per_step[a] * np.arange(n)) for a, n in enumerate(grid.size_ijk))
            start = np.exp(1j * (wave_vector @ grid.index_offset_mm + phase))
            total += np.real(start * e_k[:, None, None] * e_j[None, :, None] * e_i[None, None, :])
        return np.sqrt(2.0 / len(self.phases)) * total
