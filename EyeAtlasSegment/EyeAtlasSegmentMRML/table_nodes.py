"""The statistics table node: one row per eye × structure, with units and descriptions on every column."""

from __future__ import annotations

import math
from typing import Sequence

import vtk

from EyeAtlasSegmentLib.statistics import CSV_COLUMNS, StructureStats

#: Column → (unit label, description). Intensities are in the image's own arbitrary units.
COLUMN_INFO = {
    "eye": ("", "Eye side"),
    "label": ("", "Value in the label map (right 1-9, left 11-19)"),
    "atlas_label": ("", "MR-Eye atlas label (1-9)"),
    "structure": ("", "Structure"),
    "voxels": ("voxels", "Number of patient voxels in the structure"),
    "volume_mm3": ("mm3", "Volume (voxel count × voxel volume)"),
    "mean": ("a.u.", "Mean intensity"),
    "sd": ("a.u.", "Sample standard deviation of intensity (N-1)"),
    "median": ("a.u.", "Median intensity"),
    "snr": ("", "Signal-to-noise ratio: ROI mean / noise sigma"),
    "snr_ci_low": ("", "Lower end of the 95% confidence interval of SNR"),
    "snr_ci_high": ("", "Upper end of the 95% confidence interval of SNR"),
    "snr_signal": ("a.u.", "SNR numerator: ROI mean, or its noise-floor-corrected value"),
    "signal_correction": ("", "Signal estimate: none (ROI mean) or power (sqrt(mean(M^2) - 2n sigma^2))"),
    "noise_sd": ("a.u.", "Noise sigma (Gaussian SD per quadrature channel)"),
    "noise_method": ("", "Where noise sigma comes from (air_background, roi, noise_scan, difference, naive)"),
    "noise_model": ("", "How sigma follows from the noise samples (rayleigh_sd, rayleigh_mean, sos, none)"),
    "noise_voxels": ("voxels", "Voxels used to estimate noise sigma"),
    "roi_voxels": ("voxels", "Voxels of the SNR region (structure after erosion)"),
    "roi_erosion_mm": ("mm", "Erosion of the structure for the SNR region"),
    "roi_mean": ("a.u.", "Mean intensity in the SNR region"),
    "roi_sd": ("a.u.", "Sample SD of intensity in the SNR region"),
    "snr_note": ("", "Why SNR is undefined, low voxel counts, or caveats"),
}
_TEXT_COLUMNS = {"eye", "structure", "noise_method", "noise_model", "signal_correction", "snr_note"}
_INTEGER_COLUMNS = {"label", "atlas_label", "voxels", "noise_voxels", "roi_voxels"}


def _column(name: str):
    if name in _TEXT_COLUMNS:
        array = vtk.vtkStringArray()
    elif name in _INTEGER_COLUMNS:
        array = vtk.vtkIntArray()
    else:
        array = vtk.vtkDoubleArray()
    array.SetName(name)
    return array


def statistics_table(scene, stats: Sequence[StructureStats], name: str):
    """A table node with the engine's statistics (``CSV_COLUMNS``); undefined numbers are NaN."""
    table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    columns = {column: _column(column) for column in CSV_COLUMNS}
    for row in stats:
        values = row.as_row()
        for column, array in columns.items():
            value = values[column]
            if column in _TEXT_COLUMNS:
                array.InsertNextValue("" if value is None else str(value))
            elif column in _INTEGER_COLUMNS:
                array.InsertNextValue(int(value))
            else:
                array.InsertNextValue(math.nan if value is None else float(value))
    table = table_node.GetTable()
    for array in columns.values():
        table.AddColumn(array)
    for column, (unit, description) in COLUMN_INFO.items():
        table_node.SetColumnUnitLabel(column, unit)
        table_node.SetColumnDescription(column, description)
    table_node.Modified()
    return table_node
