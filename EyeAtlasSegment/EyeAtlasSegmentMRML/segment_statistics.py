"""Per-segment scalar statistics computed the way Slicer's Segment Statistics computes them, plus SNR.

Segment Statistics' scalar-volume plugin resamples each segment's binary labelmap onto the volume's grid with
nearest-neighbour interpolation, turns it into a stencil and runs ``vtkImageAccumulate`` (sample SD, N−1) and
``vtkImageHistogramStatistics`` (median). The same is done here without Qt, from Slicer's own segment export, so
that the numbers in batch runs, in the module's table and in the Segment Statistics module agree. SNR = mean / σ
with σ from a ``NoiseEstimate``.

``SNR_MEASUREMENTS`` and ``snr_values`` are the SNR plugin's columns and values for Segment Statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from EyeAtlasSegmentLib.structures import Code

if TYPE_CHECKING:  # the noise engine (SimpleITK) is imported only when SNR is computed
    from EyeAtlasSegmentLib.noise import NoiseEstimate

    from .noise_segments import SegmentationNoiseCache


@dataclass
class SegmentScalarStatistics:
    """Segment Statistics' standard measures of one segment on one volume, and its SNR."""

    segment_id: str
    name: str
    voxel_count: int
    volume_mm3: float
    mean: float | None
    stdev: float | None
    median: float | None
    snr: float | None


def segment_stencil(segmentation_node: slicer.vtkMRMLSegmentationNode, segment_id: str,
                    volume_node: slicer.vtkMRMLScalarVolumeNode):
    """The segment as a ``vtkImageStencilData`` on the volume's voxel grid.

    The voxels are Slicer's own export (``slicer.util.arrayFromSegmentBinaryLabelmap``: nearest-neighbour, across
    the nodes' parent transforms), which selects the same voxels as Segment Statistics' resampling.
    """
    mask_kji = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segment_id, volume_node) > 0
    volume_image = volume_node.GetImageData()
    mask_image = vtk.vtkImageData()
    mask_image.SetExtent(volume_image.GetExtent())
    mask_image.SetOrigin(volume_image.GetOrigin())
    mask_image.SetSpacing(volume_image.GetSpacing())
    mask_image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(mask_kji.astype(np.uint8).ravel(), deep=True))
    stencil = vtk.vtkImageToImageStencil()
    stencil.SetInputData(mask_image)
    stencil.ThresholdByUpper(1)
    stencil.Update()
    return stencil.GetOutput()


def segment_scalar_statistics(segmentation_node: slicer.vtkMRMLSegmentationNode, segment_id: str,
                              volume_node: slicer.vtkMRMLScalarVolumeNode,
                              noise: NoiseEstimate | None = None) -> SegmentScalarStatistics:
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


def all_segment_statistics(segmentation_node: slicer.vtkMRMLSegmentationNode,
                           volume_node: slicer.vtkMRMLScalarVolumeNode,
                           noise: NoiseEstimate | None = None) -> list[SegmentScalarStatistics]:
    """``segment_scalar_statistics`` for every segment, in segment order."""
    segmentation = segmentation_node.GetSegmentation()
    return [segment_scalar_statistics(segmentation_node, segmentation.GetNthSegmentID(i), volume_node, noise)
            for i in range(segmentation.GetNumberOfSegments())]


@dataclass(frozen=True)
class SnrMeasurement:
    """One SNR column of Segment Statistics.

    ``name`` is the column name, fixed in every UI language (scripts read it); ``value_type`` the column type in
    ``vtkMRMLTableNode`` terms ("double", "long", "string"), which every value of the column has; ``units_code`` the
    UCUM units code where one applies (no quantity code: Slicer's DICOM code lists have none for SNR, and σ is not the
    segment's own standard deviation, so no quantity or derivation code is given).
    """

    key: str
    name: str
    value_type: str
    units_code: Code | None = None


SNR_MEASUREMENTS = (
    SnrMeasurement("snr", "SNR", "double", Code("UCUM", "1", "no units")),
    SnrMeasurement("noise_sigma", "Noise sigma", "double"),  # in the volume's voxel value units
    SnrMeasurement("noise_voxels", "Noise voxels", "long", Code("UCUM", "voxels", "voxels")),
    SnrMeasurement("noise_method", "Noise method", "string"),
    SnrMeasurement("snr_note", "SNR note", "string"),
)
#: The value of each column type where there is none (values are float, int and str: Segment Statistics makes a
#: vtkDoubleArray, vtkLongArray or vtkStringArray column from the type of the first value).
UNDEFINED_VALUES = {"double": math.nan, "long": 0, "string": ""}

SnrValue = Union[float, int, str]


def undefined_snr_values(note: str) -> dict[str, SnrValue]:
    """Every SNR measurement undefined (NaN, 0 noise voxels, ""), with ``note`` saying why."""
    values = {m.key: UNDEFINED_VALUES[m.value_type] for m in SNR_MEASUREMENTS}
    values["snr_note"] = note
    return values


def snr_values(segmentation_node: slicer.vtkMRMLSegmentationNode, segment_id: str,
               volume_node: slicer.vtkMRMLScalarVolumeNode,
               noise_cache: SegmentationNoiseCache) -> dict[str, SnrValue]:
    """Every SNR measurement of one segment, each a value of its declared type (``SNR_MEASUREMENTS``).

    An input that gives no SNR (no volume, colour volume, empty or zero-filled noise ROI, empty segment) gives NaN
    SNR and the reason in the note; the noise segments themselves get σ but no SNR.
    """
    if volume_node is None or volume_node.GetImageData() is None:
        return undefined_snr_values("select a scalar volume for SNR")
    noise, noise_segment_ids = noise_cache.get(segmentation_node, volume_node)
    values = undefined_snr_values(noise.reason)
    values.update(noise_sigma=float(noise.sigma) if noise.defined else math.nan, noise_voxels=int(noise.voxels),
                  noise_method=noise.method)
    if segment_id in noise_segment_ids:
        values["snr_note"] = "; ".join(filter(None, ("noise ROI", noise.reason)))
    elif noise.defined:
        measured = segment_scalar_statistics(segmentation_node, segment_id, volume_node, noise)
        if measured.snr is None:
            values["snr_note"] = "; ".join(filter(None, ("the segment is empty on the volume's grid", noise.reason)))
        else:
            values["snr"] = float(measured.snr)
    return values
