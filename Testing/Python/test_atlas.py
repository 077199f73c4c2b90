"""Atlas loading (.nii.gz and .npy label maps, release layouts) and left-right mirroring."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.atlas import load_atlas, mirror_atlas
from EyeAtlasSegmentLib.errors import AtlasError
from EyeAtlasSegmentLib.registration import label_centroid_lps


def _copy_sex_folder(atlas_dir, tmp_path, keep):
    target = tmp_path / "atlas" / "combined"
    target.mkdir(parents=True)
    for name in keep:
        shutil.copy(atlas_dir / "combined" / name, target / name)
    return tmp_path / "atlas"


def test_nifti_and_npy_label_maps_are_identical(synthetic_atlas_dir, tmp_path):
    from_nifti = load_atlas(synthetic_atlas_dir, "combined")
    npy_only = _copy_sex_folder(synthetic_atlas_dir, tmp_path, ["0_template.nii.gz", "1_max_prob_map.npy"])
    from_npy = load_atlas(npy_only, "combined")
    assert from_npy.labels_file.suffix == ".npy"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(from_nifti.labels), sitk.GetArrayFromImage(from_npy.labels))
    assert from_npy.labels.GetOrigin() == from_npy.template.GetOrigin()
    assert sorted(np.unique(sitk.GetArrayFromImage(from_nifti.labels))) == list(range(10))


def test_release_parent_folder_is_accepted(synthetic_atlas_dir):
    assert synthetic_atlas_dir.name == "eye_atlas"
    atlas = load_atlas(synthetic_atlas_dir.parent, "combined")
    assert atlas.folder == synthetic_atlas_dir / "combined"
    assert atlas.synthetic


def test_npy_shape_mismatch_is_an_error(synthetic_atlas_dir, tmp_path):
    folder = _copy_sex_folder(synthetic_atlas_dir, tmp_path, ["0_template.nii.gz"])
    np.save(folder / "combined" / "1_max_prob_map.npy", np.zeros((10, 11, 12), dtype=np.float32))
    with pytest.raises(AtlasError, match="shape"):
        load_atlas(folder, "combined")


def test_non_integer_labels_are_an_error(synthetic_atlas_dir, tmp_path):
    folder = _copy_sex_folder(synthetic_atlas_dir, tmp_path, ["0_template.nii.gz"])
    template = sitk.ReadImage(str(folder / "combined" / "0_template.nii.gz"))
    np.save(folder / "combined" / "1_max_prob_map.npy", np.full(template.GetSize(), 2.5, dtype=np.float32))
    with pytest.raises(AtlasError, match="non-integer"):
        load_atlas(folder, "combined")


def test_missing_sex_and_missing_labels_are_errors(synthetic_atlas_dir, tmp_path):
    with pytest.raises(AtlasError, match="male/0_template"):
        load_atlas(synthetic_atlas_dir, "male")
    with pytest.raises(AtlasError, match="no 1_max_prob_map"):
        load_atlas(_copy_sex_folder(synthetic_atlas_dir, tmp_path, ["0_template.nii.gz"]), "combined")
    with pytest.raises(AtlasError, match="does not exist"):
        load_atlas(tmp_path / "nowhere", "combined")
    with pytest.raises(AtlasError, match="sex"):
        load_atlas(synthetic_atlas_dir, "unknown")


def test_mirroring_moves_lateral_rectus_to_the_other_side(synthetic_atlas_dir):
    right = load_atlas(synthetic_atlas_dir, "combined")
    left = mirror_atlas(right)
    assert left.side == "left"
    # Right eye: the lateral rectus (6) lies at larger RAS x (smaller LPS x) than the medial rectus (7).
    for atlas, sign in ((right, -1), (left, 1)):
        lateral_minus_medial_lps = label_centroid_lps(atlas.labels, [6]) - label_centroid_lps(atlas.labels, [7])
        assert sign * lateral_minus_medial_lps[0] > 8.0
    # Same grid, same volumes, and mirroring twice gives the original back.
    assert left.labels.GetOrigin() == right.labels.GetOrigin()
    twice = mirror_atlas(left)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(twice.template), sitk.GetArrayFromImage(right.template))
    counts = [np.bincount(sitk.GetArrayFromImage(a.labels).ravel(), minlength=10) for a in (right, left)]
    np.testing.assert_array_equal(*counts)
