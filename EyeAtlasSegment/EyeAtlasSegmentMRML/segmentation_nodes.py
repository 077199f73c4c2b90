"""Eye labels → a segmentation node with named, coloured segments carrying standard terminology."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import SimpleITK as sitk
import slicer

from EyeAtlasSegmentLib.structures import (
    EYES,
    LATERALITY,
    ORBITAL_STRUCTURE,
    STRUCTURES,
    TERMINOLOGY,
    output_label,
    segment_name,
)

from .headless import module_logic
from .segment_terminology import set_segment_terminology, terminology_entry
from .volume_nodes import add_volume_node


def structure_terminology(eye: str, atlas_label: int) -> str:
    """Terminology string of one eye's structure: its codes, with the laterality as type modifier (paired organs)
    or as modifier of the orbital region (fat, recti)."""
    term = TERMINOLOGY[atlas_label]
    side = LATERALITY[eye]
    if term.in_orbit_region:
        return terminology_entry(term.category, term.type, region=ORBITAL_STRUCTURE, region_modifier=side)
    return terminology_entry(term.category, term.type, type_modifier=side)


def eye_color_table(scene: slicer.vtkMRMLScene, eyes: Iterable[str],
                    name: str = "EyeAtlasSegment colors") -> slicer.vtkMRMLColorTableNode:
    """A colour table node: output label value → segment name and colour."""
    eyes = [e for e in EYES if e in set(eyes)]
    colors = scene.AddNewNodeByClass("vtkMRMLColorTableNode", scene.GenerateUniqueName(name))
    colors.SetTypeToUser()
    colors.SetNumberOfColors(max(output_label(e, s.label) for e in eyes for s in STRUCTURES) + 1)
    colors.SetColor(0, "Background", 0.0, 0.0, 0.0, 0.0)
    for eye in eyes:
        for structure in STRUCTURES:
            value = output_label(eye, structure.label)
            r, g, b = (c / 255.0 for c in structure.colour_rgb)
            colors.SetColor(value, segment_name(eye, structure.label), r, g, b, 1.0)
    return colors


def segmentation_from_labels(scene: slicer.vtkMRMLScene, labels: sitk.Image,
                             reference_volume_node: slicer.vtkMRMLScalarVolumeNode, eyes: Sequence[str],
                             name: str) -> slicer.vtkMRMLSegmentationNode:
    """A segmentation node with one segment per structure present in ``labels`` (on the reference volume's grid).

    Segments are named "Right lens", …, coloured like ``eye_color_table`` and coded (``structure_terminology``); the
    segmentation's reference geometry is the reference volume's, so editing it in Slicer keeps the patient's grid.
    """
    colors = eye_color_table(scene, eyes)
    labelmap = add_volume_node(scene, sitk.Cast(labels, sitk.sitkUInt8), name + " labelmap", labelmap=True)
    labelmap.GetDisplayNode().SetAndObserveColorNodeID(colors.GetID())
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
    segmentation.CreateDefaultDisplayNodes()
    logic = module_logic("Segmentations")
    if not logic.ImportLabelmapToSegmentationNode(labelmap, segmentation):
        raise RuntimeError("Slicer could not import the eye labels into a segmentation")
    present = set(np.unique(sitk.GetArrayViewFromImage(labels)).tolist()) - {0}
    for eye in eyes:
        for structure in STRUCTURES:
            value = output_label(eye, structure.label)
            if value not in present:
                continue
            segment = segmentation.GetSegmentation().GetSegment(
                segmentation.GetSegmentation().GetSegmentIdBySegmentName(segment_name(eye, structure.label)))
            set_segment_terminology(segment, structure_terminology(eye, structure.label))
    scene.RemoveNode(labelmap.GetDisplayNode())
    scene.RemoveNode(labelmap)
    scene.RemoveNode(colors)
    return segmentation


def labels_from_segmentation(segmentation_node: slicer.vtkMRMLSegmentationNode,
                             reference_volume_node: slicer.vtkMRMLScalarVolumeNode) -> np.ndarray:
    """Label array (k, j, i) on the reference volume's grid: each eye-structure segment, found by its name, gets its
    output label value (right 1-9, left 11-19); other segments are ignored."""
    value_by_name = {segment_name(eye, s.label): output_label(eye, s.label) for eye in EYES for s in STRUCTURES}
    segmentation = segmentation_node.GetSegmentation()
    out = np.zeros(slicer.util.arrayFromVolume(reference_volume_node).shape, dtype=np.uint8)
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        value = value_by_name.get(segmentation.GetSegment(segment_id).GetName())
        if value is not None:
            mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segment_id, reference_volume_node)
            out[mask > 0] = value
    return out
