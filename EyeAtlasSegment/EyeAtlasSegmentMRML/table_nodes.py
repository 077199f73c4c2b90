"""Statistics and CNR table nodes: one row per eye × structure (or pair), with units and descriptions on every
column."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import vtk

from EyeAtlasSegmentLib.cnr import CNR_COLUMNS, CnrRow
from EyeAtlasSegmentLib.population import BIOMETRY_COLUMNS, BiometryRow
from EyeAtlasSegmentLib.statistics import CSV_COLUMNS, StructureStats

if TYPE_CHECKING:  # annotations only: the node classes
    import slicer

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
    "qc_status": ("", "Quality control of the eye: pass, doubtful (accepted with a caveat) or not_segmented"),
    "qc_note": ("", "The caveat, or why the eye was not segmented"),
}
#: cnr.csv columns → (unit label, description).
CNR_COLUMN_INFO = {
    "eye": ("", "Eye side"),
    "structure_a": ("", "First structure"),
    "structure_b": ("", "Second structure (outside_mask: the naive recipe's background)"),
    "mean_a": ("a.u.", "ROI mean of the first structure"),
    "mean_b": ("a.u.", "ROI mean of the second structure"),
    "voxels_a": ("voxels", "ROI voxels of the first structure"),
    "voxels_b": ("voxels", "ROI voxels of the second structure"),
    "cnr": ("", "|mean_a - mean_b| / noise sigma"),
    "cnr_ci_low": ("", "Lower end of the 95% confidence interval of cnr"),
    "cnr_ci_high": ("", "Upper end of the 95% confidence interval of cnr"),
    "cnr_noise_sd": ("a.u.", "Noise sigma used for cnr"),
    "noise_method": ("", "Where noise sigma comes from"),
    "cnr_pooled": ("", "|mean_a - mean_b| / sqrt(sd_a^2 + sd_b^2), ROI SDs"),
    "cnr_pooled_ci_low": ("", "Lower end of the 95% confidence interval of cnr_pooled"),
    "cnr_pooled_ci_high": ("", "Upper end of the 95% confidence interval of cnr_pooled"),
    "formula": ("", "Formulas used"),
    "note": ("", "Caveats"),
}
#: biometry.csv columns → (unit label, description); a row's unit is in its "unit" column (mm, mm2, mm3).
BIOMETRY_COLUMN_INFO = {
    "eye": ("", "Eye side"),
    "measure": ("", "Volume or biometric measure (definitions in report.json and the README)"),
    "value": ("", "Value, in the row's unit"),
    "unit": ("", "Unit of the value and of the population columns"),
    "population": ("", "MR-Eye population compared with: F, M or all (both sexes); empty without a norm"),
    "population_n": ("eyes", "Eyes in the population"),
    "population_mean": ("", "Population mean"),
    "population_sd": ("", "Population standard deviation"),
    "population_p2_5": ("", "Population 2.5th percentile"),
    "population_p50": ("", "Population median"),
    "population_p97_5": ("", "Population 97.5th percentile"),
    "z_score": ("", "(value - population mean) / population SD"),
    "percentile": ("%", "Percentile in the population (two-piece normal through its 2.5th, 50th, 97.5th percentiles)"),
    "flag": ("", "low or high: outside the population's 2.5-97.5 % range"),
    "note": ("", "How the value was found, why it is missing, or that the population has no norm for it"),
}
_TEXT_COLUMNS = {"eye", "structure", "noise_method", "noise_model", "signal_correction", "snr_note", "qc_status",
                 "qc_note", "structure_a", "structure_b", "formula", "note", "measure", "unit", "population", "flag"}
_INTEGER_COLUMNS = {"label", "atlas_label", "voxels", "noise_voxels", "roi_voxels", "voxels_a", "voxels_b"}


def _column(name: str):
    if name in _TEXT_COLUMNS:
        array = vtk.vtkStringArray()
    elif name in _INTEGER_COLUMNS:
        array = vtk.vtkIntArray()
    else:
        array = vtk.vtkDoubleArray()
    array.SetName(name)
    return array


def statistics_table(scene: slicer.vtkMRMLScene, stats: Sequence[StructureStats], name: str) -> slicer.vtkMRMLTableNode:
    """A table node with the engine's statistics (``CSV_COLUMNS``); undefined numbers are NaN."""
    return rows_table(scene, CSV_COLUMNS, COLUMN_INFO, stats, name)


def cnr_table(scene: slicer.vtkMRMLScene, rows: Sequence[CnrRow], name: str) -> slicer.vtkMRMLTableNode:
    """A table node with the engine's CNR rows (``CNR_COLUMNS``); undefined numbers are NaN."""
    return rows_table(scene, CNR_COLUMNS, CNR_COLUMN_INFO, rows, name)


def biometry_table(scene: slicer.vtkMRMLScene, rows: Sequence[BiometryRow], name: str) -> slicer.vtkMRMLTableNode:
    """A table node with the engine's biometry rows (``BIOMETRY_COLUMNS``): every volume and length of each eye
    against the population; undefined numbers are NaN."""
    return rows_table(scene, BIOMETRY_COLUMNS, BIOMETRY_COLUMN_INFO, rows, name)


def rows_table(scene: slicer.vtkMRMLScene, column_names: Sequence[str], info: dict, rows: Sequence,
               name: str) -> slicer.vtkMRMLTableNode:
    """A table node from rows with ``as_row()``: typed columns, units and descriptions from ``info``."""
    table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    columns = {column: _column(column) for column in column_names}
    for row in rows:
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
    for column, (unit, description) in info.items():
        table_node.SetColumnUnitLabel(column, unit)
        table_node.SetColumnDescription(column, description)
    table_node.Modified()
    return table_node
