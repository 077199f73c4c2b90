"""The Slicer extension as built by CMake, and the module's .ui against the module code (Slicer itself cannot run
here): CMake lists every script and resource, the .ui parses, every widget the code uses exists, every
parameter-node field is bound to a widget that can represent it, and the layers keep their dependencies."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "EyeAtlasSegment"
MODULE_SCRIPT = MODULE / "EyeAtlasSegment.py"
UI_FILE = MODULE / "Resources" / "UI" / "EyeAtlasSegment.ui"
PACKAGES = ("EyeAtlasSegmentLib", "EyeAtlasSegmentMRML", "EyeAtlasSegmentPlugins")


def _module_tree() -> ast.Module:
    return ast.parse(MODULE_SCRIPT.read_text())


def _cmake_list(name: str) -> set[str]:
    cmake = (MODULE / "CMakeLists.txt").read_text()
    block = re.search(rf"set\({name}\n(.*?)\n\s*\)", cmake, flags=re.S).group(1)
    return {line.strip().replace("${MODULE_NAME}", "EyeAtlasSegment") for line in block.splitlines() if line.strip()}


def test_cmake_lists_every_script_and_existing_resources():
    on_disk = {"EyeAtlasSegment.py"} | {p.relative_to(MODULE).as_posix()
                                         for package in PACKAGES for p in (MODULE / package).rglob("*.py")}
    assert _cmake_list("MODULE_PYTHON_SCRIPTS") == on_disk
    resources = _cmake_list("MODULE_PYTHON_RESOURCES")
    assert {"Resources/Icons/EyeAtlasSegment.png", "Resources/UI/EyeAtlasSegment.ui"} <= resources
    for resource in resources:
        assert (MODULE / resource).is_file(), resource
    assert (MODULE / "Resources/Icons/EyeAtlasSegment.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in (MODULE / "CMakeLists.txt").read_text()


def test_extension_metadata_is_filled_in():
    cmake = (REPO / "CMakeLists.txt").read_text()
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        match = re.search(rf'set\(EXTENSION_{key} "([^"]+)"\)', cmake)
        assert match and match.group(1).strip(), key
    assert "add_subdirectory(EyeAtlasSegment)" in cmake


def _ui_widgets() -> dict[str, ElementTree.Element]:
    root = ElementTree.parse(UI_FILE).getroot()
    return {w.get("name"): w for w in root.iter("widget")}


def _parameter_fields() -> dict[str, str]:
    """Field name → annotation source of the @parameterNodeWrapper class."""
    for node in ast.walk(_module_tree()):
        if isinstance(node, ast.ClassDef) and any(getattr(d, "id", "") == "parameterNodeWrapper"
                                                  for d in node.decorator_list):
            return {s.target.id: ast.unparse(s.annotation) for s in node.body if isinstance(s, ast.AnnAssign)}
    raise AssertionError("no @parameterNodeWrapper class in EyeAtlasSegment.py")


def _enum_values(class_name: str) -> set[str]:
    for node in ast.walk(_module_tree()):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {s.value.value for s in node.body if isinstance(s, ast.Assign)}
    raise AssertionError(class_name)


def _bound_widgets() -> dict[str, ElementTree.Element]:
    bound = {}
    for widget in _ui_widgets().values():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                name = prop.find("string").text
                assert name not in bound, f"parameter {name} bound twice"
                bound[name] = widget
    return bound


def test_ui_file_parses_and_has_the_widgets_the_code_uses():
    widgets = _ui_widgets()
    root = ElementTree.parse(UI_FILE).getroot()
    assert root.find("widget").get("class") == "qMRMLWidget"
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE_SCRIPT.read_text())) | \
        set(re.findall(r"widget\.ui\.(\w+)", MODULE_SCRIPT.read_text()))
    assert used, "the widget code should use the .ui"
    assert used <= set(widgets), f"missing in the .ui: {sorted(used - set(widgets))}"
    custom = {c.find("class").text for c in root.iter("customwidget")}
    assert {w.get("class") for w in widgets.values() if not w.get("class").startswith("Q")} <= custom
    node_combos = {n for n, w in widgets.items() if w.get("class") == "qMRMLNodeComboBox"}
    receivers = {c.find("receiver").text for c in root.iter("connection")
                 if c.find("slot").text == "setMRMLScene(vtkMRMLScene*)"}
    assert node_combos == receivers, "every node selector must receive the scene"


def test_every_parameter_node_field_is_bound_to_a_widget_that_can_represent_it():
    fields = _parameter_fields()
    bound = _bound_widgets()
    assert set(bound) == set(fields)
    for name, annotation in fields.items():
        widget = bound[name]
        if annotation.startswith("vtkMRML"):
            assert widget.get("class") == "qMRMLNodeComboBox", name
            node_types = [s.text for s in widget.iter("string") if s.text and s.text.startswith("vtkMRML")]
            assert node_types == [annotation], name
        elif annotation == "Path":
            assert widget.get("class") == "ctkPathLineEdit", name
        elif annotation.startswith("Annotated[int") or annotation == "int":
            assert widget.get("class") == "QSpinBox", name
        elif annotation.startswith("Annotated[float") or annotation == "float":
            assert widget.get("class") == "QDoubleSpinBox", name
        elif annotation == "bool":
            assert widget.get("class") == "QCheckBox", name
        else:
            assert widget.get("class") == "QComboBox" and annotation in {"AtlasSex", "EyeSide", "Engine",
                                                                           "NoiseMethod", "NoiseModel"}, name


def test_module_choices_match_the_engine():
    from EyeAtlasSegmentLib.atlas import SEXES
    from EyeAtlasSegmentLib.engines import ENGINES

    assert _enum_values("AtlasSex") == set(SEXES)
    assert _enum_values("EyeSide") == {"both", "right", "left"}
    assert _enum_values("Engine") == set(ENGINES) | {"brainsfit", "elastix"}
    from EyeAtlasSegmentLib.noise import NOISE_MODELS
    from EyeAtlasSegmentLib.pipeline import NOISE_METHODS

    assert _enum_values("NoiseMethod") == set(NOISE_METHODS) - {"auto"}
    assert _enum_values("NoiseModel") == set(NOISE_MODELS)


def test_module_metadata_and_lazy_engine_imports():
    source = MODULE_SCRIPT.read_text()
    assert 'translate("qSlicerAbstractCoreModule", "Segmentation")' in source
    assert "CC BY 4.0" in source and "MR-Eye atlas" in source
    top_level = [n for n in _module_tree().body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = {alias.name.split(".")[0] for n in top_level for alias in n.names} | \
        {n.module.split(".")[0] for n in top_level if isinstance(n, ast.ImportFrom) and n.module}
    # The engine needs packages Slicer may lack (nibabel, antspyx): it is imported only after they are ensured.
    assert not modules & {"EyeAtlasSegmentLib", "EyeAtlasSegmentMRML", "nibabel", "ants", "numpy", "SimpleITK"}
    assert "testingEnabled()" in source and "confirmOkCancelDisplay" in source


@pytest.mark.parametrize("package,forbidden", [("EyeAtlasSegmentLib", {"slicer", "qt", "ctk", "vtk"}),
                                               ("EyeAtlasSegmentMRML", {"qt", "ctk"})])
def test_layers_keep_their_dependencies(package, forbidden):
    for path in (MODULE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & forbidden, f"{path.name} imports {names}"
