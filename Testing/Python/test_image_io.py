"""image_io: every input format lands on the same voxels at the same world (RAS) positions; clear errors."""

from __future__ import annotations

import collections
import locale
import pickle
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.errors import InputImageError, UnsafePickleError
from EyeAtlasSegmentLib.image_io import SUPPORTED_SUFFIXES, LoadedImage, load_image, write_label_image
from helpers import write_dicom_series

SIZE_IJK = (20, 24, 28)
SPACING_MM = (0.7, 0.9, 1.6)
ORIGIN_LPS_MM = (-12.5, 30.25, 7.0)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def _oblique_direction_lps() -> np.ndarray:
    """A right-handed rotation about three axes (columns = voxel axes i, j, k in LPS)."""
    a, b, c = np.deg2rad([20.0, -15.0, 10.0])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    ry = np.array([[np.cos(c), 0, np.sin(c)], [0, 1, 0], [-np.sin(c), 0, np.cos(c)]])
    return rz @ rx @ ry


DIRECTIONS_LPS = {
    "oblique": _oblique_direction_lps(),
    # i -> inferior, j -> left, k -> anterior: permuted and flipped axes, determinant +1
    "permuted": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]]),
}


def _values_ijk() -> np.ndarray:
    """int16 volume [i, j, k] with a distinct value per voxel: i + 20 j + 480 k."""
    i, j, k = np.meshgrid(*(np.arange(n) for n in SIZE_IJK), indexing="ij")
    return (i + 20 * j + 480 * k).astype(np.int16)


def _truth_affine_ras(direction_lps: np.ndarray) -> np.ndarray:
    """Ground-truth voxel (i, j, k) -> RAS mm affine of the test grid."""
    affine_ras = np.eye(4)
    affine_ras[:3, :3] = LPS_TO_RAS @ direction_lps @ np.diag(SPACING_MM)
    affine_ras[:3, 3] = LPS_TO_RAS @ np.asarray(ORIGIN_LPS_MM)
    return affine_ras


def _truth_image(direction_lps: np.ndarray) -> sitk.Image:
    """The test volume as an int16 SimpleITK image (array [k, j, i]) with the ITK LPS test geometry."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(_values_ijk().T))
    image.SetSpacing(SPACING_MM)
    image.SetOrigin(ORIGIN_LPS_MM)
    image.SetDirection(tuple(direction_lps.ravel()))
    return image


def _homogeneous(points: np.ndarray) -> np.ndarray:
    return np.column_stack([points, np.ones(len(points))])


def _assert_same_world_image(
    loaded: LoadedImage, values_ijk: np.ndarray, truth_affine_ras: np.ndarray, atol_mm: float
) -> None:
    """Every truth voxel's RAS centre holds the same value in ``loaded``, via ``affine_ras`` and via the sitk grid."""
    assert loaded.image.GetDimension() == 3 and loaded.image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_allclose(loaded.affine_ras, truth_affine_ras, atol=atol_mm)
    voxels_ijk = np.argwhere(np.ones(values_ijk.shape, dtype=bool))
    points_ras = (_homogeneous(voxels_ijk) @ truth_affine_ras.T)[:, :3]
    loaded_ijk = (_homogeneous(points_ras) @ np.linalg.inv(loaded.affine_ras).T)[:, :3]
    np.testing.assert_allclose(loaded_ijk, np.round(loaded_ijk), atol=1e-3)
    loaded_values_ijk = sitk.GetArrayFromImage(loaded.image).T
    np.testing.assert_array_equal(loaded_values_ijk[tuple(np.round(loaded_ijk).astype(int).T)], values_ijk.ravel())
    for voxel_ijk, point_ras in list(zip(voxels_ijk, points_ras))[:: len(voxels_ijk) // 7]:
        loaded_index = loaded.image.TransformPhysicalPointToIndex(tuple(LPS_TO_RAS @ point_ras))
        assert loaded.image.GetPixel(loaded_index) == values_ijk[tuple(voxel_ijk)]


def _dump_pickle(path: Path, payload: object) -> Path:
    path.write_bytes(pickle.dumps(payload, protocol=4))
    return path


# --------------------------------------------------------------------------------------- format round trips


@pytest.mark.parametrize("direction", list(DIRECTIONS_LPS))
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_nifti_round_trip(tmp_path, direction, suffix):
    truth_affine_ras = _truth_affine_ras(DIRECTIONS_LPS[direction])
    path = tmp_path / f"t1{suffix}"
    nib.save(nib.Nifti1Image(_values_ijk(), truth_affine_ras), path)
    loaded = load_image(path)
    assert loaded.source_format == "nifti" and not loaded.geometry_assumed and loaded.warnings == []
    assert np.array_equal(loaded.affine_ras, nib.load(path).affine)  # bit-for-bit the file's affine
    _assert_same_world_image(loaded, _values_ijk(), truth_affine_ras, atol_mm=1e-4)


def test_nifti_scaling_is_applied(tmp_path):
    values_ijk = _values_ijk() * 0.25 - 100.0
    nifti = nib.Nifti1Image(values_ijk, _truth_affine_ras(DIRECTIONS_LPS["oblique"]))
    nifti.set_data_dtype(np.int16)  # nibabel stores int16 with scl_slope/scl_inter
    nib.save(nifti, tmp_path / "scaled.nii.gz")
    stored = nib.load(tmp_path / "scaled.nii.gz")
    assert stored.get_data_dtype() == np.int16 and stored.dataobj.slope != 1.0
    loaded = load_image(tmp_path / "scaled.nii.gz")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(loaded.image).T, stored.get_fdata(dtype=np.float32))
    np.testing.assert_allclose(sitk.GetArrayFromImage(loaded.image).T, values_ijk, atol=0.1)


@pytest.mark.parametrize("direction", list(DIRECTIONS_LPS))
@pytest.mark.parametrize(
    ("suffix", "source_format"), [(".nrrd", "nrrd"), (".nhdr", "nrrd"), (".mha", "metaimage"), (".mhd", "metaimage")]
)
def test_sitk_formats_round_trip(tmp_path, direction, suffix, source_format):
    sitk.WriteImage(_truth_image(DIRECTIONS_LPS[direction]), str(tmp_path / f"t1{suffix}"))
    path = (tmp_path / f"t1{suffix}").rename(tmp_path / f"T1{suffix.upper()}")  # suffixes are case-insensitive
    loaded = load_image(path)
    assert loaded.source_format == source_format and not loaded.geometry_assumed and loaded.warnings == []
    _assert_same_world_image(loaded, _values_ijk(), _truth_affine_ras(DIRECTIONS_LPS[direction]), atol_mm=1e-9)


@pytest.mark.parametrize("direction", list(DIRECTIONS_LPS))
def test_dicom_series_round_trip(tmp_path, direction):
    truth = _truth_image(DIRECTIONS_LPS[direction])
    write_dicom_series(truth, tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.7", "F")
    loaded = load_image(tmp_path / "dicom")
    assert loaded.source_format == "dicom" and loaded.source_path == tmp_path / "dicom"
    assert loaded.metadata["patient_sex"] == "F"
    assert loaded.metadata["series_description"] == "T1 orbits" and loaded.metadata["modality"] == "MR"
    assert loaded.warnings == []
    _assert_same_world_image(loaded, _values_ijk(), _truth_affine_ras(DIRECTIONS_LPS[direction]), atol_mm=1e-4)


def test_dicom_folder_with_two_series_uses_the_largest(tmp_path):
    truth = _truth_image(DIRECTIONS_LPS["oblique"])
    write_dicom_series(truth, tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.7", "M")
    write_dicom_series(truth[:, :, :10], tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.8", "M")
    loaded = load_image(tmp_path / "dicom")
    assert loaded.image.GetSize() == SIZE_IJK and loaded.metadata["patient_sex"] == "M"
    assert loaded.metadata["series_instance_uid"] == "1.2.826.0.1.3680043.2.1125.7"
    assert len(loaded.warnings) == 1 and "1.2.826.0.1.3680043.2.1125.8 (10 files)" in loaded.warnings[0]


def test_dicom_unknown_sex_is_not_reported(tmp_path):
    write_dicom_series(_truth_image(DIRECTIONS_LPS["oblique"]), tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.9", "")
    assert "patient_sex" not in load_image(tmp_path / "dicom").metadata


def test_writing_and_reading_a_dicom_series_leave_the_process_locale_as_it_was(tmp_path):
    """GDCM's writer switches to the C locale, after which Python decodes subprocess output as ASCII; neither the
    test helper nor the engine's reader may leave that behind (in Slicer it would change the application)."""
    before = locale.setlocale(locale.LC_ALL)
    write_dicom_series(_truth_image(DIRECTIONS_LPS["oblique"]), tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.10")
    assert locale.setlocale(locale.LC_ALL) == before
    load_image(tmp_path / "dicom")
    assert locale.setlocale(locale.LC_ALL) == before


@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_with_spacing_and_orientation(tmp_path, order):
    values_ijk = _values_ijk()
    np.save(tmp_path / "v.npy", np.asfortranarray(values_ijk) if order == "F" else values_ijk)
    loaded = load_image(tmp_path / "v.npy", spacing_mm=SPACING_MM, orientation="pir")
    # i -> posterior (-A), j -> inferior (-S), k -> right (+R); origin at 0
    truth_affine_ras = np.array([[0, 0, 1.6, 0], [-0.7, 0, 0, 0], [0, -0.9, 0, 0], [0, 0, 0, 1]])
    assert np.array_equal(loaded.affine_ras, truth_affine_ras)
    assert loaded.geometry_assumed and loaded.source_format == "npy"
    assert loaded.warnings == ["no geometry in file: used the given 0.7x0.9x1.6 mm voxels and PIR orientation"]
    _assert_same_world_image(loaded, values_ijk, truth_affine_ras, atol_mm=1e-12)


def test_bare_npy_assumes_1mm_ras(tmp_path):
    np.save(tmp_path / "v.npy", _values_ijk())
    loaded = load_image(tmp_path / "v.npy")
    assert np.array_equal(loaded.affine_ras, np.eye(4)) and loaded.geometry_assumed
    assert loaded.warnings == [
        "no geometry in file: assumed 1 mm isotropic voxels and RAS orientation; "
        "pass --spacing/--orientation if this is wrong"
    ]
    assert loaded.image.GetSpacing() == (1.0, 1.0, 1.0) and loaded.image.GetOrigin() == (0.0, 0.0, 0.0)
    assert loaded.image.GetDirection() == (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)  # RAS axes in LPS
    assert loaded.image.GetPixel((3, 5, 7)) == _values_ijk()[3, 5, 7]


def test_bare_array_partial_geometry_warning(tmp_path):
    np.save(tmp_path / "v.npy", _values_ijk())
    loaded = load_image(tmp_path / "v.npy", orientation="LPS")
    assert np.array_equal(loaded.affine_ras, np.diag([-1.0, -1.0, 1.0, 1.0]))
    assert loaded.warnings == [
        "no geometry in file: assumed 1 mm isotropic voxels and used the given LPS orientation; "
        "pass --spacing if this is wrong"
    ]


@pytest.mark.parametrize("direction", list(DIRECTIONS_LPS))
def test_pickle_with_ras_affine(tmp_path, direction):
    truth_affine_ras = _truth_affine_ras(DIRECTIONS_LPS[direction])
    path = _dump_pickle(tmp_path / "v.pkl", {"image": _values_ijk(), "affine": truth_affine_ras, "subject": "s01"})
    loaded = load_image(path)
    assert loaded.source_format == "pickle" and not loaded.geometry_assumed and loaded.warnings == []
    assert np.array_equal(loaded.affine_ras, truth_affine_ras)
    _assert_same_world_image(loaded, _values_ijk(), truth_affine_ras, atol_mm=1e-12)


@pytest.mark.parametrize("direction", list(DIRECTIONS_LPS))
def test_pickle_with_lps_spacing_origin_direction(tmp_path, direction):
    direction_lps = DIRECTIONS_LPS[direction]
    payload = {
        "data": np.asfortranarray(_values_ijk()),
        "spacing": SPACING_MM,
        "origin": ORIGIN_LPS_MM,
        "direction": direction_lps.tolist(),
    }
    loaded = load_image(_dump_pickle(tmp_path / "v.pickle", payload))
    assert loaded.image.GetSpacing() == SPACING_MM and loaded.image.GetOrigin() == ORIGIN_LPS_MM
    assert loaded.image.GetDirection() == tuple(direction_lps.ravel())
    _assert_same_world_image(loaded, _values_ijk(), _truth_affine_ras(direction_lps), atol_mm=1e-12)


def test_pickle_lps_defaults_origin_and_direction(tmp_path):
    loaded = load_image(_dump_pickle(tmp_path / "v.pkl", {"array": _values_ijk(), "spacing": np.array(SPACING_MM)}))
    assert loaded.image.GetOrigin() == (0.0, 0.0, 0.0)
    assert loaded.image.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert not loaded.geometry_assumed


def test_pickle_ras_affine_and_lps_geometry_are_equivalent(tmp_path):
    direction_lps = DIRECTIONS_LPS["oblique"]
    ras_payload = {"img": _values_ijk(), "affine": _truth_affine_ras(direction_lps)}
    lps_payload = {"img": _values_ijk(), "spacing": SPACING_MM, "origin": ORIGIN_LPS_MM}
    lps_payload["direction"] = direction_lps.ravel()
    from_ras = load_image(_dump_pickle(tmp_path / "ras.pkl", ras_payload))
    from_lps = load_image(_dump_pickle(tmp_path / "lps.pkl", lps_payload))
    assert from_ras.image.GetSize() == from_lps.image.GetSize()
    np.testing.assert_allclose(from_ras.image.GetSpacing(), from_lps.image.GetSpacing(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(from_ras.image.GetOrigin(), from_lps.image.GetOrigin(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(from_ras.image.GetDirection(), from_lps.image.GetDirection(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(from_ras.affine_ras, from_lps.affine_ras, rtol=0, atol=1e-12)
    assert np.array_equal(sitk.GetArrayFromImage(from_ras.image), sitk.GetArrayFromImage(from_lps.image))


def test_bare_pickled_bool_mask_with_singleton_4d_loads_as_a_mask(tmp_path):
    mask_ijk = _values_ijk() % 3 == 0
    loaded = load_image(_dump_pickle(tmp_path / "mask.pkl", mask_ijk[..., np.newaxis]), kind="mask")
    assert loaded.image.GetSize() == SIZE_IJK and loaded.geometry_assumed
    np.testing.assert_array_equal(sitk.GetArrayFromImage(loaded.image).T, mask_ijk.astype(np.float32))


@pytest.mark.parametrize("values", ["bool", "binary", "labels", "constant"])
def test_a_mask_or_label_map_given_as_the_image_is_refused(tmp_path, values):
    label_ijk = _values_ijk() % 20
    array = {"bool": label_ijk == 3, "binary": (label_ijk == 3).astype(np.float32), "labels": label_ijk,
             "constant": np.full(SIZE_IJK, 7.0)}[values]
    nib.save(nib.Nifti1Image(array.astype(np.uint8 if values == "bool" else array.dtype), np.eye(4)),
             tmp_path / "mask.nii.gz")
    message = "is 7: the image is empty" if values == "constant" else r"holds only (2|20) distinct values \(0, 1"
    with pytest.raises(InputImageError, match=message):
        load_image(tmp_path / "mask.nii.gz")
    assert load_image(tmp_path / "mask.nii.gz", kind="mask").image.GetSize() == SIZE_IJK


def test_an_mri_quantised_to_40_values_is_not_a_mask(tmp_path):
    np.save(tmp_path / "coarse.npy", (_values_ijk() % 40).astype(np.uint8))
    assert load_image(tmp_path / "coarse.npy").image.GetSize() == SIZE_IJK


def test_nifti_without_orientation_codes_warns(tmp_path):
    nifti = nib.Nifti1Image(_values_ijk(), np.diag([0.7, 0.9, 1.6, 1.0]))
    nifti.set_sform(None, code=0)
    nifti.set_qform(None, code=0)
    nib.save(nifti, tmp_path / "nocodes.nii")
    loaded = load_image(tmp_path / "nocodes.nii")
    assert loaded.geometry_assumed and "sform and qform codes are 0" in loaded.warnings[0]
    assert np.array_equal(loaded.affine_ras, nib.load(tmp_path / "nocodes.nii").affine)
    np.testing.assert_allclose(np.diag(loaded.affine_ras)[:3], [-0.7, 0.9, 1.6], rtol=1e-6)  # nibabel: i towards left


def test_nifti_singleton_fourth_axis_is_squeezed(tmp_path):
    nib.save(nib.Nifti1Image(_values_ijk()[..., np.newaxis], np.eye(4)), tmp_path / "one.nii.gz")
    assert load_image(tmp_path / "one.nii.gz").image.GetSize() == SIZE_IJK


def test_supported_suffixes():
    assert set(SUPPORTED_SUFFIXES) == {".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".npy", ".npz", ".pkl",
                                       ".pickle", ".pkl.gz", ".pkl.bz2", ".pkl.xz", ".joblib"}


# ------------------------------------------------------------------------------------------------- errors


def _npy(tmp_path: Path, array: np.ndarray, name: str = "bad.npy") -> Path:
    np.save(tmp_path / name, array)
    return tmp_path / name


def test_missing_file(tmp_path):
    with pytest.raises(InputImageError, match=r"Image not found: '.*nothere\.nii\.gz'"):
        load_image(tmp_path / "nothere.nii.gz")


def test_unsupported_suffix(tmp_path):
    (tmp_path / "scan.jpg").write_bytes(b"\xff\xd8")
    message = r"scan\.jpg' has an unsupported file type; supported: \.nii, \.nii\.gz, .*\.npy"
    with pytest.raises(InputImageError, match=message):
        load_image(tmp_path / "scan.jpg")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((20, 24)), r"bad\.npy' is 2D \(shape \(20, 24\)\); a single 3D volume is needed"),
        (np.zeros((20, 24, 28, 3)), r"bad\.npy' contains 3 volumes \(4D\); select one 3D volume"),
        (np.zeros((20, 24, 28, 2, 3)), r"is 5D"),
        (np.zeros((20, 24, 28), dtype=[("r", "u1"), ("g", "u1"), ("b", "u1")]), r"several values per voxel \(vector"),
        (np.zeros((20, 24, 28), dtype=np.complex64), r"bad\.npy' has complex-valued voxels"),
        (np.full((20, 24, 28), "a"), r"bad\.npy' has voxels of data type '<U1', which are not numbers"),
        (np.zeros((20, 5, 28)), r"bad\.npy' is too small: axis j has only 5 voxels \(size 20x5x28\); at least 8"),
    ],
    ids=["2d", "4d", "5d", "rgb", "complex", "text", "small"],
)
def test_unusable_arrays(tmp_path, array, message):
    with pytest.raises(InputImageError, match=message):
        load_image(_npy(tmp_path, array))


def test_non_finite_values_are_counted(tmp_path):
    array = np.zeros((20, 24, 28))
    array[1, 2, 3], array[4, 5, 6], array[7, 8, 9] = np.nan, np.inf, 1e300  # 1e300 overflows float32
    with pytest.raises(InputImageError, match=r"bad\.npy' has 3 voxels that are not finite numbers"):
        load_image(_npy(tmp_path, array))


def test_object_npy_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.empty((20, 24, 28), dtype=object), allow_pickle=True)
    with pytest.raises(InputImageError, match=r"obj\.npy' is not a plain numeric \.npy array.*object dtype"):
        load_image(tmp_path / "obj.npy")


def test_npz_archive_is_refused(tmp_path):
    np.savez(tmp_path / "arch.npz", image=_values_ijk())
    (tmp_path / "arch.npz").rename(tmp_path / "arch.npy")
    with pytest.raises(InputImageError, match=r"arch\.npy' is an \.npz archive"):
        load_image(tmp_path / "arch.npy")


def test_nifti_with_several_volumes(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((20, 24, 28, 2), np.float32), np.eye(4)), tmp_path / "dwi.nii.gz")
    with pytest.raises(InputImageError, match=r"dwi\.nii\.gz' contains 2 volumes \(4D\); select one 3D volume"):
        load_image(tmp_path / "dwi.nii.gz")


def test_vector_metaimage(tmp_path):
    scalar = sitk.Image(list(SIZE_IJK), sitk.sitkUInt8)
    sitk.WriteImage(sitk.Compose(scalar, scalar, scalar), str(tmp_path / "rgb.mha"))
    with pytest.raises(InputImageError, match=r"rgb\.mha' has 3 values per voxel \(vector/RGB"):
        load_image(tmp_path / "rgb.mha")


def test_nrrd_with_several_volumes(tmp_path):
    sitk.WriteImage(sitk.Image([*SIZE_IJK, 4], sitk.sitkFloat32), str(tmp_path / "series.nrrd"))
    with pytest.raises(InputImageError, match=r"contains 4 volumes \(4D\)"):
        load_image(tmp_path / "series.nrrd")


@pytest.mark.parametrize(("name", "content"), [("broken.nii.gz", b"\x1f\x8b garbage"), ("broken.nii", b"x" * 400)])
def test_corrupt_nifti(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputImageError, match=rf"Could not read '.*{name}' as NIfTI"):
        load_image(tmp_path / name)


def test_corrupt_metaimage(tmp_path):
    (tmp_path / "broken.mha").write_bytes(b"not a metaimage")
    with pytest.raises(InputImageError, match=r"Could not read '.*broken\.mha' \(metaimage\)"):
        load_image(tmp_path / "broken.mha")


def test_folder_without_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here", encoding="utf-8")
    with pytest.raises(InputImageError, match=r"No DICOM series found in folder"):
        load_image(tmp_path)


def test_spacing_or_orientation_for_file_with_geometry(tmp_path):
    nib.save(nib.Nifti1Image(_values_ijk(), np.eye(4)), tmp_path / "t1.nii.gz")
    with pytest.raises(InputImageError, match=r"t1\.nii\.gz' stores its own voxel spacing and orientation"):
        load_image(tmp_path / "t1.nii.gz", spacing_mm=(1, 1, 1))
    pickled = _dump_pickle(tmp_path / "t1.pkl", {"image": _values_ijk(), "affine": np.eye(4)})
    with pytest.raises(InputImageError, match=r"t1\.pkl' stores its own voxel spacing"):
        load_image(pickled, orientation="RAS")


@pytest.mark.parametrize("orientation", ["RAR", "RA", "XYZ", "RASL", "SAS"])
def test_invalid_orientation(tmp_path, orientation):
    with pytest.raises(InputImageError, match=rf"Orientation '{orientation}' is not a valid axis code: give 3 letters"):
        load_image(_npy(tmp_path, _values_ijk()), orientation=orientation)


@pytest.mark.parametrize("spacing", [(0, 1, 1), (1, 1), (1, -2, 1), (1, float("nan"), 1), ("a", 1, 1)])
def test_invalid_spacing(tmp_path, spacing):
    with pytest.raises(InputImageError, match=r"Spacing .* is not valid: give three positive voxel sizes in mm"):
        load_image(_npy(tmp_path, _values_ijk()), spacing_mm=spacing)


_VOLUME = np.zeros((20, 24, 28))
_BAD_PICKLE_PAYLOADS = {
    "both-geometries": ({"image": _VOLUME, "affine": np.eye(4), "spacing": (1, 1, 1)}, r"both 'affine' and 'spacing'"),
    "no-image-key": ({"volume": _VOLUME}, r"holds a dict without an image \(keys: 'volume'\)"),
    "list": ([_VOLUME], r"holds a list; expected a numpy array"),
    "image-not-array": ({"image": [[[0.0]]]}, r"'image' is a list, not a numpy array"),
    "affine-shape": ({"image": _VOLUME, "affine": np.eye(3)},
                     r"'affine' must be 4x4 numbers, got an array of shape 3x3"),
    "affine-nan": ({"image": _VOLUME, "affine": np.full((4, 4), np.nan)}, r"'affine' holds values that are not finite"),
    "affine-long-list": ({"image": _VOLUME, "affine": [[0.0] * 4] * 1000}, r"'affine' must be 4x4 numbers, got a list "
                                                                          r"of 1000 items$"),
    "no-spacing": ({"image": _VOLUME, "origin": (0, 0, 0)}, r"gives 'origin' but no 'spacing'"),
    "zero-spacing": ({"image": _VOLUME, "spacing": (1, 0, 1)}, r"'spacing' must be three positive voxel sizes"),
    "direction-shape": ({"image": _VOLUME, "spacing": (1, 1, 1), "direction": (1, 0, 0)},
                        "'direction' must be 9 or 3x3"),
    "zero-axis-affine": ({"image": _VOLUME, "affine": np.diag([1.0, 0.0, 1.0, 1.0])}, "axis j has length 0"),
    "zero-direction": ({"image": _VOLUME, "spacing": (1, 1, 1), "direction": np.zeros(9)}, "axis i has length 0"),
    "parallel-axes": ({"image": _VOLUME, "affine": [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
                      "singular voxel-to-world matrix"),
    "sheared": ({"image": _VOLUME, "affine": [[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
                "sheared voxel axes: axes i and j meet at 63.4°, not 90°"),
}


@pytest.mark.parametrize("case", list(_BAD_PICKLE_PAYLOADS))
def test_bad_pickle_payloads(tmp_path, case):
    payload, message = _BAD_PICKLE_PAYLOADS[case]
    with pytest.raises(InputImageError, match=message):
        load_image(_dump_pickle(tmp_path / "bad.pkl", payload))


def test_unsafe_pickle_through_load_image(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"cos\nsystem\n(S'touch " + str(tmp_path / "MARKER").encode() + b"'\ntR.")
    with pytest.raises(UnsafePickleError, match=r"'(posix|os)\.system'"):
        load_image(path)
    assert not (tmp_path / "MARKER").exists()


# ------------------------------------------------------------------------------------------ label writing


def _labels_on(reference: LoadedImage, labels_ijk: np.ndarray, pixel_type: int = sitk.sitkUInt16) -> sitk.Image:
    labels = sitk.Cast(sitk.GetImageFromArray(np.ascontiguousarray(labels_ijk.T)), pixel_type)
    labels.CopyInformation(reference.image)
    return labels


def _labels_ijk(max_label: int) -> np.ndarray:
    return (_values_ijk().astype(np.int64) % (max_label + 1)).astype(np.int32)


def test_write_labels_on_nifti_reference_keeps_affine_and_codes(tmp_path):
    truth_affine_ras = _truth_affine_ras(DIRECTIONS_LPS["oblique"])
    nifti = nib.Nifti1Image(_values_ijk(), truth_affine_ras)
    nifti.set_sform(truth_affine_ras, code=2)
    nifti.set_qform(truth_affine_ras, code=4)
    nib.save(nifti, tmp_path / "t1.nii.gz")
    reference = load_image(tmp_path / "t1.nii.gz")
    labels_ijk = _labels_ijk(19)
    write_label_image(_labels_on(reference, labels_ijk), reference, tmp_path / "labels.nii.gz")
    written = nib.load(tmp_path / "labels.nii.gz")
    assert np.array_equal(written.affine, reference.affine_ras) and written.shape == SIZE_IJK
    assert np.array_equal(written.header.get_sform(), reference.affine_ras)
    np.testing.assert_allclose(written.header.get_qform(), reference.affine_ras, atol=1e-5)
    assert written.header.get_sform(coded=True)[1] == 2 and written.header.get_qform(coded=True)[1] == 4
    assert written.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), labels_ijk)


def test_write_labels_on_metaimage_reference_uses_scanner_codes_and_int16(tmp_path):
    sitk.WriteImage(_truth_image(DIRECTIONS_LPS["permuted"]), str(tmp_path / "t1.mha"))
    reference = load_image(tmp_path / "t1.mha")
    labels_ijk = _labels_ijk(300)
    write_label_image(_labels_on(reference, labels_ijk), reference, tmp_path / "labels.nii.gz")
    written = nib.load(tmp_path / "labels.nii.gz")
    assert written.header.get_sform(coded=True)[1] == 1 and written.header.get_qform(coded=True)[1] == 1
    np.testing.assert_allclose(written.affine, reference.affine_ras, atol=1e-5)  # NIfTI-1 stores float32
    assert written.get_data_dtype() == np.int16 and written.shape == SIZE_IJK
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), labels_ijk)
    reloaded = load_image(tmp_path / "labels.nii.gz")
    _assert_same_world_image(reloaded, labels_ijk, reference.affine_ras, atol_mm=1e-5)


def test_write_labels_rejects_other_grids_and_values(tmp_path):
    np.save(tmp_path / "v.npy", _values_ijk())
    reference = load_image(tmp_path / "v.npy")
    shifted = _labels_on(reference, _labels_ijk(9))
    shifted.SetOrigin((0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="differs from the reference image grid"):
        write_label_image(shifted, reference, tmp_path / "labels.nii.gz")
    with pytest.raises(ValueError, match="differs from the reference image grid"):
        write_label_image(sitk.Image([20, 24, 27], sitk.sitkUInt8), reference, tmp_path / "labels.nii.gz")
    fractional = _labels_on(reference, _labels_ijk(9) + 0.5, sitk.sitkFloat32)
    with pytest.raises(ValueError, match="non-integer"):
        write_label_image(fractional, reference, tmp_path / "labels.nii.gz")
    with pytest.raises(ValueError, match=r"must end in \.nii\.gz"):
        write_label_image(_labels_on(reference, _labels_ijk(9)), reference, tmp_path / "labels.nrrd")


def test_without_nibabel_other_formats_load_and_nifti_says_what_to_install(tmp_path, monkeypatch):
    """Slicer's Python may lack nibabel: only NIfTI files need it, and then the message says how to get it."""
    image = sitk.GetImageFromArray(np.random.default_rng(1).normal(100, 5, (12, 12, 12)).astype(np.float32))
    sitk.WriteImage(image, str(tmp_path / "head.nrrd"))
    sitk.WriteImage(image, str(tmp_path / "head.nii.gz"))
    monkeypatch.setitem(__import__("sys").modules, "nibabel", None)  # makes "import nibabel" fail
    assert load_image(tmp_path / "head.nrrd").image.GetSize() == (12, 12, 12)
    with pytest.raises(InputImageError, match="needs the Python package nibabel"):
        load_image(tmp_path / "head.nii.gz")


# ------------------------------------------------------------------------------- pickles, npz and nnU-Net


@pytest.mark.parametrize("suffix", [".pkl.gz", ".pkl.bz2", ".pkl.xz", ".joblib"])
def test_compressed_and_joblib_pickles_load_like_plain_ones(tmp_path, suffix):
    import bz2
    import gzip
    import lzma

    truth_affine_ras = _truth_affine_ras(DIRECTIONS_LPS["oblique"])
    payload = {"image": np.asfortranarray(_values_ijk()), "affine": truth_affine_ras}
    path = tmp_path / f"t1{suffix}"
    if suffix == ".joblib":
        pytest.importorskip("joblib").dump(payload, path, compress=3)
    else:
        compress = {".pkl.gz": gzip.compress, ".pkl.bz2": bz2.compress, ".pkl.xz": lzma.compress}[suffix]
        path.write_bytes(compress(pickle.dumps(payload)))
    loaded = load_image(path)
    assert loaded.source_format == "pickle" and not loaded.geometry_assumed
    _assert_same_world_image(loaded, _values_ijk(), truth_affine_ras, atol_mm=1e-12)


def test_npz_with_one_array_or_an_image_key(tmp_path):
    np.savez_compressed(tmp_path / "one.npz", _values_ijk())
    np.savez(tmp_path / "keyed.npz", image=_values_ijk(), mask=_values_ijk() > 5)
    for name in ("one.npz", "keyed.npz"):
        loaded = load_image(tmp_path / name, spacing_mm=SPACING_MM)
        assert loaded.source_format == "npz" and loaded.geometry_assumed
        np.testing.assert_array_equal(sitk.GetArrayFromImage(loaded.image).T, _values_ijk())


def _nnunet_case(tmp_path: Path, crop_zyx: tuple[slice, slice, slice] | None, suffix: str) -> tuple[Path, np.ndarray]:
    """An nnU-Net v1 case as its cropping step writes it: data (image + segmentation channel, z, y, x) and
    properties with the raw image's ITK geometry; returns the array path and the truth voxel -> RAS affine."""
    raw = _truth_image(DIRECTIONS_LPS["oblique"])
    data_zyx = sitk.GetArrayFromImage(raw)
    properties = collections.OrderedDict(
        original_size_of_raw_data=np.array(data_zyx.shape), original_spacing=np.array(raw.GetSpacing()[::-1]),
        list_of_data_files=[str(tmp_path / "case_0000.nii.gz")], seg_file=None,
        itk_origin=raw.GetOrigin(), itk_spacing=raw.GetSpacing(), itk_direction=raw.GetDirection(),
        use_nonzero_mask_for_norm=collections.OrderedDict([(0, False)]))
    truth_affine_ras = _truth_affine_ras(DIRECTIONS_LPS["oblique"])
    if crop_zyx is not None:
        data_zyx = data_zyx[crop_zyx]
        properties["crop_bbox"] = [[s.start, s.stop] for s in crop_zyx]
        properties["size_after_cropping"] = data_zyx.shape
        start_ijk = [s.start for s in crop_zyx][::-1]
        truth_affine_ras = truth_affine_ras @ np.vstack([np.column_stack([np.eye(3), start_ijk]), [0, 0, 0, 1]])
    stacked = np.stack([data_zyx, np.zeros_like(data_zyx)])  # nnU-Net appends its segmentation channel
    path = tmp_path / f"case{suffix}"
    if suffix == ".npz":
        np.savez_compressed(path, data=stacked)
    else:
        np.save(path, stacked)
    _dump_pickle(tmp_path / "case.pkl", properties)
    return path, truth_affine_ras


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
@pytest.mark.parametrize("cropped", [False, True])
def test_nnunet_arrays_take_the_geometry_of_their_properties(tmp_path, suffix, cropped):
    crop_zyx = (slice(3, 25), slice(2, 20), slice(4, 18)) if cropped else None
    path, truth_affine_ras = _nnunet_case(tmp_path, crop_zyx, suffix)
    loaded = load_image(path)
    assert not loaded.geometry_assumed and loaded.metadata["geometry_file"] == str(tmp_path / "case.pkl")
    values_ijk = _values_ijk()[tuple(crop_zyx[::-1])] if cropped else _values_ijk()
    _assert_same_world_image(loaded, values_ijk, truth_affine_ras, atol_mm=1e-9)
    assert (len(loaded.warnings) == 1 and "nnU-Net's crop" in loaded.warnings[0]) if cropped else not loaded.warnings


def test_an_npy_beside_an_unrelated_pickle_keeps_the_assumed_geometry(tmp_path):
    np.save(tmp_path / "case.npy", _values_ijk())
    _dump_pickle(tmp_path / "case.pkl", {"subject": "s01"})
    loaded = load_image(tmp_path / "case.npy")
    assert loaded.geometry_assumed and "geometry_file" not in loaded.metadata


# ------------------------------------------------------------------------ detached data and reader text


def test_a_metaimage_data_file_in_a_subfolder_loads_and_outside_only_when_allowed(tmp_path):
    sitk.WriteImage(_truth_image(DIRECTIONS_LPS["permuted"]), str(tmp_path / "t1.mhd"))
    (tmp_path / "data").mkdir()
    (tmp_path / "t1.raw").rename(tmp_path / "data" / "t1.raw")
    header = (tmp_path / "t1.mhd").read_text(encoding="utf-8")
    header = header.replace("ElementDataFile = t1.raw", "ElementDataFile = data/t1.raw")
    (tmp_path / "t1.mhd").write_text(header, encoding="utf-8")
    truth_affine_ras = _truth_affine_ras(DIRECTIONS_LPS["permuted"])
    _assert_same_world_image(load_image(tmp_path / "t1.mhd"), _values_ijk(), truth_affine_ras, atol_mm=1e-4)
    (tmp_path / "headers").mkdir()
    (tmp_path / "headers" / "t1.mhd").write_text(header.replace("data/t1.raw", "../data/t1.raw"), encoding="utf-8")
    with pytest.raises(InputImageError, match="names a data file outside its own folder"):
        load_image(tmp_path / "headers" / "t1.mhd")
    loaded = load_image(tmp_path / "headers" / "t1.mhd", allow_external_data=True)
    _assert_same_world_image(loaded, _values_ijk(), truth_affine_ras, atol_mm=1e-4)


def test_reader_text_never_reaches_stderr_and_known_text_becomes_our_warning(tmp_path, capfd):
    truth = _truth_image(DIRECTIONS_LPS["oblique"])
    write_dicom_series(truth, tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.11", "F")
    (tmp_path / "dicom" / "11_010.dcm").unlink()  # a missing slice: ITK warns about non-uniform sampling
    loaded = load_image(tmp_path / "dicom")
    assert loaded.warnings == ["the DICOM slices are unevenly spaced or some are missing: positions and volumes "
                               "along the slice axis may be wrong; check that the series is complete"]
    assert "Non uniform sampling" in loaded.metadata["reader_messages"]
    assert "0x" not in loaded.metadata["reader_messages"]
    (tmp_path / "none").mkdir()
    with pytest.raises(InputImageError, match="No DICOM series found"):
        load_image(tmp_path / "none")
    assert capfd.readouterr().err == ""
