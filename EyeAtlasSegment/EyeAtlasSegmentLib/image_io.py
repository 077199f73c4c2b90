"""Read patient images into SimpleITK (float32, ITK LPS geometry) and write label maps as NIfTI.

Supported inputs: NIfTI (read with nibabel so the affine is exactly the file's), NRRD, MetaImage, a DICOM
series folder (SimpleITK), and bare arrays (.npy, or a pickle read by :mod:`.safe_pickle`). Bare arrays are
indexed [i, j, k] in the NIfTI convention; their geometry is a RAS affine (given, or assumed: 1 mm, RAS).
Every failure is an :class:`~.errors.InputImageError` that names the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import SimpleITK as sitk

from .errors import InputImageError
from .geometry import (LPS_TO_RAS, direction_lps_from_axis_code, ijk_to_ras_affine, same_grid,
                       set_geometry_from_ras_affine)
from .safe_pickle import load_pickle_safely

SUPPORTED_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".npy", ".pkl", ".pickle")
_FORMAT_BY_SUFFIX = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
    ".npy": "npy",
    ".pkl": "pickle",
    ".pickle": "pickle",
}
#: ITK reader per format, named explicitly because ITK's own choice is case-sensitive (it refuses "T1.MHA").
_SITK_IMAGE_IO = {"nrrd": "NrrdImageIO", "metaimage": "MetaImageIO"}
MIN_VOXELS_PER_AXIS = 8
#: Keys searched, in order, for the image array in a pickled dict.
PICKLE_IMAGE_KEYS = ("image", "data", "array", "img")
_PICKLE_LPS_KEYS = ("spacing", "origin", "direction")
#: metadata key -> DICOM tag copied verbatim (stripped) when present.
DICOM_METADATA_TAGS = {
    "modality": "0008|0060",
    "series_description": "0008|103e",
    "series_instance_uid": "0020|000e",
}
_DICOM_PATIENT_SEX_TAG = "0010|0040"
NIFTI_SCANNER_CODE = 1


@dataclass
class LoadedImage:
    """A patient image on its own grid, ready for registration."""

    image: sitk.Image  # 3D scalar sitkFloat32, ITK LPS geometry (spacing mm, origin, direction)
    affine_ras: np.ndarray  # 4x4 voxel (i, j, k) -> RAS mm of exactly that grid
    source_path: Path
    source_format: str  # "nifti" | "nrrd" | "metaimage" | "dicom" | "npy" | "pickle"
    geometry_assumed: bool  # True when spacing/orientation were not in the file
    warnings: list[str] = field(default_factory=list)
    # e.g. "patient_sex" (DICOM 0010|0040, M/F/O), "series_description"; "nifti_sform_code"/"nifti_qform_code"
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _LpsGeometry:
    """ITK-convention geometry from a pickle: spacing (mm), origin (LPS mm), row-major direction (LPS)."""

    spacing_mm: tuple[float, ...]
    origin_lps_mm: tuple[float, ...]
    direction_lps: tuple[float, ...]


_ArrayGeometry = Union[np.ndarray, _LpsGeometry]  # a 4x4 RAS affine or an ITK LPS geometry


# ----------------------------------------------------------------------------------------------- reading


def load_image(
    path: str | Path, spacing_mm: Sequence[float] | None = None, orientation: str | None = None
) -> LoadedImage:
    """Load a 3D scalar image as float32 on its own grid.

    ``spacing_mm`` (voxel size along i, j, k) and ``orientation`` (axis code such as "RAS", "LPS", "PIR":
    the anatomical direction in which i, j, k increase) are only for bare arrays without geometry.
    """
    path = Path(path)
    if not path.exists():
        raise InputImageError(f"Image not found: '{path}'")
    source_format = _detect_format(path)
    if source_format in ("npy", "pickle"):
        loaded = _read_array_file(path, source_format, spacing_mm, orientation)
    elif spacing_mm is not None or orientation is not None:
        raise _own_geometry_error(path)
    elif source_format == "nifti":
        loaded = _read_nifti(path)
    elif source_format == "dicom":
        loaded = _read_dicom_series(path)
    else:
        loaded = _read_with_sitk(path, source_format)
    _check_voxels(loaded.image, path)
    return loaded


def _nibabel():
    """nibabel, imported when a NIfTI file is read or written (Slicer's Python may not have it until installed)."""
    try:
        import nibabel
    except ImportError as exc:
        raise InputImageError("reading and writing NIfTI files needs the Python package nibabel: "
                              "pip install nibabel (in Slicer: slicer.util.pip_install('nibabel'))") from exc
    return nibabel


def _detect_format(path: Path) -> str:
    if path.is_dir():
        return "dicom"
    name = path.name.lower()
    for suffix in sorted(_FORMAT_BY_SUFFIX, key=len, reverse=True):
        if name.endswith(suffix):
            return _FORMAT_BY_SUFFIX[suffix]
    raise InputImageError(
        f"'{path}' has an unsupported file type; supported: {', '.join(SUPPORTED_SUFFIXES)}, "
        "or a folder holding one DICOM series"
    )


def _own_geometry_error(path: Path) -> InputImageError:
    return InputImageError(
        f"'{path}' stores its own voxel spacing and orientation; --spacing/--orientation are only for bare "
        "arrays without geometry and would contradict the file. Remove them."
    )


def _read_nifti(path: Path) -> LoadedImage:
    try:
        nifti = _nibabel().load(str(path))
        shape_ijk = _validated_3d_shape(nifti.shape, path)
        _check_voxel_dtype(nifti.get_data_dtype(), path)
        array_ijk = nifti.get_fdata(dtype=np.float32).reshape(shape_ijk)
    except InputImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for corrupt files
        raise InputImageError(f"Could not read '{path}' as NIfTI: {type(exc).__name__}: {exc}") from exc
    affine_ras = np.array(nifti.affine, dtype=np.float64)
    image = _image_from_ijk_array(array_ijk)
    _apply_geometry(image, affine_ras, path)
    sform_code = int(nifti.header.get_sform(coded=True)[1])
    qform_code = int(nifti.header.get_qform(coded=True)[1])
    warnings = []
    if sform_code == 0 and qform_code == 0:
        warnings.append(
            "NIfTI header has no orientation (sform and qform codes are 0): assumed i towards the left, "
            "j anterior, k superior with the header's voxel sizes; check left/right before trusting the result"
        )
    metadata = {"nifti_sform_code": str(sform_code), "nifti_qform_code": str(qform_code)}
    return LoadedImage(image, affine_ras, path, "nifti", bool(warnings), warnings, metadata)


def _read_with_sitk(path: Path, source_format: str) -> LoadedImage:
    try:
        image = sitk.ReadImage(str(path), imageIO=_SITK_IMAGE_IO[source_format])
    except RuntimeError as exc:
        raise InputImageError(f"Could not read '{path}' ({source_format}): {_itk_reason(exc)}") from exc
    image = _as_float32_scalar_3d(image, path)
    return LoadedImage(image, ijk_to_ras_affine(image), path, source_format, False)


def _read_dicom_series(directory: Path) -> LoadedImage:
    series_uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(directory))
    if not series_uids:
        raise InputImageError(
            f"No DICOM series found in folder '{directory}' (sub-folders are not searched); "
            "choose the folder that directly holds the series' files"
        )
    files_by_uid = {uid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory), uid) for uid in series_uids}
    chosen_uid = max(series_uids, key=lambda uid: len(files_by_uid[uid]))
    warnings = []
    if len(series_uids) > 1:
        ignored = ", ".join(f"{uid} ({len(files_by_uid[uid])} files)" for uid in series_uids if uid != chosen_uid)
        warnings.append(
            f"folder holds {len(series_uids)} DICOM series; using {chosen_uid} "
            f"({len(files_by_uid[chosen_uid])} files, the largest) and ignoring {ignored}"
        )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files_by_uid[chosen_uid])
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOn()
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputImageError(f"Could not read the DICOM series in '{directory}': {_itk_reason(exc)}") from exc
    image = _as_float32_scalar_3d(image, directory)
    return LoadedImage(
        image, ijk_to_ras_affine(image), directory, "dicom", False, warnings, _dicom_metadata(reader)
    )


def _dicom_metadata(reader: sitk.ImageSeriesReader) -> dict[str, str]:
    """Selected tags of the series' first slice; patient_sex only when it is M, F or O."""
    metadata = {
        key: reader.GetMetaData(0, tag).strip()
        for key, tag in DICOM_METADATA_TAGS.items()
        if reader.HasMetaDataKey(0, tag) and reader.GetMetaData(0, tag).strip()
    }
    if reader.HasMetaDataKey(0, _DICOM_PATIENT_SEX_TAG):
        sex = reader.GetMetaData(0, _DICOM_PATIENT_SEX_TAG).strip().upper()
        if sex in ("M", "F", "O"):
            metadata["patient_sex"] = sex
    return metadata


def _itk_reason(exc: RuntimeError) -> str:
    """The last non-empty line of an ITK exception: the human-readable reason."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


# ----------------------------------------------------------------------------------------- bare arrays


def _read_array_file(
    path: Path, source_format: str, spacing_mm: Sequence[float] | None, orientation: str | None
) -> LoadedImage:
    if source_format == "npy":
        array_ijk, file_geometry = _read_npy(path), None
    else:
        array_ijk, file_geometry = _read_pickle_payload(path)
    shape_ijk = _validated_3d_shape(array_ijk.shape, path)
    _check_voxel_dtype(array_ijk.dtype, path)
    image = _image_from_ijk_array(array_ijk.reshape(shape_ijk))
    if file_geometry is not None:
        if spacing_mm is not None or orientation is not None:
            raise _own_geometry_error(path)
        return LoadedImage(image, _apply_geometry(image, file_geometry, path), path, source_format, False)
    spacing = None if spacing_mm is None else _validated_spacing(spacing_mm)
    axis_code = None if orientation is None else _validated_axis_code(orientation)
    affine_ras = _apply_geometry(image, _bare_array_affine_ras(spacing, axis_code), path)
    warnings = [_assumed_geometry_warning(spacing, axis_code)]
    return LoadedImage(image, affine_ras, path, source_format, True, warnings)


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputImageError(
                f"'{path}' is not a plain numeric .npy array: it holds pickled Python objects (object dtype), "
                "which are refused because loading them can run code. Save a numeric array with numpy.save."
            ) from None
        raise InputImageError(f"Could not read '{path}' as a .npy array: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise InputImageError(f"Could not read '{path}' as a .npy array: {exc}") from exc
    if not isinstance(array, np.ndarray):
        array.close()
        raise InputImageError(f"'{path}' is an .npz archive, not a single .npy array; save one 3D array")
    return array


def _read_pickle_payload(path: Path) -> tuple[np.ndarray, _ArrayGeometry | None]:
    """The image array and its geometry (``None`` for a bare array) from a pickled array or dict."""
    payload = load_pickle_safely(path)
    if isinstance(payload, np.ndarray):
        return payload, None
    expected = f"a numpy array, or a dict with the image under one of {', '.join(map(repr, PICKLE_IMAGE_KEYS))}"
    if not isinstance(payload, dict):
        raise InputImageError(f"'{path}' holds a {type(payload).__name__}; expected {expected}")
    image_key = next((key for key in PICKLE_IMAGE_KEYS if key in payload), None)
    if image_key is None:
        found = ", ".join(repr(key) for key in payload) or "none"
        raise InputImageError(f"'{path}' holds a dict without an image (keys: {found}); expected {expected}")
    array = payload[image_key]
    if not isinstance(array, np.ndarray):
        raise InputImageError(f"'{path}': '{image_key}' is a {type(array).__name__}, not a numpy array")
    return array, _pickle_geometry(payload, path)


def _pickle_geometry(payload: dict, path: Path) -> _ArrayGeometry | None:
    lps_keys = [key for key in _PICKLE_LPS_KEYS if key in payload]
    if "affine" in payload and lps_keys:
        raise InputImageError(
            f"'{path}' gives both 'affine' and {', '.join(map(repr, lps_keys))}; give either a 4x4 RAS 'affine' "
            "or ITK 'spacing'/'origin'/'direction' (LPS), not both"
        )
    if "affine" in payload:
        return _float_array(payload["affine"], ((4, 4),), "affine", path)
    if not lps_keys:
        return None
    if "spacing" not in payload:
        raise InputImageError(f"'{path}' gives {', '.join(map(repr, lps_keys))} but no 'spacing' (mm)")
    spacing_mm = _float_array(payload["spacing"], ((3,),), "spacing", path)
    if np.any(spacing_mm <= 0):
        raise InputImageError(f"'{path}': 'spacing' must be three positive voxel sizes in mm, got {spacing_mm}")
    origin_lps_mm = _float_array(payload.get("origin", np.zeros(3)), ((3,),), "origin", path)
    direction_lps = _float_array(payload.get("direction", np.eye(3)), ((9,), (3, 3)), "direction", path)
    return _LpsGeometry(tuple(spacing_mm), tuple(origin_lps_mm), tuple(direction_lps.ravel()))


def _float_array(value: object, shapes: tuple[tuple[int, ...], ...], key: str, path: Path) -> np.ndarray:
    """``value`` as a finite float array of one of ``shapes``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.shape not in shapes or not np.all(np.isfinite(array)):
        wanted = " or ".join("x".join(map(str, shape)) for shape in shapes)
        raise InputImageError(f"'{path}': '{key}' must be {wanted} finite numbers, got {value!r}")
    return array


def _bare_array_affine_ras(spacing_mm: np.ndarray | None, axis_code: str | None) -> np.ndarray:
    """Voxel -> RAS affine of a bare array: given or 1 mm spacing, given or RAS axes, origin at 0."""
    axes_ras = LPS_TO_RAS @ direction_lps_from_axis_code(axis_code or "RAS")
    affine_ras = np.eye(4)
    affine_ras[:3, :3] = axes_ras * (np.ones(3) if spacing_mm is None else spacing_mm)
    return affine_ras


def _validated_spacing(spacing_mm: Sequence[float]) -> np.ndarray:
    try:
        spacing = np.asarray(spacing_mm, dtype=np.float64)
    except (TypeError, ValueError):
        spacing = None
    if spacing is None or spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputImageError(
            f"Spacing {spacing_mm!r} is not valid: give three positive voxel sizes in mm along i, j, k (e.g. 0.5 0.5 2)"
        )
    return spacing


def _validated_axis_code(orientation: str) -> str:
    """Upper-case axis code such as "PIR": one of R/L, A/P and S/I, the directions in which i, j, k increase."""
    try:
        direction_lps_from_axis_code(orientation)
    except ValueError as exc:
        raise InputImageError(
            f"Orientation {orientation!r} is not a valid axis code: give 3 letters, one of R/L, one of A/P and "
            "one of S/I, naming the direction in which i, j, k increase (e.g. RAS, LPS, PIR)"
        ) from exc
    return str(orientation).upper()


def _assumed_geometry_warning(spacing_mm: np.ndarray | None, axis_code: str | None) -> str:
    assumed, given, flags = [], [], []
    if spacing_mm is None:
        assumed.append("1 mm isotropic voxels")
        flags.append("--spacing")
    else:
        given.append("x".join(f"{value:g}" for value in spacing_mm) + " mm voxels")
    if axis_code is None:
        assumed.append("RAS orientation")
        flags.append("--orientation")
    else:
        given.append(f"{axis_code} orientation")
    clauses = []
    if assumed:
        clauses.append("assumed " + " and ".join(assumed))
    if given:
        clauses.append("used the given " + " and ".join(given))
    text = "no geometry in file: " + " and ".join(clauses)
    return text + (f"; pass {'/'.join(flags)} if this is wrong" if flags else "")


# ------------------------------------------------------------------------------------------ validation


def _validated_3d_shape(shape: Sequence[int], path: Path) -> tuple[int, ...]:
    """``shape`` without trailing singleton axes beyond the third; must then be 3D."""
    shape = tuple(int(n) for n in shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 4:
        raise InputImageError(
            f"'{path}' contains {shape[3]} volumes (4D); select one 3D volume (e.g. in Slicer or with fslroi)"
        )
    if len(shape) != 3:
        raise InputImageError(f"'{path}' is {len(shape)}D (shape {shape}); a single 3D volume is needed")
    return shape


def _check_voxel_dtype(dtype: np.dtype, path: Path) -> None:
    if dtype.fields is not None or dtype.subdtype is not None:
        raise InputImageError(
            f"'{path}' has several values per voxel (vector/RGB data, dtype {dtype}); "
            "convert it to a single-channel grey-scale volume"
        )
    if dtype.kind == "c":
        raise InputImageError(f"'{path}' has complex-valued voxels; use the magnitude image instead")
    if dtype.kind not in "biuf":
        raise InputImageError(
            f"'{path}' has voxels of data type '{dtype}', which are not numbers (object or text data)"
        )


def _as_float32_scalar_3d(image: sitk.Image, path: Path) -> sitk.Image:
    """A SimpleITK image as 3D scalar float32; trailing singleton dimensions are dropped."""
    if image.GetPixelID() in (sitk.sitkComplexFloat32, sitk.sitkComplexFloat64):
        raise InputImageError(f"'{path}' has complex-valued voxels; use the magnitude image instead")
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise InputImageError(
            f"'{path}' has {image.GetNumberOfComponentsPerPixel()} values per voxel (vector/RGB or complex data); "
            "convert it to a single-channel grey-scale volume"
        )
    shape_ijk = _validated_3d_shape(image.GetSize(), path)
    if image.GetDimension() > 3:
        extra_axes = image.GetDimension() - 3
        image = sitk.Extract(image, [*shape_ijk, *[0] * extra_axes], [0] * image.GetDimension())
    return sitk.Cast(image, sitk.sitkFloat32)


def _check_voxels(image: sitk.Image, path: Path) -> None:
    """At least MIN_VOXELS_PER_AXIS voxels along each axis and only finite values."""
    size_ijk = image.GetSize()
    for axis_name, n_voxels in zip("ijk", size_ijk):
        if n_voxels < MIN_VOXELS_PER_AXIS:
            raise InputImageError(
                f"'{path}' is too small: axis {axis_name} has only {n_voxels} voxels (size "
                f"{'x'.join(map(str, size_ijk))}); at least {MIN_VOXELS_PER_AXIS} voxels per axis are needed"
            )
    n_non_finite = int(np.count_nonzero(~np.isfinite(sitk.GetArrayViewFromImage(image))))
    if n_non_finite:
        raise InputImageError(
            f"'{path}' has {n_non_finite} voxels that are not finite numbers (NaN, infinity or beyond the "
            "32-bit float range); replace them (e.g. with 0) and try again"
        )


# ---------------------------------------------------------------------------------------- grid helpers


def _image_from_ijk_array(array_ijk: np.ndarray) -> sitk.Image:
    """float32 SimpleITK image from a 3D array indexed [i, j, k] (SimpleITK arrays are [k, j, i]).

    Values beyond the float32 range become infinite here and are reported by :func:`_check_voxels`.
    """
    with np.errstate(over="ignore"):
        array_kji = np.ascontiguousarray(array_ijk.T, dtype=np.float32)
    return sitk.GetImageFromArray(array_kji)


def _apply_geometry(image: sitk.Image, geometry: _ArrayGeometry, path: Path) -> np.ndarray:
    """Set ``image``'s grid from a RAS affine or an ITK LPS geometry; returns the voxel -> RAS affine."""
    try:
        if isinstance(geometry, _LpsGeometry):
            image.SetSpacing(geometry.spacing_mm)
            image.SetOrigin(geometry.origin_lps_mm)
            image.SetDirection(geometry.direction_lps)
            return ijk_to_ras_affine(image)
        set_geometry_from_ras_affine(image, geometry)
        return np.array(geometry, dtype=np.float64)
    except (ValueError, RuntimeError) as exc:
        reason = _itk_reason(exc) if isinstance(exc, RuntimeError) else str(exc)
        raise InputImageError(f"'{path}' has an invalid voxel-to-world geometry: {reason}") from exc


# ----------------------------------------------------------------------------------------------- writing


def write_label_image(labels: sitk.Image, reference: LoadedImage, path: str | Path) -> None:
    """Write integer ``labels`` (on ``reference.image``'s grid) as NIfTI with header affine ``reference.affine_ras``.

    Stored as uint8 when all labels are 0-255, else int16. sform and qform get the input NIfTI's codes,
    or 1 (scanner) for other inputs.
    """
    path = Path(path)
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        raise ValueError(f"label image path must end in .nii.gz or .nii, got '{path}'")
    _require_same_grid(labels, reference.image)
    nib = _nibabel()
    nifti = nib.Nifti1Image(_integer_label_array_ijk(labels), reference.affine_ras)
    nifti.set_sform(reference.affine_ras, code=int(reference.metadata.get("nifti_sform_code", NIFTI_SCANNER_CODE)))
    nifti.set_qform(reference.affine_ras, code=int(reference.metadata.get("nifti_qform_code", NIFTI_SCANNER_CODE)))
    nifti.header.set_xyzt_units("mm")
    nib.save(nifti, str(path))


def _require_same_grid(labels: sitk.Image, reference: sitk.Image) -> None:
    if not (labels.GetDimension() == 3 and labels.GetNumberOfComponentsPerPixel() == 1
            and same_grid(labels, reference, spacing_mm=1e-5, origin_mm=1e-5, direction=1e-6, rtol=0)):
        raise ValueError(
            f"labels grid (size {labels.GetSize()}, spacing {labels.GetSpacing()}, origin {labels.GetOrigin()}) "
            f"differs from the reference image grid (size {reference.GetSize()}, spacing {reference.GetSpacing()}, "
            f"origin {reference.GetOrigin()}); resample the labels onto the reference image first"
        )


def _integer_label_array_ijk(labels: sitk.Image) -> np.ndarray:
    """Label values as a [i, j, k] array of uint8 (0-255) or int16."""
    values_ijk = sitk.GetArrayViewFromImage(labels).T
    if not np.array_equal(values_ijk, np.round(values_ijk)):
        raise ValueError("label image has non-integer values")
    lowest, highest = values_ijk.min(), values_ijk.max()
    if lowest >= 0 and highest <= np.iinfo(np.uint8).max:
        return values_ijk.astype(np.uint8)
    if lowest < np.iinfo(np.int16).min or highest > np.iinfo(np.int16).max:
        raise ValueError(f"label values {lowest}..{highest} do not fit in int16")
    return values_ijk.astype(np.int16)
