"""Test helpers: DICOM series written from a volume; a registration engine of known result; an air ROI."""

from __future__ import annotations

import locale
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.registration import EngineOutput


def write_dicom_series(image: sitk.Image, directory: Path, series_uid: str, patient_sex: str = "",
                       first_index: int = 0) -> None:
    """One int16 DICOM file per k-slice, with the position/orientation tags GDCM uses to rebuild the volume.

    GDCM's writer switches the process to the C locale (measured with SimpleITK 2.x), after which Python decodes
    subprocess output as ASCII; the locale is restored so that later tests in the same process are unaffected.
    """
    directory.mkdir(parents=True, exist_ok=True)
    saved_locale = locale.setlocale(locale.LC_ALL)
    try:
        _write_dicom_slices(image, directory, series_uid, patient_sex, first_index)
    finally:
        locale.setlocale(locale.LC_ALL, saved_locale)


def _write_dicom_slices(image: sitk.Image, directory: Path, series_uid: str, patient_sex: str,
                        first_index: int) -> None:
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    d = image.GetDirection()
    orientation = "\\".join(f"{v:.10g}" for v in (d[0], d[3], d[6], d[1], d[4], d[7]))
    for k in range(image.GetDepth()):
        slice_image = sitk.Cast(image[:, :, k], sitk.sitkInt16)
        position_lps = image.TransformIndexToPhysicalPoint((0, 0, k))
        number = first_index + k
        tags = {
            "0008|0060": "MR",
            "0008|103e": "T1 orbits",
            "0020|000e": series_uid,
            "0020|0032": "\\".join(f"{v:.10g}" for v in position_lps),
            "0020|0037": orientation,
            "0028|0030": f"{image.GetSpacing()[1]:g}\\{image.GetSpacing()[0]:g}",
            "0020|0013": str(number + 1),
            "0008|0018": f"{series_uid}.{number + 1}",
            "0010|0040": patient_sex,
        }
        for tag, value in tags.items():
            slice_image.SetMetaData(tag, value)
        writer.SetFileName(str(directory / f"{series_uid.rsplit('.', 1)[-1]}_{number:03d}.dcm"))
        writer.Execute(slice_image)


class FixedScaleEngine:
    """A registration engine that does not optimise: it places the template at the found globe (the pipeline's own
    start), enlarged by a known factor per side (none by default), so that the volumes the pipeline measures are
    known and a test of what surrounds the registration costs seconds."""

    name = "fixed-scale"

    def __init__(self, enlargement: dict[str, float] | None = None) -> None:
        self.enlargement = enlargement or {"right": 1.0, "left": 1.0}

    def parameters(self) -> dict:
        return {"enlargement": self.enlargement}

    def register(self, fixed, masks, moving, initial, anchor_lps_mm, progress=None):
        side = "left" if anchor_lps_mm[0] > 0 else "right"  # LPS x grows toward the subject's left
        shrink = sitk.Similarity3DTransform()
        shrink.SetCenter(tuple(anchor_lps_mm))
        shrink.SetScale(1.0 / self.enlargement[side])
        transform = sitk.CompositeTransform([initial, shrink])  # patient → atlas: shrink first, then the start
        return EngineOutput(transform, transform, [{"stage": "fixed scale"}])


def air_corner_segmentation(scene, image: sitk.Image, volume_node, segmentation=None, name: str = "air"):
    """Add one segment, a corner slab of ``image`` far from the head (all k, j < 12, i < 12), to ``segmentation``
    (a new segmentation node called ``name`` when None); returns the node and the slab as a k, j, i array."""
    import slicer

    from EyeAtlasSegmentMRML.volume_nodes import add_volume_node

    air_kji = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
    air_kji[:, :12, :12] = 1
    air_image = sitk.GetImageFromArray(air_kji)
    air_image.CopyInformation(image)
    if segmentation is None:
        segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    labelmap = add_volume_node(scene, air_image, f"{name} labelmap", labelmap=True)
    slicer.modules.segmentations.logic().ImportLabelmapToSegmentationNode(labelmap, segmentation)
    for node in (labelmap.GetDisplayNode(), labelmap):
        if node is not None:
            scene.RemoveNode(node)
    return segmentation, air_kji
