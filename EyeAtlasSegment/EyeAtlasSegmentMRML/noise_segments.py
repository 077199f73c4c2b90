"""Noise σ from segments that mark air, or from the automatically found air background."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk
import slicer

from EyeAtlasSegmentLib.choices import DEFAULT_NOISE_MODEL
from EyeAtlasSegmentLib.errors import EyeAtlasError
from EyeAtlasSegmentLib.geometry import set_geometry_from_ras_affine
from EyeAtlasSegmentLib.noise import NoiseEstimate, estimate_noise_from_air, estimate_noise_from_roi

from .segment_terminology import segment_terminology, terminology_type
from .volume_nodes import ijk_to_ras_of_node, image_from_volume_node

#: In Segment Statistics, a segment is (part of) the noise ROI of its segmentation when one of these is a whole word of
#: its name (words are runs of letters, case ignored: "Air", "noise_roi", "Background air", not "Hair" or "Airway"),
#: or when its terminology type is Gas. "Background" is not one of them: in Slicer it is the usual name of the tissue
#: seed segment of Grow from seeds, and of label 0 of imported label maps.
NOISE_SEGMENT_WORDS = ("noise", "air")
#: Terminology types of a noise ROI, (coding scheme, code value): SNOMED CT "Gas" (Slicer's DICOM master list,
#: category "Body Substance"), the type Slicer offers for air.
NOISE_SEGMENT_TYPES = {("SCT", "74947009")}


def noise_mask_from_segments(segmentation_node: slicer.vtkMRMLSegmentationNode,
                             volume_node: slicer.vtkMRMLScalarVolumeNode, segment_ids: Sequence[str] | None = None
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
        names = ", ".join(repr(segmentation.GetSegment(i).GetName()) for i in segment_ids)
        raise EyeAtlasError(f"the noise ROI ({names} in {segmentation_node.GetName()!r}) is empty on the image's grid")
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    set_geometry_from_ras_affine(image, ijk_to_ras_of_node(volume_node))
    return image


def is_noise_segment(segment: slicer.vtkSegment) -> bool:
    """Whether the segment marks air for the noise σ (``NOISE_SEGMENT_WORDS``, ``NOISE_SEGMENT_TYPES``)."""
    words = set(re.findall(r"[a-z]+", (segment.GetName() or "").lower()))
    coded_type = terminology_type(segment_terminology(segment))
    return bool(words & set(NOISE_SEGMENT_WORDS)) or coded_type in NOISE_SEGMENT_TYPES


def noise_segment_ids(segmentation_node: slicer.vtkMRMLSegmentationNode) -> list[str]:
    """IDs of the segments that mark air for the noise σ (``is_noise_segment``)."""
    segmentation = segmentation_node.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    return [i for i in ids if is_noise_segment(segmentation.GetSegment(i))]


def noise_from_segments(segmentation_node: slicer.vtkMRMLSegmentationNode,
                        volume_node: slicer.vtkMRMLScalarVolumeNode, segment_ids: Sequence[str] | None = None,
                        model: str = DEFAULT_NOISE_MODEL, channels: int = 1) -> NoiseEstimate:
    """σ from the volume's voxels inside the given segments (air), under ``model``, with the engine's refusals."""
    mask = noise_mask_from_segments(segmentation_node, volume_node, segment_ids)
    estimate = estimate_noise_from_roi(image_from_volume_node(volume_node), mask, model, channels)
    estimate.details["roi"] = segmentation_node.GetName()
    return estimate


def noise_for_segmentation(segmentation_node: slicer.vtkMRMLSegmentationNode,
                           volume_node: slicer.vtkMRMLScalarVolumeNode) -> tuple[NoiseEstimate, list[str]]:
    """σ for SNR in Segment Statistics: from the segmentation's noise segments (``is_noise_segment``), else from air
    found automatically in the volume; also returns the noise segments' IDs (they get no SNR themselves).

    An input that gives no σ (empty noise ROI, colour or vector volume, …) gives an undefined estimate with the
    reason, not an exception.
    """
    ids = noise_segment_ids(segmentation_node)
    try:
        if ids:
            return noise_from_segments(segmentation_node, volume_node, ids), ids
        image = image_from_volume_node(volume_node)
        centres = globe_centres_lps(segmentation_node, volume_node, image)
        return estimate_noise_from_air(image, eye_centres_lps_mm=centres), []
    except EyeAtlasError as error:
        return NoiseEstimate("undefined", None, 0, str(error)), ids


def noise_inputs_key(segmentation_node: slicer.vtkMRMLSegmentationNode,
                     volume_node: slicer.vtkMRMLScalarVolumeNode) -> tuple:
    """Everything ``noise_for_segmentation`` depends on, as modification times and names: each segment's ID, name,
    tags (terminology) and representations (a labelmap edit), the volume's voxels and geometry, and both parent
    transforms. ``vtkSegmentation.GetMTime()`` changes with none of the segment edits."""
    segmentation = segmentation_node.GetSegmentation()
    names = {segmentation.GetSourceRepresentationName(),
             slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()}
    segments = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        representations = [segment.GetRepresentation(name) for name in sorted(names)]
        segments.append((segmentation.GetNthSegmentID(index), segment.GetName(), segment.GetMTime(),
                         tuple(r.GetMTime() if r is not None else 0 for r in representations)))
    transforms = tuple(t.GetMTime() if t is not None else 0 for t in (segmentation_node.GetParentTransformNode(),
                                                                       volume_node.GetParentTransformNode()))
    image = volume_node.GetImageData()
    return (segmentation_node.GetID(), volume_node.GetID(), volume_node.GetMTime(),
            image.GetMTime() if image is not None else 0, transforms, tuple(segments))


class SegmentationNoiseCache:
    """The last ``noise_for_segmentation`` result, reused while ``noise_inputs_key`` is unchanged (Segment Statistics
    asks once per segment)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._result: tuple[NoiseEstimate, list[str]] | None = None

    def get(self, segmentation_node: slicer.vtkMRMLSegmentationNode,
            volume_node: slicer.vtkMRMLScalarVolumeNode) -> tuple[NoiseEstimate, list[str]]:
        key = noise_inputs_key(segmentation_node, volume_node)
        if key != self._key:
            self._result = noise_for_segmentation(segmentation_node, volume_node)
            self._key = key
        return self._result


def globe_centres_lps(segmentation_node: slicer.vtkMRMLSegmentationNode, volume_node: slicer.vtkMRMLScalarVolumeNode,
                      image: sitk.Image) -> list[np.ndarray]:
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
