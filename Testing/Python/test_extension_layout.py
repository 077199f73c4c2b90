"""The Slicer extension as built by CMake and as the Extensions Index checks it, and the module's .ui and code
(Slicer itself cannot run here): CMake lists every script and resource, the metadata and licence are what the
index needs, the .ui parses, every widget the code uses exists, every parameter-node field is bound to a widget
that can represent it, texts can be translated, and the layers keep their dependencies."""

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
#: Where the extension will be published: the index file is EyeAtlasSegment.json, the repository Slicer + name.
HOMEPAGE = "https://github.com/eyeatlassegment/SlicerEyeAtlasSegment"
RAW_FILES = "https://raw.githubusercontent.com/eyeatlassegment/SlicerEyeAtlasSegment/main/"
#: The current extension template's line (Slicer v5.12.0 and main: Utilities/Templates/Extensions/Default).
TEMPLATE_CMAKE_MINIMUM = "cmake_minimum_required(VERSION 3.28.0...3.28.0 FATAL_ERROR)"
MINIMUM_SLICER = "5.8"
PACKAGES = ("EyeAtlasSegmentLib", "EyeAtlasSegmentMRML", "EyeAtlasSegmentPlugins")


def _module_tree() -> ast.Module:
    return ast.parse(MODULE_SCRIPT.read_text(encoding="utf-8"))


def _cmake_list(name: str) -> set[str]:
    cmake = (MODULE / "CMakeLists.txt").read_text(encoding="utf-8")
    block = re.search(rf"set\({name}\n(.*?)\n\s*\)", cmake, flags=re.S).group(1)
    return {line.strip().replace("${MODULE_NAME}", "EyeAtlasSegment") for line in block.splitlines() if line.strip()}


def test_cmake_lists_every_script_and_existing_resources():
    on_disk = {"EyeAtlasSegment.py"} | {p.relative_to(MODULE).as_posix()
                                         for package in PACKAGES for p in (MODULE / package).rglob("*.py")}
    assert _cmake_list("MODULE_PYTHON_SCRIPTS") == on_disk
    resources = _cmake_list("MODULE_PYTHON_RESOURCES")
    data_files = {p.relative_to(MODULE).as_posix() for p in (MODULE / "Resources").rglob("*") if p.is_file()}
    assert data_files <= resources, f"not installed: {sorted(data_files - resources)}"
    for resource in resources:
        assert (MODULE / resource).is_file(), resource
    assert (MODULE / "Resources/Icons/EyeAtlasSegment.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cmake = (MODULE / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake


def _metadata() -> dict[str, str]:
    cmake = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    return dict(re.findall(r'set\(EXTENSION_(\w+) "([^"]*)"\)', cmake))


def test_extension_metadata_is_what_the_extensions_index_accepts():
    cmake = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    metadata = _metadata()
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert metadata.get(key, "").strip(), key
    assert cmake.splitlines()[0] == TEMPLATE_CMAKE_MINIMUM
    # The index checks that project() is the description file's name, which must not start with "Slicer"; the
    # repository's name is "Slicer" + that name.
    assert re.search(r"^project\((\w+)\)", cmake, flags=re.M).group(1) == "EyeAtlasSegment"
    assert metadata["HOMEPAGE"] == HOMEPAGE and HOMEPAGE.endswith("/SlicerEyeAtlasSegment")
    assert metadata["CATEGORY"] == "Segmentation"  # in the index's ACCEPTED_EXTENSION_CATEGORIES
    for contributor in metadata["CONTRIBUTORS"].split(", "):
        assert re.fullmatch(r"[^()]+ \([^()]+\)", contributor), f"not 'Name (Organisation)': {contributor}"
    for url in [metadata["ICONURL"], *metadata["SCREENSHOTURLS"].split()]:
        assert url.startswith(RAW_FILES), url  # resolves once the repository is published
        path = REPO / url[len(RAW_FILES):]
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", url
    assert f"find_package(Slicer {MINIMUM_SLICER} REQUIRED)" in cmake
    assert "add_subdirectory(EyeAtlasSegment)" in cmake


def test_the_licence_is_the_bsd_3_clause_licence_pyproject_declares():
    import tomllib

    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"] == "BSD-3-Clause"
    assert re.search(r"^Copyright \(c\) \d{4}, EyeAtlasSegment contributors$", licence, flags=re.M)
    for clause in ("Redistributions of source code must retain", "Redistributions in binary form must reproduce",
                   "Neither the name of the copyright holder nor the names of its"):
        assert clause in licence


def test_readme_states_the_supported_slicer_versions():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"Slicer {MINIMUM_SLICER} or later" in readme
    assert HOMEPAGE in readme or "eyeatlassegment/SlicerEyeAtlasSegment" in readme.lower()


def test_the_module_names_the_same_homepage_and_contributors_as_cmake():
    source = MODULE_SCRIPT.read_text(encoding="utf-8")
    assert f'HOMEPAGE = "{HOMEPAGE}"' in source
    assert f'self.parent.contributors = ["{_metadata()["CONTRIBUTORS"]}"]' in source


def _ui_widgets() -> dict[str, ElementTree.Element]:
    root = ElementTree.parse(UI_FILE).getroot()
    return {w.get("name"): w for w in root.iter("widget")}


def _parameter_class() -> ast.ClassDef:
    """The module's @parameterNodeWrapper class."""
    for node in ast.walk(_module_tree()):
        if isinstance(node, ast.ClassDef) and any(getattr(d, "id", "") == "parameterNodeWrapper"
                                                  for d in node.decorator_list):
            return node
    raise AssertionError("no @parameterNodeWrapper class in EyeAtlasSegment.py")


def _parameter_fields() -> dict[str, str]:
    """Field name → annotation source of the @parameterNodeWrapper class."""
    return {s.target.id: ast.unparse(s.annotation) for s in _parameter_class().body if isinstance(s, ast.AnnAssign)}


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
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE_SCRIPT.read_text(encoding="utf-8"))) | \
        set(re.findall(r"widget\.ui\.(\w+)", MODULE_SCRIPT.read_text(encoding="utf-8")))
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
    pytest.importorskip("slicer", reason="slicer-core is part of the [test] extras")
    from EyeAtlasSegmentLib.atlas import SEXES
    from EyeAtlasSegmentLib.engines import ENGINES
    from EyeAtlasSegmentMRML.slicer_cli_engines import SLICER_ENGINES

    assert _enum_values("AtlasSex") == set(SEXES)
    assert _enum_values("EyeSide") == {"both", "right", "left"}
    assert _enum_values("Engine") == set(ENGINES) | set(SLICER_ENGINES)  # one registry, extended inside Slicer
    from EyeAtlasSegmentLib.noise import NOISE_MODELS
    from EyeAtlasSegmentLib.noise_methods import NOISE_METHODS

    assert _enum_values("NoiseMethod") == set(NOISE_METHODS) - {"auto"}
    assert _enum_values("NoiseModel") == set(NOISE_MODELS)


def _parameter_defaults() -> dict[str, object]:
    """Field name → default of the @parameterNodeWrapper class, an enum member read as its value."""
    members = {f"{n.name}.{s.targets[0].id}": s.value.value for n in ast.walk(_module_tree())
               if isinstance(n, ast.ClassDef) for s in n.body if isinstance(s, ast.Assign)}
    return {s.target.id: members.get(ast.unparse(s.value), getattr(s.value, "value", None))
            for s in _parameter_class().body if isinstance(s, ast.AnnAssign) and s.value is not None}


def test_the_module_starts_from_the_engine_defaults():
    """The module cannot import the engine at load time (its packages come at Apply), so its defaults are literals;
    they must be the engine's own, which the command line uses too."""
    from EyeAtlasSegmentLib.pipeline import PipelineOptions

    engine = PipelineOptions()
    defaults = _parameter_defaults()
    assert (defaults["sex"], defaults["engine"], defaults["noiseModel"], defaults["channels"]) == \
        (engine.sex, engine.engine, engine.noise_model, engine.channels)
    assert (defaults["erosionMm"], defaults["minRoiVoxels"], defaults["powerSignal"]) == \
        (engine.roi.erosion_mm, engine.roi.min_voxels, engine.roi.signal_correction == "power")
    assert defaults["eye"] == "both" and engine.eyes == ("right", "left")


def _enum_labels(class_name: str) -> dict[str, str]:
    """The enum's ``label()`` dict: value → the English text inside ``_("…")``."""
    for node in ast.walk(_module_tree()):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            label = next(item for item in node.body if isinstance(item, ast.FunctionDef) and item.name == "label")
            table = next(n for n in ast.walk(label) if isinstance(n, ast.Dict))
            return {key.value: value.args[0].value for key, value in zip(table.keys, table.values)}
    raise AssertionError(class_name)


def test_the_noise_menus_show_the_engine_registry_labels():
    """The labels are translatable literals in the module (lupdate extracts only literals), and each is the
    registry's own text (``EyeAtlasSegmentLib.choices``), which the command line's help also shows."""
    from EyeAtlasSegmentLib.choices import NOISE_METHOD_CHOICES, NOISE_MODEL_CHOICES

    assert _enum_labels("NoiseMethod") == {c.key: c.label for c in NOISE_METHOD_CHOICES if c.key != "auto"}
    assert _enum_labels("NoiseModel") == {c.key: c.label for c in NOISE_MODEL_CHOICES}


def test_module_metadata_and_lazy_engine_imports():
    source = MODULE_SCRIPT.read_text(encoding="utf-8")
    assert 'translate("qSlicerAbstractCoreModule", "Segmentation")' in source
    assert "CC BY 4.0" in source and "MR-Eye atlas" in source
    top_level = [n for n in _module_tree().body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = {alias.name.split(".")[0] for n in top_level for alias in n.names} | \
        {n.module.split(".")[0] for n in top_level if isinstance(n, ast.ImportFrom) and n.module}
    # The engine needs packages Slicer may lack (nibabel, antspyx): it is imported only after they are ensured.
    assert not modules & {"EyeAtlasSegmentLib", "EyeAtlasSegmentMRML", "nibabel", "ants", "numpy", "SimpleITK"}
    requirements = (MODULE / "EyeAtlasSegmentMRML" / "python_requirements.py").read_text(encoding="utf-8")
    assert "pip_ensure(" in requirements and "testingEnabled()" in requirements
    assert "ensure_requirements(requirement_files(" in source and "prompt=True" in source


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def test_every_translated_text_is_a_literal_that_lupdate_can_extract():
    tree = _module_tree()
    calls = _calls(tree, "_")
    assert len(calls) > 20
    for call in calls:
        assert len(call.args) == 1 and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str), \
            f"line {call.lineno}: _() of {ast.unparse(call.args[0]) if call.args else 'nothing'}"
    for call in _calls(tree, "translate"):
        assert all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args), call.lineno


def _class_methods(class_name: str) -> dict[str, ast.FunctionDef]:
    node = next(n for n in ast.walk(_module_tree()) if isinstance(n, ast.ClassDef) and n.name == class_name)
    return {f.name: f for f in node.body if isinstance(f, ast.FunctionDef)}


def test_the_logic_has_a_gui_entry_point_and_a_console_one_taking_the_engines_options():
    methods = _class_methods("EyeAtlasSegmentLogic")
    assert [a.arg for a in methods["process"].args.args][:2] == ["self", "parameterNode"]
    assert [a.arg for a in methods["segment"].args.args][:4] == ["self", "volumeNode", "atlasFolder", "options"]
    assert "run" not in methods  # the former 19-keyword entry point
    assert all(len(f.args.args) <= 7 for f in methods.values())


def test_the_dicom_sex_follows_the_parameter_node_not_the_selector_signal():
    """Reacting to the combo box's signal (connected before the parameter node's GUI connection) wrote ``sex``
    while the parameter node still held the previous volume, and the GUI update then put that volume back."""
    source = MODULE_SCRIPT.read_text(encoding="utf-8")
    assert "inputSelector.connect(" not in source and "currentNodeChanged" not in source
    set_parameter_node = ast.unparse(_class_methods("EyeAtlasSegmentWidget")["setParameterNode"])
    assert set_parameter_node.index("connectGui") < set_parameter_node.index("self._onParameterNodeModified")


def test_the_self_test_skips_installs_nothing_and_removes_its_folders():
    methods = _class_methods("EyeAtlasSegmentTest")
    test_source = "\n".join(ast.unparse(f) for f in methods.values())
    assert "pip_install" not in test_source and "ensure_requirements" not in test_source
    assert "self.skipTest(" in ast.unparse(methods["test_elastix_engine"])
    assert "self.skipTest(" in ast.unparse(methods["_synthetic"])  # without nibabel
    for name, method in methods.items():
        if name.startswith("test_"):
            returns = [n for n in ast.walk(method) if isinstance(n, ast.Return)]
            assert not returns, f"{name} returns early instead of skipping"
    assert test_source.count("mkdtemp(") == test_source.count("addCleanup(shutil.rmtree")
    run_test = ast.unparse(methods["runTest"])
    assert "doCleanups()" in run_test and "SkipTest" in run_test
    assert {n for n in methods if n.startswith("test_")} <= set(re.findall(r"self\.(test_\w+)", run_test))


@pytest.mark.parametrize("package,forbidden", [("EyeAtlasSegmentLib", {"slicer", "qt", "ctk", "vtk"}),
                                               ("EyeAtlasSegmentMRML", {"qt", "ctk"})])
def test_layers_keep_their_dependencies(package, forbidden):
    for path in (MODULE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & forbidden, f"{path.name} imports {names}"


def test_the_readme_code_map_names_every_module():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    code_map = readme[readme.index("## Architecture (code map)"):readme.index("## Tests")]
    for package in ("EyeAtlasSegmentLib", "EyeAtlasSegmentMRML"):
        for module in sorted((MODULE / package).glob("*.py")):
            if module.name != "__init__.py":
                assert f"`{module.name}`" in code_map, module.name
        for subpackage in sorted(p for p in (MODULE / package).iterdir() if (p / "__init__.py").is_file()):
            assert f"`{subpackage.name}/`" in code_map, subpackage.name
