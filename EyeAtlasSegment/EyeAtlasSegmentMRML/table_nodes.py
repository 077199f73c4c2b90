"""Statistics, CNR and biometry table nodes: one row per eye × structure (pair, measure), each column typed, with
its unit and description from ``EyeAtlasSegmentLib.columns``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import vtk

from EyeAtlasSegmentLib.cnr import CnrRow
from EyeAtlasSegmentLib.columns import BIOMETRY_TABLE, CNR_TABLE, STATS_TABLE, Column
from EyeAtlasSegmentLib.population import BiometryRow
from EyeAtlasSegmentLib.statistics import StructureStats

if TYPE_CHECKING:  # annotations only: the node classes
    import slicer

_VTK_ARRAY_OF_KIND = {"text": vtk.vtkStringArray, "integer": vtk.vtkIntArray, "real": vtk.vtkDoubleArray}


def statistics_table(scene: slicer.vtkMRMLScene, stats: Sequence[StructureStats], name: str) -> slicer.vtkMRMLTableNode:
    """A table node with the engine's statistics (``columns.STATS_TABLE``); undefined numbers are NaN."""
    return rows_table(scene, STATS_TABLE, stats, name)


def cnr_table(scene: slicer.vtkMRMLScene, rows: Sequence[CnrRow], name: str) -> slicer.vtkMRMLTableNode:
    """A table node with the engine's CNR rows (``columns.CNR_TABLE``); undefined numbers are NaN."""
    return rows_table(scene, CNR_TABLE, rows, name)


def biometry_table(scene: slicer.vtkMRMLScene, rows: Sequence[BiometryRow], name: str) -> slicer.vtkMRMLTableNode:
    """A table node with the engine's biometry rows (``columns.BIOMETRY_TABLE``): every volume and length of each eye
    against the population; undefined numbers are NaN."""
    return rows_table(scene, BIOMETRY_TABLE, rows, name)


def rows_table(scene: slicer.vtkMRMLScene, columns: Sequence[Column], rows: Sequence,
               name: str) -> slicer.vtkMRMLTableNode:
    """A table node from rows with ``as_row()``: one typed column per ``Column``, with its unit and description."""
    table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    arrays = {}
    for column in columns:
        arrays[column.key] = _VTK_ARRAY_OF_KIND[column.kind]()
        arrays[column.key].SetName(column.key)
    for row in rows:
        values = row.as_row()
        for column in columns:
            value = values[column.key]
            if column.kind == "text":
                arrays[column.key].InsertNextValue("" if value is None else str(value))
            elif column.kind == "integer":
                arrays[column.key].InsertNextValue(int(value))
            else:
                arrays[column.key].InsertNextValue(math.nan if value is None else float(value))
    table = table_node.GetTable()
    for array in arrays.values():
        table.AddColumn(array)
    for column in columns:
        table_node.SetColumnUnitLabel(column.key, column.unit)
        table_node.SetColumnDescription(column.key, column.description)
    table_node.Modified()
    return table_node
