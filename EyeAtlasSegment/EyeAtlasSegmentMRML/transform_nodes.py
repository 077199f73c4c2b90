"""SimpleITK transforms ↔ Slicer transform nodes, through ITK transform files (the format both read exactly).

Engine transforms map patient LPS points to atlas LPS points (ITK fixed → moving). Slicer reads such a file as
the node's "from parent" transform in RAS, so an atlas volume placed under the node is shown aligned with the
patient, and Slicer's own resampling through the node reproduces the engine's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import SimpleITK as sitk
import slicer


def _scratch_file(suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    handle.close()
    return Path(handle.name)


def transform_node_from_sitk(scene: slicer.vtkMRMLScene, transform: sitk.Transform,
                             name: str) -> slicer.vtkMRMLTransformNode:
    """A new transform node holding ``transform`` (patient → atlas, LPS) as its "from parent" transform."""
    path = _scratch_file(".h5")
    try:
        sitk.WriteTransform(transform, str(path))
        node = scene.AddNewNodeByClass("vtkMRMLTransformNode", scene.GenerateUniqueName(name))
        storage = slicer.vtkMRMLTransformStorageNode()
        storage.SetFileName(str(path))
        if not storage.ReadData(node):
            scene.RemoveNode(node)
            raise RuntimeError(f"Slicer could not read the {name} transform")
    finally:
        path.unlink(missing_ok=True)
    return node


def sitk_from_transform_node(node) -> sitk.Transform:
    """The node's "from parent" transform as a SimpleITK transform (parent → child, LPS), e.g. a BRAINSFit result."""
    path = _scratch_file(".h5")
    try:
        storage = slicer.vtkMRMLTransformStorageNode()
        storage.SetFileName(str(path))
        if not storage.WriteData(node):
            raise RuntimeError(f"Slicer could not write transform {node.GetName()!r}")
        return sitk.ReadTransform(str(path))
    finally:
        path.unlink(missing_ok=True)
