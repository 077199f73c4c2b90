"""Noise σ from segments that mark air, or from the automatically found air background."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk
import slicer

from EyeAtlasSegmentLib.errors import EyeAtlasError
from EyeAtlasSegmentLib.geometry import set_geometry_from_ras_affine
from EyeAtlasSegmentLib.noise import NoiseEstimate, estimate_noise_from_air, estimate_noise_from_roi

from .volume_nodes import ijk_to_ras_of_node, image_from_volume_node

#: In Segment Statistics, segments whose name contains one of these words are the noise ROI of their segmentation.
NOISE_SEGMENT_WORDS = ("noise", "air", "background")


def noise_mask_from_segments(segmentation_node, volume_node, segment_ids: Optional[Sequence[str]] = None
                             ) -> sitk.Image:
    """Segments (all of them when ``segment_ids`` is None) as one uint8 mask on the volume's grid (the volume's
    voxels are not copied: only its geometry is needed)."""
    segmentation = segmentation_node.GetSegmentation()
    if segment_ids is None:
        segment_ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    mask = np.zeros(volume_node.GetImageData().GetDimensions()[::-1], dtype=bool)
    for segment_id in segment_ids:
        mask |= slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segment_id, volume_node) > 0
    if not mask.any():
        raise EyeAtlasError(f"the noise ROI {segmentation_node.GetName()!r} is empty on the image's grid")
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    set_geometry_from_ras_affine(image, ijk_to_ras_of_node(volume_node))
    return image


def noise_segment_ids(segmentation_node) -> list[str]:
    """IDs of the segments named as noise ROIs (see ``NOISE_SEGMENT_WORDS``)."""
    segmentation = segmentation_node.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    return [i for i in ids if any(w in segmentation.GetSegment(i).GetName().lower() for w in NOISE_SEGMENT_WORDS)]


def noise_from_segments(segmentation_node, volume_node, segment_ids: Optional[Sequence[str]] = None,
                        model: str = "rayleigh_sd", channels: int = 1) -> NoiseEstimate:
    """σ from the volume's voxels inside the given segments (air), under ``model``, with the engine's refusals."""
    mask = noise_mask_from_segments(segmentation_node, volume_node, segment_ids)
    estimate = estimate_noise_from_roi(image_from_volume_node(volume_node), mask, model, channels)
    estimate.details["roi"] = segmentation_node.GetName()
    return estimate


def noise_for_segmentation(segmentation_node, volume_node) -> tuple[NoiseEstimate, list[str]]:
    """σ for SNR in Segment Statistics: from the segmentation's noise-named segments, else from air found
    automatically in the volume; also returns the noise segments' IDs (they get no SNR themselves)."""
    ids = noise_segment_ids(segmentation_node)
    if ids:
        return noise_from_segments(segmentation_node, volume_node, ids), ids
    image = image_from_volume_node(volume_node)
    return estimate_noise_from_air(image, eye_centres_lps_mm=globe_centres_lps(segmentation_node, volume_node, image)), []


def globe_centres_lps(segmentation_node, volume_node, image: sitk.Image) -> list[np.ndarray]:
    """Centroids (LPS mm) of the segments named "… globe": the eyes, whose ghost bands are kept out of the air."""
    segmentation = segmentation_node.GetSegmentation()
    centres = []
    for index in range(segmentation.GetNumberOfSegments()):
        if "globe" in segmentation.GetNthSegment(index).GetName().lower():
            mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segmentation.GetNthSegmentID(index),
                                                              volume_node)
            if mask.any():
                ijk = np.argwhere(mask).mean(axis=0)[::-1]
                centres.append(np.asarray(image.TransformContinuousIndexToPhysicalPoint(tuple(map(float, ijk)))))
    return centres
