"""Volume preparation: the image checks, the coarse axis-aligned LPS grid, intensity levels, the head mask, the
contrast reading (as given or inverted), and sampling of the native image.

Array axes of the coarse grid are ``z, y, x`` = I→S, A→P, R→L (LPS millimetres; the header orientation is trusted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError
from ..head_mask import head_from_foreground
from ..structures import EYES
from .settings import GlobeFinderSettings


@dataclass(frozen=True)
class Grid:
    """Axis-aligned LPS grid: array index (z, y, x) ↦ origin + spacing · (x, y, z)."""

    origin_lps_mm: np.ndarray
    spacing_mm: float
    shape_zyx: tuple[int, int, int]

    def to_lps(self, index_zyx: np.ndarray) -> np.ndarray:
        return self.origin_lps_mm + self.spacing_mm * np.asarray(index_zyx, dtype=float)[..., ::-1]

    def to_index(self, point_lps_mm: np.ndarray) -> np.ndarray:
        return ((np.asarray(point_lps_mm, dtype=float) - self.origin_lps_mm) / self.spacing_mm)[..., ::-1]


@dataclass(frozen=True)
class IntensityLevels:
    """Intensities of air (noise floor or zero fill) and of typical tissue, in the image as searched."""

    air: float
    tissue: float

    def normalise(self, raw: np.ndarray | float) -> np.ndarray | float:
        """Map air to 0 and typical tissue to 1."""
        return (raw - self.air) / max(self.tissue - self.air, 1e-6 * max(abs(self.tissue), 1.0))


@dataclass(frozen=True)
class Reading:
    """How intensities are read: as given, or inverted (``inverted_from - value``) when air is brighter than tissue."""

    inverted_from: float | None = None

    @property
    def inverted(self) -> bool:
        return self.inverted_from is not None

    def apply(self, image: sitk.Image) -> sitk.Image:
        image = sitk.Cast(image, sitk.sitkFloat32)
        return image if self.inverted_from is None else float(self.inverted_from) - image


@dataclass(frozen=True)
class CoarseVolume:
    intensity_zyx: np.ndarray  # normalised: air ≈ 0, tissue ≈ 1, 0 outside the field of view
    valid_zyx: np.ndarray  # inside the image's field of view
    head_zyx: np.ndarray  # head (or orbit) tissue mask, holes filled
    grid: Grid
    levels: IntensityLevels
    reading: Reading


# ---------------------------------------------------------------------------------------------- image checks


def validate_request(image: sitk.Image, eyes: Sequence[str], settings: GlobeFinderSettings) -> list[str]:
    """The requested eyes, once each; refuse images that cannot be an MRI of a head."""
    if image.GetDimension() != 3:
        raise InputImageError(f"a 3D image is required, got a {image.GetDimension()}D image")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputImageError("a single-channel (scalar) image is required, got a multi-component image")
    unknown = [eye for eye in eyes if eye not in EYES]
    if unknown:
        raise ValueError(f"unknown eye name(s) {unknown}; use {EYES}")
    _refuse_masks(image, settings)
    return list(dict.fromkeys(eyes))


def _refuse_masks(image: sitk.Image, settings: GlobeFinderSettings) -> None:
    """A binary mask or label map passed as the image has only a few distinct values; an MRI has many."""
    voxels = sitk.GetArrayViewFromImage(image).ravel()
    sample = voxels[::max(1, voxels.size // settings.label_check_voxels)]
    distinct = np.unique(sample[np.isfinite(sample)]) if sample.dtype.kind == "f" else np.unique(sample)
    if distinct.size <= settings.max_label_values:
        kind = "a binary mask" if distinct.size <= 2 else "a label map"
        raise InputImageError(f"the image has only {distinct.size} distinct intensities: it looks like {kind}, not "
                              "an MRI; load the MRI itself")


# ------------------------------------------------------------------------------------------ coarse volume


def coarse_raw(image: sitk.Image, settings: GlobeFinderSettings) -> tuple[np.ndarray, np.ndarray, Grid]:
    """The image box-averaged and linearly resampled onto the coarse LPS grid (raw units), and where it is valid."""
    image_f32 = sitk.Cast(image, sitk.sitkFloat32)
    grid = _coarse_grid(image_f32, settings)
    factors = [max(1, int(grid.spacing_mm / s)) for s in image_f32.GetSpacing()]  # anti-aliasing
    shrunk = sitk.BinShrink(image_f32, factors) if max(factors) > 1 else image_f32
    raw_zyx = sitk.GetArrayFromImage(sitk.Resample(shrunk, _grid_image(grid), sitk.Transform(), sitk.sitkLinear,
                                                   math.nan))
    valid_zyx = np.isfinite(raw_zyx)
    if not valid_zyx.any():
        raise InputImageError("the image has no voxels")
    return np.where(valid_zyx, raw_zyx, 0.0).astype(np.float32), valid_zyx, grid


def bright_border_share(raw_zyx: np.ndarray, valid_zyx: np.ndarray) -> float:
    """Share of the field of view's border voxels above Otsu's threshold: small when air (dark) surrounds the
    head, large when the contrast is inverted (air bright)."""
    inner_zyx = erode(np.pad(valid_zyx, 1), 1)[1:-1, 1:-1, 1:-1]  # the grid's own faces are border too
    border_zyx = valid_zyx & ~inner_zyx
    return float(np.mean(raw_zyx[border_zyx] > otsu_threshold(raw_zyx, valid_zyx)))


def prepare_volume(raw_zyx: np.ndarray, valid_zyx: np.ndarray, grid: Grid, reading: Reading,
                   settings: GlobeFinderSettings) -> CoarseVolume:
    """Normalise the coarse volume as ``reading`` says and build the head mask (cropped to the head)."""
    searched_zyx = raw_zyx if not reading.inverted else np.where(valid_zyx, reading.inverted_from - raw_zyx, 0.0)
    searched_zyx = searched_zyx.astype(np.float32)
    levels, head_threshold = _intensity_levels(searched_zyx, valid_zyx)
    intensity_zyx = np.where(valid_zyx, levels.normalise(searched_zyx), 0.0).astype(np.float32)
    head_zyx = (_head_mask(valid_zyx & (searched_zyx > head_threshold), grid) if levels.tissue > levels.air
                else np.zeros_like(valid_zyx))
    return _crop_to_head(CoarseVolume(intensity_zyx, valid_zyx, head_zyx, grid, levels, reading), settings)


def _crop_to_head(volume: CoarseVolume, settings: GlobeFinderSettings) -> CoarseVolume:
    """Restrict the volume to the head's bounding box plus the detector's reach (saves FFT time)."""
    if not volume.head_zyx.any():
        return volume
    margin = int(math.ceil(settings.detector_reach_mm / volume.grid.spacing_mm)) + 1
    head_indices = np.nonzero(volume.head_zyx)
    low = np.maximum([int(a.min()) - margin for a in head_indices], 0)
    high = np.minimum([int(a.max()) + margin + 1 for a in head_indices], volume.grid.shape_zyx)
    box = tuple(slice(int(lo), int(hi)) for lo, hi in zip(low, high))
    grid = Grid(volume.grid.to_lps(low), volume.grid.spacing_mm, tuple(int(n) for n in high - low))
    return CoarseVolume(volume.intensity_zyx[box], volume.valid_zyx[box], volume.head_zyx[box], grid, volume.levels,
                        volume.reading)


def _coarse_grid(image: sitk.Image, settings: GlobeFinderSettings) -> Grid:
    """Axis-aligned grid covering the image's bounding box at ≥ ``coarse_spacing_mm``."""
    size = np.asarray(image.GetSize(), dtype=float)
    corners_index = np.array([[i, j, k] for i in (-0.5, size[0] - 0.5) for j in (-0.5, size[1] - 0.5)
                              for k in (-0.5, size[2] - 0.5)])
    corners_lps_mm = np.array([image.TransformContinuousIndexToPhysicalPoint(c.tolist()) for c in corners_index])
    low_lps_mm, high_lps_mm = corners_lps_mm.min(axis=0), corners_lps_mm.max(axis=0)
    extent_mm = high_lps_mm - low_lps_mm
    spacing_mm = max(settings.coarse_spacing_mm, float(np.cbrt(np.prod(extent_mm) / settings.max_coarse_voxels)))
    shape_xyz = np.maximum(np.ceil(extent_mm / spacing_mm).astype(int), 1)
    origin_lps_mm = low_lps_mm + 0.5 * (extent_mm - (shape_xyz - 1) * spacing_mm)
    return Grid(origin_lps_mm, spacing_mm, tuple(int(n) for n in shape_xyz[::-1]))


def _grid_image(grid: Grid) -> sitk.Image:
    reference = sitk.Image([int(n) for n in grid.shape_zyx[::-1]], sitk.sitkFloat32)
    reference.SetOrigin(tuple(float(v) for v in grid.origin_lps_mm))
    reference.SetSpacing((grid.spacing_mm,) * 3)
    return reference


def _intensity_levels(raw_zyx: np.ndarray, valid_zyx: np.ndarray) -> tuple[IntensityLevels, float]:
    """Air and tissue levels and the head-mask threshold, from the voxels inside the field of view.

    Otsu's threshold splits air from tissue; the tissue level is the median above it, the air level a low
    percentile, and the head mask keeps everything above a quarter of the way from air to Otsu's threshold.
    """
    values = raw_zyx[valid_zyx]
    air_level = float(np.percentile(values, 0.5))
    threshold = otsu_threshold(raw_zyx, valid_zyx)
    above = values[values > threshold]
    tissue_level = float(np.median(above)) if above.size else air_level
    return IntensityLevels(air_level, tissue_level), air_level + 0.25 * (threshold - air_level)


def otsu_threshold(raw_zyx: np.ndarray, valid_zyx: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (SimpleITK) of the voxels inside ``valid_zyx``."""
    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetNumberOfHistogramBins(bins)
    otsu.SetMaskValue(1)
    otsu.Execute(sitk.GetImageFromArray(raw_zyx.astype(np.float32)),
                 sitk.GetImageFromArray(valid_zyx.astype(np.uint8)))
    return float(otsu.GetThreshold())


def _head_mask(foreground_zyx: np.ndarray, grid: Grid) -> np.ndarray:
    """The head (``head_from_foreground``, closed by two coarse voxels) of the foreground on the coarse grid."""
    foreground = sitk.GetImageFromArray(foreground_zyx.astype(np.uint8))
    foreground.SetSpacing((grid.spacing_mm,) * 3)
    return sitk.GetArrayFromImage(head_from_foreground(foreground, 2.0 * grid.spacing_mm)).astype(bool)


# ---------------------------------------------------------------------------------------------- utilities


def array_to_image(array_zyx: np.ndarray, spacing_mm: float) -> sitk.Image:
    image = sitk.GetImageFromArray(array_zyx.astype(np.float32))
    image.SetSpacing((spacing_mm,) * 3)
    return image


def erode(mask_zyx: np.ndarray, radius_voxels: int) -> np.ndarray:
    """Binary erosion by a (2r+1)³ box."""
    eroded = sitk.BinaryErode(sitk.GetImageFromArray(mask_zyx.astype(np.uint8)), [radius_voxels] * 3)
    return sitk.GetArrayFromImage(eroded).astype(bool)


def native_crop(image: sitk.Image, low_lps_mm: np.ndarray, high_lps_mm: np.ndarray) -> sitk.Image | None:
    """The part of ``image`` (native grid) covering the LPS box, with a 2-voxel margin; None if disjoint."""
    corners = np.array([[x, y, z] for x in (low_lps_mm[0], high_lps_mm[0]) for y in (low_lps_mm[1], high_lps_mm[1])
                        for z in (low_lps_mm[2], high_lps_mm[2])])
    index = np.array([image.TransformPhysicalPointToContinuousIndex(c.tolist()) for c in corners])
    size = np.asarray(image.GetSize())
    low = np.clip(np.floor(index.min(axis=0)).astype(int) - 2, 0, size)
    high = np.clip(np.ceil(index.max(axis=0)).astype(int) + 3, 0, size)
    if np.any(high - low < 2):
        return None
    return image[int(low[0]):int(high[0]), int(low[1]):int(high[1]), int(low[2]):int(high[2])]


def sample_linear(image: sitk.Image, points_lps_mm: np.ndarray) -> np.ndarray:
    """``image`` linearly interpolated (SimpleITK) at physical points of shape (..., 3); NaN outside it.

    The points become the displacements of a one-row output grid, so one ``Resample`` samples them all.
    """
    points = np.asarray(points_lps_mm, dtype=np.float64)
    flat = points.reshape(-1, 3)
    grid_x = np.arange(len(flat), dtype=np.float64)
    displacement = flat - np.stack([grid_x, np.zeros_like(grid_x), np.zeros_like(grid_x)], axis=1)
    field = sitk.GetImageFromArray(displacement.reshape(1, 1, len(flat), 3), isVector=True)
    reference = sitk.Image([len(flat), 1, 1], sitk.sitkFloat32)
    values = sitk.Resample(image, reference, sitk.DisplacementFieldTransform(field), sitk.sitkLinear, math.nan,
                           sitk.sitkFloat32)
    return sitk.GetArrayFromImage(values).astype(np.float64).reshape(points.shape[:-1])
