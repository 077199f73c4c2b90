"""The MRML scene to work in: Slicer's own scene inside Slicer, or a headless one built from ``slicer-core``.

Outside the Slicer application (``pip install slicer-core``: MRML and module logics, no Qt), the module logics
the MRML layer relies on are created and registered the way the application would, and ``slicer.mrmlScene``
is set so that ``slicer.util`` array helpers work.
"""

from __future__ import annotations

import types

import slicer

#: Module logics registered in a headless scene (Slicer module name → logic class name).
_HEADLESS_LOGICS = {
    "Volumes": "vtkSlicerVolumesLogic",
    "Segmentations": "vtkSlicerSegmentationsModuleLogic",
    "Transforms": "vtkSlicerTransformLogic",
    "Tables": "vtkSlicerTablesLogic",
    "Plots": "vtkSlicerPlotsLogic",
}


_KEEP_ALIVE: list = []  # the headless application logic lives as long as the process


def inside_slicer_application() -> bool:
    """True when running in the Slicer application (GUI or ``--no-main-window``)."""
    return hasattr(slicer, "app")


def ensure_scene() -> slicer.vtkMRMLScene:
    """The scene of the running Slicer, or a headless scene with the needed module logics (created once)."""
    scene = getattr(slicer, "mrmlScene", None)
    if scene is not None:
        return scene
    scene = slicer.vtkMRMLScene()
    application_logic = slicer.vtkSlicerApplicationLogic()
    application_logic.SetMRMLScene(scene)
    colors = slicer.vtkSlicerColorLogic()
    colors.SetMRMLApplicationLogic(application_logic)
    colors.SetMRMLScene(scene)
    colors.AddDefaultColorNodes()  # built-in tables; the colour files are not in slicer-core (logged, harmless)
    application_logic.SetModuleLogic("Colors", colors)
    logics = {"colors": colors}
    for module, class_name in _HEADLESS_LOGICS.items():
        logic = getattr(slicer, class_name)()
        logic.SetMRMLApplicationLogic(application_logic)
        logic.SetMRMLScene(scene)
        application_logic.SetModuleLogic(module, logic)
        logics[module.lower()] = logic
    slicer.mrmlScene = scene
    _KEEP_ALIVE.append(application_logic)
    slicer.modules = types.SimpleNamespace(**{name: types.SimpleNamespace(logic=lambda logic=logic: logic)
                                              for name, logic in logics.items()})
    return scene


def module_logic(name: str):
    """A Slicer module logic by module name (e.g. "Segmentations"), inside Slicer or headless."""
    ensure_scene()
    module = getattr(slicer.modules, name.lower(), None)
    if module is None:
        raise RuntimeError(f"the Slicer module logic {name!r} is not available")
    return module.logic()


def node_ids(scene: slicer.vtkMRMLScene) -> set[str]:
    """IDs of every node now in the scene."""
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}


def remove_nodes_except(scene: slicer.vtkMRMLScene, keep_ids: set[str]) -> None:
    """Remove every node whose ID is not in ``keep_ids`` (e.g. all nodes added since ``node_ids`` was taken)."""
    for node_id in node_ids(scene) - keep_ids:
        node = scene.GetNodeByID(node_id)
        if node is not None:
            scene.RemoveNode(node)
