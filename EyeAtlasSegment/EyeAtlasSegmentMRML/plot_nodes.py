"""Bar charts of the results: SNR per structure and CNR per structure pair, one bar series per eye."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import vtk

from EyeAtlasSegmentLib.cnr import CnrRow
from EyeAtlasSegmentLib.statistics import StructureStats
from EyeAtlasSegmentLib.structures import EYES, STRUCTURE_BY_LABEL

if TYPE_CHECKING:  # annotations only: the node classes
    import slicer

_SERIES_COLOURS = {"right": (0.85, 0.33, 0.10), "left": (0.00, 0.45, 0.74)}


def _bar_chart(scene: slicer.vtkMRMLScene, name: str, titles: tuple[str, str, str],
               points_by_eye: dict) -> slicer.vtkMRMLPlotChartNode:
    """A chart with one bar series per eye; ``points_by_eye[eye]`` = [(x, bar label, y), ...].

    Each eye's points get their own table (x, label, y) so that bars of both eyes share the x axis.
    """
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(name))
    title, x_title, y_title = titles
    chart.SetTitle(title)
    chart.SetXAxisTitle(x_title)
    chart.SetYAxisTitle(y_title)
    for eye in EYES:
        points = points_by_eye.get(eye)
        if not points:
            continue
        eye_table = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(f"{name} {eye}"))
        xs, labels, ys = vtk.vtkIntArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray()
        for array, column in ((xs, "x"), (labels, "label"), (ys, "value")):
            array.SetName(column)
        for x, label, y in points:
            xs.InsertNextValue(x)
            labels.InsertNextValue(label)
            ys.InsertNextValue(y)
        for array in (xs, labels, ys):
            eye_table.GetTable().AddColumn(array)
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", scene.GenerateUniqueName(f"{name} {eye} eye"))
        series.SetAndObserveTableNodeID(eye_table.GetID())
        series.SetXColumnName("x")
        series.SetYColumnName("value")
        series.SetLabelColumnName("label")
        series.SetPlotType(series.PlotTypeBar)
        series.SetColor(*_SERIES_COLOURS[eye])
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return chart


def _value(number: float | None) -> float:
    """A bar height: NaN (no bar) where the value is undefined, as in the result tables."""
    return math.nan if number is None else float(number)


def snr_plot(scene: slicer.vtkMRMLScene, stats: Sequence[StructureStats], name: str) -> slicer.vtkMRMLPlotChartNode:
    """SNR over atlas label (1-9), one bar series per eye in ``stats``."""
    points = {eye: [(row.atlas_label, STRUCTURE_BY_LABEL[row.atlas_label].name, _value(row.snr))
                    for row in stats if row.eye == eye] for eye in EYES}
    return _bar_chart(scene, name, ("SNR per structure",
                                    "structure (atlas label: 1 lens, 2 globe, 3 optic nerve, 4-5 fat, 6-9 recti)",
                                    "SNR (mean / noise sigma)"), points)


def cnr_plot(scene: slicer.vtkMRMLScene, rows: Sequence[CnrRow], name: str) -> slicer.vtkMRMLPlotChartNode:
    """CNR (|mean_a − mean_b| / σ) per structure pair, numbered in table order, one bar series per eye."""
    points = {eye: [(n + 1, f"{row.structure_a} – {row.structure_b}".replace("_", " "), _value(row.cnr))
                    for n, row in enumerate(r for r in rows if r.eye == eye)] for eye in EYES}
    return _bar_chart(scene, name, ("CNR per structure pair", "structure pair (see the CNR table)",
                                    "CNR (|mean a - mean b| / noise sigma)"), points)
