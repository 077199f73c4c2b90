"""Label-aware transfer onto the patient grid: exact under identity, shifts with a translation, keeps volumes."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.atlas import load_atlas
from EyeAtlasSegmentLib.label_transfer import warp_labels
from EyeAtlasSegmentLib.orbit_crop import template_footprint_region


def test_identity_on_the_atlas_grid_reproduces_labels(synthetic_atlas_dir):
    atlas = load_atlas(synthetic_atlas_dir, "combined")
    region = template_footprint_region(atlas.labels, atlas.template, (0.0, 0.0, 0.0))
    warped = warp_labels(atlas.labels, sitk.Transform(3, sitk.sitkIdentity), atlas.template, region)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(warped), sitk.GetArrayFromImage(atlas.labels))


def test_translation_moves_labels_by_whole_voxels(synthetic_atlas_dir):
    atlas = load_atlas(synthetic_atlas_dir, "combined")
    region = template_footprint_region(atlas.labels, atlas.template, (0.0, 0.0, 0.0))
    shift_lps = (3.0, 0.0, -2.0)  # patient point + shift = atlas point
    warped = sitk.GetArrayFromImage(warp_labels(atlas.labels, sitk.TranslationTransform(3, shift_lps),
                                                atlas.template, region))
    original = sitk.GetArrayFromImage(atlas.labels)
    # Atlas grid is RAS-aligned: LPS +x is index i - 1, LPS +z is index k + 1; arrays are [k, j, i].
    # So warped[k, j, i] = original[k - 2, j, i - 3].
    expected = np.zeros_like(original)
    expected[2:, :, 3:] = original[:-2, :, :-3]
    np.testing.assert_array_equal(warped[5:-5, 5:-5, 8:-8], expected[5:-5, 5:-5, 8:-8])


def test_finer_patient_grid_preserves_volumes(synthetic_atlas_dir):
    atlas = load_atlas(synthetic_atlas_dir, "combined")
    fine = sitk.Image([int(n * 2) for n in atlas.template.GetSize()], sitk.sitkFloat32)
    fine.SetSpacing([s / 2 for s in atlas.template.GetSpacing()])
    fine.SetDirection(atlas.template.GetDirection())
    fine.SetOrigin(atlas.template.TransformContinuousIndexToPhysicalPoint((-0.25, -0.25, -0.25)))
    region = template_footprint_region(fine, atlas.template, (0.0, 0.0, 0.0))
    warped = sitk.GetArrayFromImage(warp_labels(atlas.labels, sitk.Transform(3, sitk.sitkIdentity), fine, region))
    coarse_counts = np.bincount(sitk.GetArrayFromImage(atlas.labels).ravel(), minlength=10)
    fine_counts = np.bincount(warped.ravel(), minlength=10) / 8.0
    for label in range(1, 10):
        assert abs(fine_counts[label] - coarse_counts[label]) / coarse_counts[label] < 0.06, label
