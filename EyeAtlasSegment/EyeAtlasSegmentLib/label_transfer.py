"""Bring atlas labels onto the patient's own voxel grid, label-aware.

Each label is warped as a one-hot channel with linear interpolation and every patient voxel takes the label
whose channel is largest (argmax). Unlike nearest-neighbour warping this keeps thin structures (optic nerve,
recti) continuous. The patient image itself is never resampled.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .orbit_crop import VoxelRegion
from .structures import N_LABELS


def warp_labels(atlas_labels: sitk.Image, patient_to_atlas: sitk.Transform, patient: sitk.Image,
                region: VoxelRegion) -> sitk.Image:
    """Atlas labels (0-9) resampled onto ``patient``'s grid within ``region``; uint8 image of the full grid.

    ``patient_to_atlas`` maps patient LPS points to atlas-template LPS points (ITK's fixed→moving convention).
    """
    reference = region.extract(patient)
    field = sitk.TransformToDisplacementField(
        patient_to_atlas, sitk.sitkVectorFloat64, reference.GetSize(), reference.GetOrigin(),
        reference.GetSpacing(), reference.GetDirection())
    displacement = sitk.DisplacementFieldTransform(field)
    label_array = sitk.GetArrayViewFromImage(atlas_labels)
    channels = []
    for label in range(N_LABELS + 1):
        channel = sitk.GetImageFromArray((label_array == label).astype(np.float32))
        channel.CopyInformation(atlas_labels)
        outside_value = 1.0 if label == 0 else 0.0  # outside the atlas crop is background
        channels.append(sitk.GetArrayFromImage(sitk.Resample(channel, reference, displacement, sitk.sitkLinear,
                                                             outside_value, sitk.sitkFloat32)))
    best = np.argmax(np.stack(channels), axis=0).astype(np.uint8)  # ties go to the lower label
    full = np.zeros(patient.GetSize()[::-1], dtype=np.uint8)
    (i0, j0, k0), (ni, nj, nk) = region.start, region.size
    full[k0:k0 + nk, j0:j0 + nj, i0:i0 + ni] = best
    out = sitk.GetImageFromArray(full)
    out.CopyInformation(patient)
    return out
