"""Atlas loading as released (.nii.gz and .npy label maps, root names, RGB picture, standard spaces) and
left-right mirroring."""

from __future__ import annotations

import colorsys
import shutil

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.atlas import load_atlas, load_standard_space, mirror_atlas
from EyeAtlasSegmentLib.errors import AtlasError
from EyeAtlasSegmentLib.geometry import lps_to_ras
from EyeAtlasSegmentLib.registration import label_centroid_lps
from EyeAtlasSegmentLib.release_layout import release_inventory
from EyeAtlasSegmentLib.synthetic.atlas_generator import PROB_PICTURE_COLOURS, probability_picture


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


def test_a_truncated_template_is_refused_as_damaged_in_one_line(synthetic_atlas_dir, tmp_path):
    folder = _copy_sex_folder(synthetic_atlas_dir, tmp_path, ["0_template.nii.gz", "1_max_prob_map.nii.gz"])
    template = folder / "combined" / "0_template.nii.gz"
    template.write_bytes(template.read_bytes()[: template.stat().st_size // 2])
    with pytest.raises(AtlasError, match=r"0_template\.nii\.gz: it is damaged or truncated .*fetch-atlas") as error:
        load_atlas(folder, "combined")
    assert "\n" not in str(error.value)


def test_a_nifti_template_keeps_its_stored_voxels_and_header_grid(synthetic_atlas_dir):
    template = load_atlas(synthetic_atlas_dir, "combined").template
    stored = nib.load(str(synthetic_atlas_dir / "combined" / "0_template.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(template), np.asarray(stored.dataobj).transpose(2, 1, 0))
    from_itk = sitk.ReadImage(str(synthetic_atlas_dir / "combined" / "0_template.nii.gz"))
    assert (template.GetOrigin(), template.GetSpacing(), template.GetDirection()) == (
        from_itk.GetOrigin(), from_itk.GetSpacing(), from_itk.GetDirection())


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


# --- the release as published (release_layout) -------------------------------------------------------------------

def test_the_synthetic_tree_is_the_release_tree(synthetic_atlas_dir):
    inventory = release_inventory(synthetic_atlas_dir)
    # The session atlas writes only combined/ (to save time); everything else of the release is there.
    assert all(f.startswith(("male/", "female/")) for f in inventory.missing)
    assert {"combined/3_manual_seg.nii.gz", "combined/3_manual_seg.itksnap", "sub_metadata.csv",
            "mni152/0_tpl-MNI152NLin2009cAsym_res-01_T1w_labels.nii.gz",
            "colin27/1_tpl-MNIColin27_T1w_cropped.nii.gz"} <= set(inventory.present)
    with open(synthetic_atlas_dir / "sub_metadata.csv", encoding="utf-8") as handle:
        assert handle.readline().strip() == "SubjectID,Sex,Age,Height,Weight,BMI"


@pytest.mark.parametrize("root_name", ["eye_atlas", "C_eye_atlas"])
def test_the_release_root_or_its_parent_may_be_given(synthetic_atlas_dir, tmp_path, root_name):
    shutil.copytree(synthetic_atlas_dir / "combined", tmp_path / root_name / "combined")
    for given in (tmp_path, tmp_path / root_name):
        assert load_atlas(given, "combined").folder == tmp_path / root_name / "combined"
    with pytest.raises(AtlasError, match="no MR-Eye atlas in .*eye_atlas or C_eye_atlas"):
        load_atlas(tmp_path / root_name / "combined", "combined")


def test_float64_labels_are_rounded_and_their_dtype_and_affine_reported(synthetic_atlas_dir):
    stored = nib.load(synthetic_atlas_dir / "combined" / "1_max_prob_map.nii.gz")
    assert stored.get_data_dtype() == np.float64
    atlas = load_atlas(synthetic_atlas_dir, "combined")
    assert atlas.labels_dtype == "float64"
    np.testing.assert_allclose(atlas.labels_affine_ras, stored.affine, atol=1e-5)
    assert atlas.labels.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(np.transpose(sitk.GetArrayFromImage(atlas.labels), (2, 1, 0)),
                                  np.asarray(stored.dataobj))


def test_the_probability_picture_is_never_read_as_labels(synthetic_atlas_dir, tmp_path):
    folder = _copy_sex_folder(synthetic_atlas_dir, tmp_path, ["0_template.nii.gz", "2_prob_map.nii.gz"])
    with pytest.raises(AtlasError, match="no 1_max_prob_map.*2_prob_map.nii.gz is an RGB picture"):
        load_atlas(folder, "combined")
    for picture, as_labels in (("2_prob_map.nii.gz", "1_max_prob_map.nii.gz"),
                               ("2_prob_map.npy", "1_max_prob_map.npy")):
        shutil.copy(synthetic_atlas_dir / "combined" / picture, folder / "combined" / as_labels)
        with pytest.raises(AtlasError, match=r"is an RGB picture \(shape \(60, 70, 56, 3\), uint8\)"):
            load_atlas(folder, "combined")
        (folder / "combined" / as_labels).unlink()


def test_the_probability_picture_is_the_releases_hsv_blend(synthetic_atlas_dir):
    picture = np.load(synthetic_atlas_dir / "combined" / "2_prob_map.npy")
    labels = np.load(synthetic_atlas_dir / "combined" / "1_max_prob_map.npy")
    assert picture.dtype == np.uint8 and picture.shape == (*labels.shape, 3)
    # Where every sample of a voxel is one label, the picture is that label's colour; background is black.
    deep_globe = _interior(labels == 2)
    assert deep_globe.sum() > 1000
    assert np.all(picture[deep_globe] == (0, 255, 0))
    assert np.all(picture[0, 0, 0] == 0)
    # Elsewhere it is the per-voxel HSV computation of the release's script.
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=200)
    expected = []
    for p in probabilities:
        blend = np.zeros(3)
        for label, rgb in enumerate(PROB_PICTURE_COLOURS):
            h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
            blend += colorsys.hsv_to_rgb(h, s * p[label], v * p[label])
        expected.append((np.clip(blend, 0, 1) * 255).astype(np.uint8))
    np.testing.assert_array_equal(probability_picture(probabilities), expected)


@pytest.mark.parametrize("space", ["mni152", "colin27"])
def test_the_standard_spaces_load_with_right_eye_labels(synthetic_atlas_dir, space):
    whole = load_standard_space(synthetic_atlas_dir, space)
    cropped = load_standard_space(synthetic_atlas_dir, space, cropped=True)
    assert whole.image.GetSpacing() == (1.0, 1.0, 1.0) and whole.synthetic
    assert cropped.image.GetSize() < whole.image.GetSize()
    globe_ras = lps_to_ras(label_centroid_lps(whole.labels, [2]))
    assert globe_ras[0] > 20  # the right eye only, as in the release
    np.testing.assert_allclose(lps_to_ras(label_centroid_lps(cropped.labels, [2])), globe_ras, atol=0.5)
    counts = np.bincount(sitk.GetArrayFromImage(whole.labels).ravel(), minlength=10)
    assert np.all(counts[1:] > 50)
    with pytest.raises(AtlasError, match="standard space must be"):
        load_standard_space(synthetic_atlas_dir, "talairach")


def _interior(mask: np.ndarray) -> np.ndarray:
    """Voxels whose 26 neighbours are all in ``mask`` (every sub-sample of such a voxel is inside)."""
    image = sitk.BinaryErode(sitk.GetImageFromArray(mask.astype(np.uint8)), [1, 1, 1])
    return sitk.GetArrayFromImage(image).astype(bool)
