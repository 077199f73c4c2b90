"""Slicer's Segment Statistics module around the SNR plugin, on slicer-core (real MRML, no Qt, no application).

Segment Statistics is a scripted Qt module that slicer-core does not ship. ``install()`` provides what the plugin and
the module's logic import (``SegmentStatistics``, ``SegmentStatisticsPlugins``, ``slicer.i18n``):

- ``SLICER_SOURCE_DIR`` set to a Slicer source tree (e.g. ``git archive v5.10.0 Modules/Scripted/SegmentStatistics``
  unpacked): Slicer's own ``SegmentStatistics.py`` and its three plugins run, with inert ``qt``/``ctk`` modules (the
  logic only builds option widgets with them) and the parameter-node part of ``ScriptedLoadableModuleLogic``;
- otherwise a Qt-free host written to the behaviour of ``SegmentStatistics.py`` in Slicer 5.8.0 and 5.10.0 (identical
  there but for ``zip(strict=True)``) that the plugin depends on: plugin defaults (plugin enabled, keys enabled iff
  in ``defaultKeys``), requested keys read from the parameter node, ``registerPlugin`` warning on a second
  registration, a non-singleton parameter node found by its ``ModuleName`` attribute, and ``exportToTable``: a
  column's array type comes from the Python type of the first segment's value (``int`` → ``vtkLongArray``,
  ``float`` → ``vtkDoubleArray``, anything else → the table node's default ``vtkStringArray``); measurement-info
  entries other than name/title/description/units become column properties (``type`` converts the column); a
  missing value is written as ``float("nan")`` with ``SetValue``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import types
from pathlib import Path

import slicer
import vtk

#: The modules ``install`` adds; ``uninstall`` removes them (and the plugin module imported through them).
_INSTALLED = ("qt", "ctk", "vtkITK", "vtkSegmentationCorePython", "slicer.i18n", "slicer.ScriptedLoadableModule",
              "SegmentStatistics", "SegmentStatisticsPlugins", "EyeAtlasSegmentPlugins.SNRSegmentStatisticsPlugin")


class Translator:
    """``slicer.i18n.tr``: identity, or another language's titles when ``language`` maps the source text."""

    language: dict[str, str] = {}

    @classmethod
    def tr(cls, text: str) -> str:
        return cls.language.get(text, text)


def _i18n_module() -> types.ModuleType:
    module = types.ModuleType("slicer.i18n")
    module.tr = Translator.tr
    module.translate = lambda context, text: Translator.tr(text)
    return module


class ScriptedLoadableModuleLogic:
    """The parameter-node part of Slicer's ``ScriptedLoadableModuleLogic`` (what Segment Statistics uses)."""

    def __init__(self, parent=None):
        self.moduleName = type(self).__name__.removesuffix("Logic")
        self.isSingletonParameterNode = True

    def getParameterNode(self):
        scene = slicer.mrmlScene
        if self.isSingletonParameterNode:
            node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node is not None:
                return node
        else:
            for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode")):
                node = scene.GetNthNodeByClass(index, "vtkMRMLScriptedModuleNode")
                if node.GetAttribute("ModuleName") == self.moduleName:
                    return node
        node = slicer.vtkMRMLScriptedModuleNode()
        if self.isSingletonParameterNode:
            node.SetSingletonTag(self.moduleName)
        node.SetAttribute("ModuleName", self.moduleName)
        node.SetName(scene.GenerateUniqueName(self.moduleName))
        return scene.AddNode(node)


class SegmentStatisticsPluginBase:
    """Qt-free ``SegmentStatisticsPluginBase`` (Slicer 5.8/5.10): measurement info, defaults, requested keys."""

    @staticmethod
    def createCodedEntry(codeValue, codingScheme, codeMeaning, returnAsString=False):
        entry = slicer.vtkCodedEntry()
        entry.SetValueSchemeMeaning(codeValue, codingScheme, codeMeaning)
        return entry.GetAsString() if returnAsString else entry

    @staticmethod
    def isValidCodedEntry(codedEntryStr):
        if not codedEntryStr:
            return False
        entry = slicer.vtkCodedEntry()
        entry.SetFromString(codedEntryStr)
        return bool(entry.GetCodeValue() or entry.GetCodingSchemeDesignator() or entry.GetCodeMeaning())

    @staticmethod
    def createMeasurementInfo(name, title, description, units, quantityDicomCode=None, unitsDicomCode=None,
                              measurementMethodDicomCode=None, derivationDicomCode=None, componentNames=None):
        info = {"name": name, "title": title, "description": description, "units": units}
        if componentNames:
            info["componentNames"] = componentNames
        for key, code in (("DICOM.QuantityCode", quantityDicomCode), ("DICOM.UnitsCode", unitsDicomCode),
                          ("DICOM.MeasurementMethodCode", measurementMethodDicomCode),
                          ("DICOM.DerivationCode", derivationDicomCode)):
            if SegmentStatisticsPluginBase.isValidCodedEntry(code):
                info[key] = code
        return info

    def __init__(self):
        self.name = ""
        self.title = ""
        self.keys = []
        self.defaultKeys = []
        self.parameterNode = None

    def setDefaultParameters(self, parameterNode, overwriteExisting=False):
        if not parameterNode.GetParameter(type(self).__name__ + ".enabled"):
            parameterNode.SetParameter(type(self).__name__ + ".enabled", "True")
        for key in self.keys:
            parameter = self.toLongKey(key) + ".enabled"
            if not parameterNode.GetParameter(parameter) or overwriteExisting:
                parameterNode.SetParameter(parameter, str(key in self.defaultKeys))

    def getRequestedKeys(self):
        if not self.parameterNode:
            return ()
        return [key for key in self.keys if self.parameterNode.GetParameter(self.toLongKey(key) + ".enabled") == "True"]

    def toLongKey(self, key):
        return type(self).__name__ + "." + key

    def toShortKey(self, key):
        prefix = type(self).__name__ + "."
        return key[len(prefix):] if key.startswith(prefix) else ""

    def setParameterNode(self, parameterNode):
        if self.parameterNode != parameterNode:
            self.parameterNode = parameterNode
            if parameterNode:
                self.setDefaultParameters(parameterNode)

    def getParameterNode(self):
        return self.parameterNode


class SegmentStatisticsLogic(ScriptedLoadableModuleLogic):
    """Qt-free ``SegmentStatisticsLogic`` (Slicer 5.8/5.10) hosting only the plugins registered by the test."""

    registeredPlugins: list = []
    segmentColumnName = "Segment"

    @staticmethod
    def registerPlugin(plugin):
        if not isinstance(plugin, SegmentStatisticsPluginBase):
            return
        if plugin.__class__ not in SegmentStatisticsLogic.registeredPlugins:
            SegmentStatisticsLogic.registeredPlugins.append(plugin.__class__)
        else:
            logging.warning("SegmentStatisticsLogic.registerPlugin will not register plugin because another plugin "
                            "with the same name has already been registered")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plugins = [plugin_class() for plugin_class in SegmentStatisticsLogic.registeredPlugins]
        self.isSingletonParameterNode = False
        self.parameterNode = None
        self.reset()

    def getParameterNode(self):
        if not self.parameterNode:
            self.setParameterNode(ScriptedLoadableModuleLogic.getParameterNode(self))
        return self.parameterNode

    def setParameterNode(self, parameterNode):
        if self.parameterNode == parameterNode:
            return
        for plugin in self.plugins:
            plugin.setDefaultParameters(parameterNode)
        if not parameterNode.GetParameter("visibleSegmentsOnly"):
            parameterNode.SetParameter("visibleSegmentsOnly", "True")
        self.parameterNode = parameterNode
        for plugin in self.plugins:
            plugin.setParameterNode(parameterNode)

    def getStatistics(self):
        parameters = self.getParameterNode()
        if not hasattr(parameters, "statistics"):
            parameters.statistics = {"SegmentIDs": [], "MeasurementInfo": {}}
        return parameters.statistics

    def reset(self):
        self.keys = [self.segmentColumnName] + [p.toLongKey(k) for p in self.plugins for k in p.keys]
        self.getParameterNode().statistics = {"SegmentIDs": [], "MeasurementInfo": {}}

    def computeStatistics(self):
        self.reset()
        parameters = self.getParameterNode()
        segmentation_node = slicer.mrmlScene.GetNodeByID(parameters.GetParameter("Segmentation"))
        ids = vtk.vtkStringArray()
        if parameters.GetParameter("visibleSegmentsOnly") == "True":
            segmentation_node.GetDisplayNode().GetVisibleSegmentIDs(ids)
        else:
            segmentation_node.GetSegmentation().GetSegmentIDs(ids)
        for index in range(ids.GetNumberOfValues()):
            self.updateStatisticsForSegment(ids.GetValue(index))

    def updateStatisticsForSegment(self, segmentID):
        segmentation_node = slicer.mrmlScene.GetNodeByID(self.getParameterNode().GetParameter("Segmentation"))
        statistics = self.getStatistics()
        if segmentID not in statistics["SegmentIDs"]:
            statistics["SegmentIDs"].append(segmentID)
        statistics[segmentID, self.segmentColumnName] = segmentation_node.GetSegmentation().GetSegment(
            segmentID).GetName()
        for plugin in self.plugins:
            name = type(plugin).__name__
            if self.getParameterNode().GetParameter(name + ".enabled") == "True":
                stats = plugin.computeStatistics(segmentID)
                for key in stats:
                    statistics[segmentID, name + "." + key] = stats[key]
                    statistics["MeasurementInfo"][name + "." + key] = plugin.getMeasurementInfo(key)

    def getPluginByKey(self, key):
        return next((p for p in self.plugins if p.toShortKey(key) in p.keys), None)

    def getNonEmptyKeys(self):
        statistics = self.getStatistics()
        return [key for key in self.keys if any((i, key) in statistics for i in statistics["SegmentIDs"])]

    def exportToTable(self, table, nonEmptyKeysOnly=True):
        table.RemoveAllColumns()
        statistics = self.getStatistics()
        keys = self.getNonEmptyKeys() if nonEmptyKeysOnly else self.keys
        for key in keys:
            measurements = [statistics[i, key] for i in statistics["SegmentIDs"] if (i, key) in statistics]
            if measurements and isinstance(measurements[0], int):
                column = table.AddColumn(vtk.vtkLongArray())
            elif measurements and isinstance(measurements[0], float):
                column = table.AddColumn(vtk.vtkDoubleArray())
            else:
                column = table.AddColumn()
            info = statistics["MeasurementInfo"].get(key) or {}
            name = info.get("name") or key
            column.SetName(name)
            table.SetColumnTitle(name, info.get("title", ""))
            for property_name, value in info.items():
                if property_name == "description":
                    table.SetColumnDescription(name, str(value))
                elif property_name == "units":
                    table.SetColumnUnitLabel(name, str(value))
                elif property_name not in ("name", "title"):
                    table.SetColumnProperty(name, str(property_name), str(value))
        for segment_id in statistics["SegmentIDs"]:
            row = table.AddEmptyRow()
            for column_index, key in enumerate(keys):
                value = statistics.get((segment_id, key))
                if value is None and key != self.segmentColumnName:
                    value = float("nan")
                table.GetTable().GetColumn(column_index).SetValue(row, value)
        table.Modified()


class _Inert:
    """Any attribute, call or instance: the Qt widgets Slicer's plugins build and never show here."""

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return _Inert()

    def __call__(self, *args, **kwargs):
        return _Inert()


def _inert_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__getattr__ = lambda attribute: _Inert
    return module


def slicer_source_dir() -> Path | None:
    """The Segment Statistics folder of the Slicer source tree in ``SLICER_SOURCE_DIR``, if set."""
    root = os.environ.get("SLICER_SOURCE_DIR")
    if not root:
        return None
    folder = Path(root) / "Modules" / "Scripted" / "SegmentStatistics"
    if not (folder / "SegmentStatistics.py").is_file():
        raise FileNotFoundError(f"SLICER_SOURCE_DIR={root}: no Modules/Scripted/SegmentStatistics/SegmentStatistics.py")
    return folder


def install() -> types.ModuleType:
    """Make ``SegmentStatistics`` importable (Slicer's own or the host above); returns that module."""
    i18n = _i18n_module()
    sys.modules["slicer.i18n"] = slicer.i18n = i18n
    source = slicer_source_dir()
    if source is not None:
        import slicer_core.vtkITK

        scripted = types.ModuleType("slicer.ScriptedLoadableModule")
        scripted.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
        for name in ("ScriptedLoadableModule", "ScriptedLoadableModuleWidget", "ScriptedLoadableModuleTest"):
            setattr(scripted, name, type(name, (), {}))
        sys.modules.update({"qt": _inert_module("qt"), "ctk": _inert_module("ctk"), "vtkITK": slicer_core.vtkITK,
                            "vtkSegmentationCorePython": slicer, "slicer.ScriptedLoadableModule": scripted})
        sys.path.insert(0, str(source))
        return importlib.import_module("SegmentStatistics")
    plugins = types.ModuleType("SegmentStatisticsPlugins")
    plugins.SegmentStatisticsPluginBase = SegmentStatisticsPluginBase
    statistics = types.ModuleType("SegmentStatistics")
    statistics.SegmentStatisticsLogic = SegmentStatisticsLogic
    SegmentStatisticsLogic.registeredPlugins = []
    sys.modules.update({"SegmentStatisticsPlugins": plugins, "SegmentStatistics": statistics})
    return statistics


def uninstall() -> None:
    """Remove what ``install`` added, so that other tests see slicer-core as it is."""
    source = slicer_source_dir()
    if source is not None and str(source) in sys.path:
        sys.path.remove(str(source))
    for name in list(sys.modules):
        if name in _INSTALLED or name.startswith("SegmentStatisticsPlugins."):
            del sys.modules[name]
    if hasattr(slicer, "i18n"):
        del slicer.i18n
