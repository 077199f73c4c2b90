"""A bar chart of SNR per structure (one series per eye) from the statistics table node."""

from __future__ import annotations

import vtk

from EyeAtlasSegmentLib.structures import EYES, STRUCTURE_BY_LABEL

_SERIES_COLOURS = {"right": (0.85, 0.33, 0.10), "left": (0.00, 0.45, 0.74)}


def snr_plot(scene, stats_table_node, name: str):
    """A plot chart node with a bar series of SNR over atlas label (1-9) for each eye in the table.

    Each eye gets its own table (atlas label, structure, SNR) so that bars of both eyes share the x axis.
    """
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(name))
    chart.SetTitle("SNR per structure")
    chart.SetXAxisTitle("structure (atlas label: 1 lens, 2 globe, 3 optic nerve, 4-5 fat, 6-9 recti)")
    chart.SetYAxisTitle("SNR (mean / noise sigma)")
    table = stats_table_node.GetTable()
    eye_column = table.GetColumnByName("eye")
    for eye in EYES:
        rows = [r for r in range(table.GetNumberOfRows()) if eye_column.GetValue(r) == eye]
        if not rows:
            continue
        eye_table = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(f"{name} {eye}"))
        labels, structures, snrs = vtk.vtkIntArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray()
        labels.SetName("atlas_label")
        structures.SetName("structure")
        snrs.SetName("snr")
        for r in rows:
            label = int(table.GetValueByName(r, "atlas_label").ToInt())
            labels.InsertNextValue(label)
            structures.InsertNextValue(STRUCTURE_BY_LABEL[label].name)
            snrs.InsertNextValue(table.GetValueByName(r, "snr").ToDouble())
        for array in (labels, structures, snrs):
            eye_table.GetTable().AddColumn(array)
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", scene.GenerateUniqueName(f"SNR {eye} eye"))
        series.SetAndObserveTableNodeID(eye_table.GetID())
        series.SetXColumnName("atlas_label")
        series.SetYColumnName("snr")
        series.SetLabelColumnName("structure")
        series.SetPlotType(series.PlotTypeBar)
        series.SetColor(*_SERIES_COLOURS[eye])
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return chart
