"""Render the module panel from Resources/UI/EyeAtlasSegment.ui to a PNG for the README (docs only).

Needs PySide6 (not a project dependency): ``pip install PySide6-Essentials``. Slicer's own widgets (node selectors,
path edit, collapsible sections) are unknown to plain Qt and are drawn as labelled placeholders; combo boxes get
the labels of the module's enums, read from its source.
"""

import ast
import os
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6 import QtWidgets  # noqa: E402

MODULE = Path(__file__).resolve().parents[1] / "EyeAtlasSegment"
PLACEHOLDERS = {"inputSelector": "T1w head (MR)", "atlasFolderPathLineEdit": "/data/MR-Eye",
                "outputSegmentationSelector": "Create new segmentation on Apply"}


def enum_choices() -> dict[str, list[str]]:
    """Parameter name → the labels of its enum, read from the module (its ``label()`` dicts of ``_("…")`` texts)."""
    tree = ast.parse((MODULE / "EyeAtlasSegment.py").read_text(encoding="utf-8"))
    labels = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "label":
                    table = next(n for n in ast.walk(item) if isinstance(n, ast.Dict))
                    labels[node.name] = [call.args[0].value for call in table.values]
    fields = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                  and any(getattr(d, "id", "") == "parameterNodeWrapper" for d in node.decorator_list))
    return {item.target.id: labels[item.annotation.id] for item in fields.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.annotation, ast.Name)
            and item.annotation.id in labels}


CHOICES = enum_choices()  # parameter name → combo box items, as the parameter node fills them


def parameter_name(widget_element) -> str:
    """The widget's SlicerParameterName ("" when it has none)."""
    return next((p.find("string").text for p in widget_element.findall("property")
                 if p.get("name") == "SlicerParameterName"), "")


def build(widget_element, parent=None):
    cls, name = widget_element.get("class"), widget_element.get("name")
    text = next((p.find("string").text for p in widget_element.findall("property")
                 if p.get("name") == "text" and p.find("string") is not None), "") or ""
    if cls in ("qMRMLWidget", "ctkCollapsibleButton"):
        widget = QtWidgets.QGroupBox(text) if cls == "ctkCollapsibleButton" else QtWidgets.QWidget()
    elif cls == "QComboBox":
        widget = QtWidgets.QComboBox()
        widget.addItems(CHOICES.get(parameter_name(widget_element), []))
    elif cls in ("qMRMLNodeComboBox", "ctkPathLineEdit"):
        widget = QtWidgets.QComboBox()
        widget.addItem(PLACEHOLDERS.get(name, "None"))
    elif cls == "QSpinBox":
        widget = QtWidgets.QSpinBox()
        widget.setRange(1, 100000)
        widget.setValue(20 if name == "minRoiVoxelsSpinBox" else 1)
    elif cls == "QDoubleSpinBox":
        widget = QtWidgets.QDoubleSpinBox()
    elif cls == "QCheckBox":
        widget = QtWidgets.QCheckBox(text)
    elif cls == "QPushButton":
        widget = QtWidgets.QPushButton(text)
    elif cls == "qMRMLTableView":
        widget = QtWidgets.QTableWidget(0, 4)
        widget.setHorizontalHeaderLabels(["eye", "measure", "value", "z-score"])
    elif cls == "QProgressBar":
        widget = QtWidgets.QProgressBar()
        widget.setValue(0)
    else:
        widget = QtWidgets.QLabel("from DICOM Patient's Sex" if name == "sexSourceLabel" else
                                  "Ready." if name == "statusLabel" else text)
    layout_element = widget_element.find("layout")
    if layout_element is not None:
        widget.setLayout(build_layout(layout_element))
    return widget


def build_layout(layout_element):
    cls = layout_element.get("class")
    layout = {"QVBoxLayout": QtWidgets.QVBoxLayout, "QHBoxLayout": QtWidgets.QHBoxLayout,
              "QFormLayout": QtWidgets.QFormLayout}[cls]()
    for item in layout_element.findall("item"):
        child = item.find("widget")
        child_layout = item.find("layout")
        built = build(child) if child is not None else build_layout(child_layout) if child_layout is not None else None
        if built is None:
            continue
        if cls == "QFormLayout":
            row, column = int(item.get("row")), int(item.get("column"))
            role = QtWidgets.QFormLayout.LabelRole if column == 0 else QtWidgets.QFormLayout.FieldRole
            (layout.setWidget if isinstance(built, QtWidgets.QWidget) else layout.setLayout)(row, role, built)
        elif isinstance(built, QtWidgets.QWidget):
            layout.addWidget(built)
        else:
            layout.addLayout(built)
    return layout


def main() -> None:
    app = QtWidgets.QApplication(sys.argv)
    root = ElementTree.parse(MODULE / "Resources" / "UI" / "EyeAtlasSegment.ui").getroot().find("widget")
    panel = build(root)
    panel.setWindowTitle("Eye Atlas Segment")
    for box in panel.findChildren(QtWidgets.QGroupBox):
        box.setMinimumWidth(520)
    panel.resize(560, 720)
    panel.show()
    app.processEvents()
    out = Path(__file__).resolve().parents[1] / "Resources" / "Screenshots" / "module_panel.png"
    panel.grab().save(str(out))
    print(out)


if __name__ == "__main__":
    main()
