"""Per-segment scalar statistics computed the way Slicer's Segment Statistics computes them, plus SNR.

Segment Statistics' scalar-volume plugin resamples each segment's binary labelmap onto the volume's grid with
nearest-neighbour interpolation, turns it into a stencil and runs ``vtkImageAccumulate`` (sample SD, N−1) and
``vtkImageHistogramStatistics`` (median). The same is done here without Qt, so that the numbers in batch runs,
in the module's table and in the Segment Statistics module agree. SNR = mean / σ with σ from a ``NoiseEstimate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import slicer
import vtk

from EyeAtlasSegmentLib.noise import NoiseEstimate


@dataclass
class SegmentScalarStatistics:
    """Segment Statistics' standard measures of one segment on one volume, and its SNR."""

    segment_id: str
    name: str
    voxel_count: int
    volume_mm3: float
    mean: Optional[float]
    stdev: Optional[float]
    median: Optional[float]
    snr: Optional[float]


def segment_stencil(segmentation_node, segment_id: str, volume_node):
    """The segment as a ``vtkImageStencilData`` on the volume's voxel grid (nearest-neighbour resampling)."""
    reference = slicer.vtkOrientedImageData()
    reference.SetExtent(volume_node.GetImageData().GetExtent())
    ijk_to_ras = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(ijk_to_ras)
    reference.SetGeometryFromImageToWorldMatrix(ijk_to_ras)
    segmentation_to_volume = vtk.vtkGeneralTransform()
    slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(segmentation_node.GetParentTransformNode(),
                                                         volume_node.GetParentTransformNode(), segmentation_to_volume)
    labelmap = slicer.vtkOrientedImageData()
    segmentation_node.GetBinaryLabelmapRepresentation(segment_id, labelmap)
    resampled = slicer.vtkOrientedImageData()
    slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
        labelmap, reference, resampled, False, False, segmentation_to_volume)
    threshold = vtk.vtkImageThreshold()
    threshold.SetInputData(resampled)
    threshold.ThresholdByLower(0)
    threshold.SetInValue(0)
    threshold.SetOutValue(1)
    threshold.SetOutputScalarType(vtk.VTK_UNSIGNED_CHAR)
    threshold.Update()
    stencil = vtk.vtkImageToImageStencil()
    stencil.SetInputData(threshold.GetOutput())
    stencil.ThresholdByUpper(1)
    stencil.Update()
    return stencil.GetOutput()


def segment_scalar_statistics(segmentation_node, segment_id: str, volume_node,
                              noise: Optional[NoiseEstimate] = None) -> SegmentScalarStatistics:
    """Voxel count, volume (mm³), mean, sample SD, median of the volume inside the segment; SNR when σ is known."""
    stencil = segment_stencil(segmentation_node, segment_id, volume_node)
    accumulate = vtk.vtkImageAccumulate()
    accumulate.SetInputData(volume_node.GetImageData())
    accumulate.SetStencilData(stencil)
    accumulate.Update()
    count = int(accumulate.GetVoxelCount())
    mean = stdev = median = snr = None
    if count > 0:
        histogram = vtk.vtkImageHistogramStatistics()
        histogram.SetInputData(volume_node.GetImageData())
        histogram.SetStencilData(stencil)
        histogram.Update()
        mean, stdev, median = accumulate.GetMean()[0], accumulate.GetStandardDeviation()[0], histogram.GetMedian()
        if noise is not None and noise.defined:
            snr = mean / noise.sigma
    name = segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
    return SegmentScalarStatistics(segment_id, name, count, count * float(np.prod(volume_node.GetSpacing())),
                                   mean, stdev, median, snr)


def all_segment_statistics(segmentation_node, volume_node,
                           noise: Optional[NoiseEstimate] = None) -> list[SegmentScalarStatistics]:
    """``segment_scalar_statistics`` for every segment, in segment order."""
    segmentation = segmentation_node.GetSegmentation()
    return [segment_scalar_statistics(segmentation_node, segmentation.GetNthSegmentID(i), volume_node, noise)
            for i in range(segmentation.GetNumberOfSegments())]

