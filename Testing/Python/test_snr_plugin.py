"""The SNR plugin inside Segment Statistics, on real MRML (slicer-core) and real table nodes.

Segment Statistics itself is a Qt module that slicer-core lacks: ``segment_statistics_host`` runs Slicer's own
``SegmentStatistics.py`` when ``SLICER_SOURCE_DIR`` points at a Slicer source tree, else a host that types and fills
table columns as Slicer 5.8/5.10's ``exportToTable`` does (see its docstring). Volumes carry Rayleigh noise of known σ.
"""

from __future__ import annotations

import importlib
import logging
import math

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is part of the [test] extras")

import segment_statistics_host as host  # noqa: E402
from EyeAtlasSegmentMRML.headless import ensure_scene, node_ids, remove_nodes_except  # noqa: E402

PLUGIN = "SNRSegmentStatisticsPlugin"
SHAPE_KJI = (32, 64, 64)
HEAD = (slice(8, 24), slice(20, 44), slice(20, 44))
SIGNAL = 400.0
#: Column array class and Python value type for each column type a measurement can declare.
COLUMN_CLASS = {"double": "vtkDoubleArray", "long": "vtkLongArray", "string": "vtkStringArray"}
VALUE_TYPE = {"double": float, "long": int, "string": str}


@pytest.fixture(scope="module")
def scene():
    """The shared scene, left as it was found: the nodes these tests add are removed afterwards."""
    shared = ensure_scene()
    before = node_ids(shared)
    yield shared
    remove_nodes_except(shared, before)


@pytest.fixture(scope="module")
def statistics_module():
    """``SegmentStatistics`` (Slicer's own or the host) with the SNR plugin registered."""
    module = host.install()
    plugin_module = importlib.import_module(f"EyeAtlasSegmentPlugins.{PLUGIN}")
    module.SegmentStatisticsLogic.registerPlugin(plugin_module.SNRSegmentStatisticsPlugin())
    yield module
    host.uninstall()


@pytest.fixture(scope="module")
def plugin_module(statistics_module):
    return importlib.import_module(f"EyeAtlasSegmentPlugins.{PLUGIN}")


def _mask(*region) -> np.ndarray:
    mask = np.zeros(SHAPE_KJI, bool)
    mask[region] = True
    return mask


def head_volume(scene, name: str, sigma_left: float = 20.0, sigma_right: float = 20.0, seed: int = 3):
    """A block of tissue (signal 400) in air; magnitude of complex Gaussian noise, σ per half (i < 32, i ≥ 32)."""
    rng = np.random.default_rng(seed)
    sigma = np.where(np.arange(SHAPE_KJI[2]) < SHAPE_KJI[2] // 2, sigma_left, sigma_right)[None, None, :]
    real = SIGNAL * _mask(*HEAD) + rng.normal(0.0, 1.0, SHAPE_KJI) * sigma
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name))
    slicer.util.updateVolumeFromArray(volume, np.hypot(real, rng.normal(0.0, 1.0, SHAPE_KJI) * sigma)
                                      .astype(np.float32))
    return volume


def rgb_volume(scene, name: str):
    """A colour (3-component, uint8) volume on the same grid as ``head_volume``."""
    rng = np.random.default_rng(4)
    volume = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", scene.GenerateUniqueName(name))
    slicer.util.updateVolumeFromArray(volume, rng.integers(0, 255, SHAPE_KJI + (3,), dtype=np.uint8))
    return volume


def segmentation(scene, volume_node, segments: dict[str, np.ndarray]):
    """A segmentation on the volume's grid with one segment per name (an all-False mask gives an empty segment)."""
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName("segments"))
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    node.CreateDefaultDisplayNodes()
    for name, mask in segments.items():
        segment_id = node.GetSegmentation().AddEmptySegment("", name)
        if mask.any():
            slicer.util.updateSegmentBinaryLabelmapFromArray(mask.astype(np.uint8), node, segment_id, volume_node)
    return node


def run_segment_statistics(statistics_module, scene, segmentation_node, volume_node, logic=None, snr_keys=True):
    """Segment Statistics with a new parameter node (as in a new scene), SNR keys switched on as a user would (or
    left at their defaults); returns the logic and the table node."""
    if logic is None:
        logic = statistics_module.SegmentStatisticsLogic()
        logic.setParameterNode(slicer.vtkMRMLScriptedModuleNode())
    parameters = logic.getParameterNode()
    parameters.SetParameter("Segmentation", segmentation_node.GetID())
    parameters.SetParameter("ScalarVolume", volume_node.GetID())
    parameters.SetParameter("visibleSegmentsOnly", "False")
    if snr_keys:
        for plugin in logic.plugins:
            if type(plugin).__name__ == PLUGIN:
                for key in plugin.keys:
                    parameters.SetParameter(f"{PLUGIN}.{key}.enabled", "True")
    logic.computeStatistics()
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName("statistics"))
    logic.exportToTable(table)
    return logic, table


def snr_rows(logic) -> dict[str, dict]:
    """Segment name → {SNR key: value} from the statistics dictionary."""
    statistics = logic.getStatistics()
    prefix = PLUGIN + "."
    entries = [(k, v) for k, v in statistics.items() if isinstance(k, tuple) and k[1].startswith(prefix)]
    return {statistics[i, "Segment"]: {key[len(prefix):]: value for (sid, key), value in entries if sid == i}
            for i in statistics["SegmentIDs"]}


def assert_every_snr_value_has_its_declared_column_type(logic, table, plugin_module):
    """Each SNR key: in every row, a value of the type its measurement info declares, in a column of that type."""
    statistics = logic.getStatistics()
    keys = plugin_module.SNRSegmentStatisticsPlugin().keys
    for key in keys:
        info = statistics["MeasurementInfo"][f"{PLUGIN}.{key}"]
        declared = info["type"]
        column = table.GetTable().GetColumnByName(info["name"])
        assert column is not None and column.GetClassName() == COLUMN_CLASS[declared], (key, declared)
        assert column.GetNumberOfTuples() == len(statistics["SegmentIDs"])
        for segment_id in statistics["SegmentIDs"]:
            value = statistics[segment_id, f"{PLUGIN}.{key}"]
            assert type(value) is VALUE_TYPE[declared], (key, statistics[segment_id, "Segment"], value)


def test_background_hair_and_airway_are_measured_not_taken_as_noise_and_every_cell_is_typed(
        statistics_module, plugin_module, scene):
    volume = head_volume(scene, "head")
    names = ["Background", "Hair", "Airway", "Background tissue"]
    tissue = {name: _mask(slice(10 + 3 * n, 13 + 3 * n), slice(24, 40), slice(24, 40)) for n, name in enumerate(names)}
    tissue["Tissue"] = _mask(HEAD[0], slice(20, 24), HEAD[2])
    tissue["Not drawn yet"] = np.zeros(SHAPE_KJI, bool)
    logic, table = run_segment_statistics(statistics_module, scene, segmentation(scene, volume, tissue), volume)
    assert_every_snr_value_has_its_declared_column_type(logic, table, plugin_module)
    rows = snr_rows(logic)
    assert math.isnan(rows["Not drawn yet"]["snr"]) and "empty" in rows["Not drawn yet"]["snr_note"]
    for name in names + ["Tissue"]:
        row = rows[name]
        assert row["noise_method"] == "air_background", (name, row)
        assert row["noise_sigma"] == pytest.approx(20.0, rel=0.05)
        assert row["snr"] == pytest.approx(SIGNAL / row["noise_sigma"], rel=0.05)
        assert row["noise_voxels"] > 1000


def test_an_empty_noise_segment_gives_a_note_and_typed_cells_not_an_exception(statistics_module, plugin_module,
                                                                            scene):
    volume = head_volume(scene, "head with empty air")
    segments = {"Tissue": _mask(*HEAD), "Air": np.zeros(SHAPE_KJI, bool)}
    logic, table = run_segment_statistics(statistics_module, scene, segmentation(scene, volume, segments), volume)
    assert_every_snr_value_has_its_declared_column_type(logic, table, plugin_module)
    tissue = snr_rows(logic)["Tissue"]
    assert math.isnan(tissue["snr"]) and math.isnan(tissue["noise_sigma"]) and tissue["noise_voxels"] == 0
    assert "empty" in tissue["snr_note"]


def test_a_colour_volume_gives_a_note_and_typed_cells_not_an_exception(statistics_module, plugin_module, scene):
    volume = rgb_volume(scene, "photo")
    segments = {"Tissue": _mask(*HEAD), "Air": _mask(slice(0, 8), slice(0, 12), slice(0, 12))}
    logic, table = run_segment_statistics(statistics_module, scene, segmentation(scene, volume, segments), volume)
    assert_every_snr_value_has_its_declared_column_type(logic, table, plugin_module)
    for row in snr_rows(logic).values():
        assert math.isnan(row["snr"]) and "components" in row["snr_note"], row


def test_redrawing_renaming_the_air_or_editing_the_volume_changes_sigma_at_once(statistics_module, scene):
    volume = head_volume(scene, "two noise levels", sigma_left=10.0, sigma_right=30.0)
    left_air, right_air = (_mask(slice(0, 8), slice(0, 16), columns) for columns in (slice(0, 16), slice(48, 64)))
    node = segmentation(scene, volume, {"Tissue": _mask(*HEAD), "Air": left_air})
    air_id = node.GetSegmentation().GetSegmentIdBySegmentName("Air")

    logic, _ = run_segment_statistics(statistics_module, scene, node, volume)
    assert snr_rows(logic)["Tissue"]["noise_sigma"] == pytest.approx(10.0, rel=0.05)

    slicer.util.updateSegmentBinaryLabelmapFromArray(right_air.astype(np.uint8), node, air_id, volume)  # redrawn
    logic, _ = run_segment_statistics(statistics_module, scene, node, volume, logic=logic)
    assert snr_rows(logic)["Tissue"]["noise_sigma"] == pytest.approx(30.0, rel=0.05)

    slicer.util.arrayFromVolume(volume)[:] *= 2.0
    slicer.util.arrayFromVolumeModified(volume)
    logic, _ = run_segment_statistics(statistics_module, scene, node, volume, logic=logic)
    assert snr_rows(logic)["Tissue"]["noise_sigma"] == pytest.approx(60.0, rel=0.05)

    node.GetSegmentation().GetSegment(air_id).SetName("Hair")  # no longer an air segment
    logic, _ = run_segment_statistics(statistics_module, scene, node, volume, logic=logic)
    rows = snr_rows(logic)
    assert rows["Hair"]["noise_method"] != "roi" and "noise ROI" not in rows["Hair"]["snr_note"]


def test_snr_is_off_in_segment_statistics_until_the_module_asks_for_it(statistics_module, plugin_module, scene):
    volume = head_volume(scene, "head for defaults")
    node = segmentation(scene, volume, {"Tissue": _mask(*HEAD)})
    logic, table = run_segment_statistics(statistics_module, scene, node, volume, snr_keys=False)
    assert not [key for key in logic.getNonEmptyKeys() if key.startswith(PLUGIN)]

    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "module's statistics")
    statistics = plugin_module.segmentStatisticsWithSNR(node, volume, table)
    segment_id = node.GetSegmentation().GetSegmentIdBySegmentName("Tissue")
    assert statistics[segment_id, f"{PLUGIN}.snr"] == pytest.approx(SIGNAL / 20.0, rel=0.05)
    names = {table.GetColumnName(i) for i in range(table.GetNumberOfColumns())}
    assert {"SNR", "Noise sigma", "Noise voxels", "Noise method", "SNR note"} <= names


def test_column_names_stay_fixed_in_another_ui_language_and_titles_follow_it(statistics_module, plugin_module, scene,
                                                                           monkeypatch):
    french = {"SNR": "RSB", "Noise sigma": "Sigma du bruit", "Noise voxels": "Voxels de bruit",
              "Noise method": "Méthode de bruit", "SNR note": "Note RSB"}
    monkeypatch.setattr(host.Translator, "language", french)
    volume = head_volume(scene, "head in French")
    node = segmentation(scene, volume, {"Tissue": _mask(*HEAD)})
    logic, table = run_segment_statistics(statistics_module, scene, node, volume)
    for name, title in french.items():
        assert table.GetTable().GetColumnByName(name) is not None, name
        assert table.GetColumnTitle(name) == title
    info = logic.getStatistics()["MeasurementInfo"]
    assert "CodeValue:1|CodingSchemeDesignator:UCUM" in info[f"{PLUGIN}.snr"]["DICOM.UnitsCode"]
    assert "CodeValue:voxels|CodingSchemeDesignator:UCUM" in info[f"{PLUGIN}.noise_voxels"]["DICOM.UnitsCode"]


def _parameters(node) -> dict[str, str]:
    return {name: node.GetParameter(name) for name in node.GetParameterNames()}


def test_the_module_registers_once_and_leaves_the_segment_statistics_settings_alone(statistics_module, plugin_module,
                                                                                  scene, caplog):
    volume = head_volume(scene, "head for the module")
    node = segmentation(scene, volume, {"Tissue": _mask(*HEAD)})
    user_settings = statistics_module.SegmentStatisticsLogic().getParameterNode()  # the Segment Statistics module's
    user_settings.SetParameter("Segmentation", "the user's segmentation")
    user_settings.SetParameter("visibleSegmentsOnly", "True")
    before = _parameters(user_settings)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            plugin_module.registerSNRPlugin()
            plugin_module.segmentStatisticsWithSNR(node, volume, scene.AddNewNodeByClass("vtkMRMLTableNode"))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    registered = statistics_module.SegmentStatisticsLogic.registeredPlugins
    assert [plugin.__name__ for plugin in registered].count(PLUGIN) == 1
    assert _parameters(user_settings) == before


def test_a_reloaded_plugin_class_replaces_the_registered_one(statistics_module, plugin_module):
    reloaded = importlib.reload(plugin_module)  # what the module's Reload does
    reloaded.registerSNRPlugin()
    registered = statistics_module.SegmentStatisticsLogic.registeredPlugins
    assert [plugin for plugin in registered if plugin.__name__ == PLUGIN] == [reloaded.SNRSegmentStatisticsPlugin]
