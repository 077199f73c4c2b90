"""Volume nodes ↔ SimpleITK images, keeping the voxel grid exactly.

A volume node's IJKToRAS matrix is the NIfTI-style voxel (i, j, k) → RAS mm affine; SimpleITK images are LPS.
Voxel arrays are (k, j, i) in both ``slicer.util.arrayFromVolume`` and ``sitk.GetArrayFromImage``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicer
import vtk

from EyeAtlasSegmentLib.errors import InputImageError
from EyeAtlasSegmentLib.geometry import ijk_to_ras_affine, set_geometry_from_ras_affine
from EyeAtlasSegmentLib.image_io import LoadedImage


def ijk_to_ras_of_node(volume_node: slicer.vtkMRMLScalarVolumeNode) -> np.ndarray:
    """4×4 voxel → RAS mm matrix of a volume node (its parent transform is not applied)."""
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


def image_from_volume_node(volume_node: slicer.vtkMRMLScalarVolumeNode,
                           pixel_type: int = sitk.sitkFloat32) -> sitk.Image:
    """The node's voxels as a SimpleITK image (LPS geometry) on the same grid."""
    if volume_node is None or volume_node.GetImageData() is None:
        raise InputImageError("the selected volume has no image data")
    if volume_node.GetImageData().GetNumberOfScalarComponents() != 1:
        raise InputImageError(f"volume {volume_node.GetName()!r} has several components per voxel (colour or "
                              f"vector image); select a single-channel MRI volume")
    array_kji = slicer.util.arrayFromVolume(volume_node)
    image = sitk.Cast(sitk.GetImageFromArray(np.ascontiguousarray(array_kji)), pixel_type)
    set_geometry_from_ras_affine(image, ijk_to_ras_of_node(volume_node))
    return image


def loaded_image_from_volume_node(volume_node: slicer.vtkMRMLScalarVolumeNode) -> LoadedImage:
    """A volume node as the engine's input image (its parent transform is ignored, with a warning)."""
    image = image_from_volume_node(volume_node)
    if min(image.GetSize()) < 8:
        raise InputImageError(f"volume {volume_node.GetName()!r} is too small ({image.GetSize()} voxels) to hold "
                              f"an eye region; a 3D head or orbit MRI is needed")
    warnings = []
    if volume_node.GetParentTransformNode() is not None:
        warnings.append(f"volume {volume_node.GetName()!r} is under a transform; results use its own (untransformed) "
                        f"grid")
    storage = volume_node.GetStorageNode()
    stored = storage is not None and storage.GetFileName()
    source = Path(storage.GetFileName()) if stored else Path(volume_node.GetName())
    metadata = {"mrml_node_id": volume_node.GetID() or "", "mrml_node_name": volume_node.GetName() or ""}
    return LoadedImage(image, ijk_to_ras_affine(image), source, "mrml", False, warnings, metadata)


def add_volume_node(scene: slicer.vtkMRMLScene, image: sitk.Image, name: str, labelmap: bool = False,
                    node=None) -> slicer.vtkMRMLVolumeNode:
    """A new (or the given) scalar/labelmap volume node holding ``image`` with its exact grid."""
    if node is None:
        class_name = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    matrix = vtk.vtkMatrix4x4()
    slicer.util.updateVTKMatrixFromArray(matrix, ijk_to_ras_affine(image))
    node.SetIJKToRASMatrix(matrix)
    slicer.util.updateVolumeFromArray(node, sitk.GetArrayFromImage(image))
    if not node.GetDisplayNode():
        node.CreateDefaultDisplayNodes()
    return node
