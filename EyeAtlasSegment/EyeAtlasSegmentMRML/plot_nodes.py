"""Bar charts from the result tables: SNR per structure and CNR per structure pair, one bar series per eye."""

from __future__ import annotations

from typing import TYPE_CHECKING

import vtk

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


def _rows_by_eye(table) -> dict:
    eye_column = table.GetColumnByName("eye")
    return {eye: [r for r in range(table.GetNumberOfRows()) if eye_column.GetValue(r) == eye] for eye in EYES}


def snr_plot(scene: slicer.vtkMRMLScene, stats_table_node: slicer.vtkMRMLTableNode,
             name: str) -> slicer.vtkMRMLPlotChartNode:
    """SNR over atlas label (1-9), one bar series per eye in the statistics table."""
    table = stats_table_node.GetTable()
    points = {eye: [(label, STRUCTURE_BY_LABEL[label].name, table.GetValueByName(r, "snr").ToDouble())
                    for r in rows for label in [table.GetValueByName(r, "atlas_label").ToInt()]]
              for eye, rows in _rows_by_eye(table).items()}
    return _bar_chart(scene, name, ("SNR per structure",
                                    "structure (atlas label: 1 lens, 2 globe, 3 optic nerve, 4-5 fat, 6-9 recti)",
                                    "SNR (mean / noise sigma)"), points)


def cnr_plot(scene: slicer.vtkMRMLScene, cnr_table_node: slicer.vtkMRMLTableNode,
             name: str) -> slicer.vtkMRMLPlotChartNode:
    """CNR (|mean_a − mean_b| / σ) per structure pair, numbered in table order, one bar series per eye."""
    table = cnr_table_node.GetTable()
    points = {eye: [(n + 1, f"{table.GetValueByName(r, 'structure_a').ToString()} – "
                            f"{table.GetValueByName(r, 'structure_b').ToString()}".replace("_", " "),
                     table.GetValueByName(r, "cnr").ToDouble()) for n, r in enumerate(rows)]
              for eye, rows in _rows_by_eye(table).items()}
    return _bar_chart(scene, name, ("CNR per structure pair", "structure pair (see the CNR table)",
                                    "CNR (|mean a - mean b| / noise sigma)"), points)
