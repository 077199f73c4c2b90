"""The head's outline from a foreground mask: the one definition behind the noise module's air region and the globe
finder's head (skin depth, mid-plane, where globes are searched).

Every step treats all voxel axes and both ends of each alike, so the outline does not depend on how the voxels are
stored (tested over the 48 axis orientations in ``test_noise_orientation``).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: Foreground objects smaller than this share of the largest are dropped (noise specks, ghosts).
MIN_OBJECT_SHARE = 0.01


def head_from_foreground(foreground: sitk.Image, closing_radius_mm: float) -> sitk.Image:
    """Binary mask (uint8, on ``foreground``'s grid) of the head: the foreground's objects of at least
    ``MIN_OBJECT_SHARE`` of the largest, closed by a ball of ``closing_radius_mm`` (≥ 1 voxel per axis; the image
    is padded first so the border does not cut the closing), enclosed background filled
    (``fill_holes_capping_cut_faces``)."""
    components = sitk.RelabelComponent(sitk.ConnectedComponent(sitk.Cast(foreground > 0, sitk.sitkUInt8)),
                                       sortByObjectSize=True)
    sizes = np.bincount(sitk.GetArrayViewFromImage(components).ravel())
    keep = int(np.sum(sizes[1:] >= MIN_OBJECT_SHARE * sizes[1])) if len(sizes) > 1 else 0
    objects = sitk.Cast(sitk.BinaryThreshold(components, 1, max(keep, 1), 1, 0), sitk.sitkUInt8)
    radius = [max(1, int(round(closing_radius_mm / s))) for s in foreground.GetSpacing()]
    padded = sitk.ConstantPad(objects, radius, radius, 0)
    closed = sitk.Crop(sitk.BinaryMorphologicalClosing(padded, radius, sitk.sitkBall), radius, radius)
    return fill_holes_capping_cut_faces(closed)


def _fill_holes_2d(mask_2d: np.ndarray) -> np.ndarray:
    """Boolean 2D mask with its enclosed background regions filled."""
    filled = sitk.BinaryFillhole(sitk.GetImageFromArray(mask_2d.astype(np.uint8)))
    return sitk.GetArrayViewFromImage(filled) > 0


def fill_holes_capping_cut_faces(mask: sitk.Image) -> sitk.Image:
    """``mask`` with enclosed background filled, counting as enclosed what only the image border opens.

    Where the field of view cuts through the head (a slab through the skull base, a neck cut by the last slice),
    sinuses, skull base and dark tissue reach the image face and a 3D hole filling leaves them as background.
    Each of the six faces is capped with the mask's own cross-section there (holes filled in 2D), as if the head
    went on beyond the field of view, and the capped mask is filled in 3D. Air outside the head's outline at the
    face stays background.
    """
    mask_kji = sitk.GetArrayFromImage(mask) > 0
    capped_kji = np.pad(mask_kji, 1)
    for axis in range(3):
        for end, cap_index in ((0, 0), (-1, -1)):
            face = [slice(1, -1)] * 3
            face[axis] = cap_index
            capped_kji[tuple(face)] = _fill_holes_2d(np.take(mask_kji, end, axis=axis))
    filled = sitk.BinaryFillhole(sitk.GetImageFromArray(capped_kji.astype(np.uint8)))
    result = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(filled)[1:-1, 1:-1, 1:-1].astype(np.uint8))
    result.CopyInformation(mask)
    return result
