"""Read patient images into SimpleITK (float32, ITK LPS geometry) and write label maps as NIfTI.

Supported inputs: NIfTI (read with nibabel so the affine is exactly the file's), NRRD, MetaImage, a DICOM
series folder (SimpleITK), and bare arrays: ``.npy``/``.npz`` (with the geometry of an nnU-Net properties
``.pkl`` beside them when there is one) and pickles read by :mod:`.safe_pickle` (plain, compressed or
``joblib.dump``). Bare arrays are indexed [i, j, k] in the NIfTI convention; their geometry is a RAS affine
(given, or assumed: 1 mm, RAS).

Every image is checked before it is used: voxel-to-world geometry finite, non-singular and not sheared; a
claimed size that fits in memory (checked from the header, before reading the voxels); detached MetaImage/NRRD
data files inside the header's folder (unless allowed); finite voxels; and, for the patient image, more than
``MASK_LIKE_MAX_DISTINCT_VALUES`` distinct values (a mask or label map given as the image is refused). What the
readers print (ITK, GDCM, MetaIO, nibabel warnings) is collected, never shown raw: the known cases become one
warning in our words and the text is kept in ``metadata["reader_messages"]``. Every failure is an
:class:`~.errors.InputImageError` that names the file and says what to do.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import SimpleITK as sitk

from .errors import InputImageError, library_reason, without_object_addresses
from .geometry import (
    LPS_TO_RAS,
    direction_lps_from_axis_code,
    ijk_to_ras_affine,
    same_grid,
    set_geometry_from_ras_affine,
)
from .safe_pickle import load_pickle_safely

_FORMAT_BY_SUFFIX = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
    ".npy": "npy",
    ".npz": "npz",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".pkl.gz": "pickle",
    ".pkl.bz2": "pickle",
    ".pkl.xz": "pickle",
    ".joblib": "pickle",
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_FORMAT_BY_SUFFIX)
#: ITK reader per format, named explicitly because ITK's own choice is case-sensitive (it refuses "T1.MHA").
_SITK_IMAGE_IO = {"nrrd": "NrrdImageIO", "metaimage": "MetaImageIO"}
MIN_VOXELS_PER_AXIS = 8
#: A patient image with at most this many distinct values is a mask or label map, not an MRI.
MASK_LIKE_MAX_DISTINCT_VALUES = 32
#: Voxel axes whose direction cosines deviate from perpendicular by more than this (|cos| of their angle, i.e.
#: 0.06°) are sheared; below it the deviation is rounding in the header (float32 NIfTI: ~1e-7).
SHEAR_TOLERANCE = 1e-3
#: Bytes per voxel a loaded image needs: the file's values and the float32 copy.
_BYTES_PER_VOXEL_LOADED = 8
#: Keys searched, in order, for the image array in a pickled dict or an .npz archive.
PICKLE_IMAGE_KEYS = ("image", "data", "array", "img")
_PICKLE_LPS_KEYS = ("spacing", "origin", "direction")
#: nnU-Net (v1) case properties: the ITK geometry of the raw image the case's .npy/.npz was made from.
_NNUNET_GEOMETRY_KEYS = ("itk_spacing", "itk_origin", "itk_direction")
#: metadata key -> DICOM tag copied verbatim (stripped) when present.
DICOM_METADATA_TAGS = {
    "modality": "0008|0060",
    "series_description": "0008|103e",
    "series_instance_uid": "0020|000e",
}
_DICOM_PATIENT_SEX_TAG = "0010|0040"
NIFTI_SCANNER_CODE = 1
#: What the readers print that we recognise (a fragment of their text) and what it means, in our words.
_KNOWN_READER_MESSAGES = (
    ("Non uniform sampling or missing slices",
     "the DICOM slices are unevenly spaced or some are missing: positions and volumes along the slice axis may "
     "be wrong; check that the series is complete"),
    ("overflow encountered",
     "some voxel values overflow 32-bit floats once the header's scaling (scl_slope/scl_inter) is applied"),
)


@dataclass
class LoadedImage:
    """A patient image on its own grid, ready for registration."""

    image: sitk.Image  # 3D scalar sitkFloat32, ITK LPS geometry (spacing mm, origin, direction)
    affine_ras: np.ndarray  # 4x4 voxel (i, j, k) -> RAS mm of exactly that grid
    source_path: Path
    source_format: str  # "nifti" | "nrrd" | "metaimage" | "dicom" | "npy" | "npz" | "pickle"
    geometry_assumed: bool  # True when spacing/orientation were not in the file
    warnings: list[str] = field(default_factory=list)
    # e.g. "patient_sex" (DICOM 0010|0040, M/F/O), "series_description"; "nifti_sform_code"/"nifti_qform_code";
    # "geometry_file" (nnU-Net properties); "reader_messages" (what the readers printed)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _LpsGeometry:
    """ITK-convention geometry: spacing (mm), origin (LPS mm), row-major direction (LPS)."""

    spacing_mm: tuple[float, ...]
    origin_lps_mm: tuple[float, ...]
    direction_lps: tuple[float, ...]

    def affine_ras(self) -> np.ndarray:
        affine = np.eye(4)
        affine[:3, :3] = LPS_TO_RAS @ np.reshape(self.direction_lps, (3, 3)) @ np.diag(self.spacing_mm)
        affine[:3, 3] = LPS_TO_RAS @ np.asarray(self.origin_lps_mm)
        return affine


_ArrayGeometry = Union[np.ndarray, _LpsGeometry]  # a 4x4 RAS affine or an ITK LPS geometry


# ----------------------------------------------------------------------------------------------- reading


def load_image(
    path: str | Path, spacing_mm: Sequence[float] | None = None, orientation: str | None = None, *,
    kind: str = "intensity", allow_external_data: bool = False,
) -> LoadedImage:
    """Load a 3D scalar image as float32 on its own grid.

    ``spacing_mm`` (voxel size along i, j, k) and ``orientation`` (axis code such as "RAS", "LPS", "PIR":
    the anatomical direction in which i, j, k increase) are only for bare arrays without geometry.
    ``kind`` is "intensity" for an MRI (an image with few distinct values is refused as a mask) or "mask" (e.g. a
    noise ROI). ``allow_external_data`` lets a MetaImage/NRRD header name data files outside its own folder.
    """
    path = Path(path)
    if kind not in ("intensity", "mask"):
        raise ValueError(f"kind must be 'intensity' or 'mask', not {kind!r}")
    if not path.exists():
        raise InputImageError(f"Image not found: '{path}'")
    source_format = _detect_format(path)
    with _reader_messages() as messages:
        if source_format in ("npy", "npz", "pickle"):
            loaded = _read_array_file(path, source_format, spacing_mm, orientation)
        elif spacing_mm is not None or orientation is not None:
            raise _own_geometry_error(path)
        elif source_format == "nifti":
            loaded = _read_nifti(path)
        elif source_format == "dicom":
            loaded = _read_dicom_series(path)
        else:
            _check_data_files(path, source_format, allow_external_data)
            loaded = _read_with_sitk(path, source_format)
    _check_voxels(loaded.image, path)
    if kind == "intensity":
        _refuse_mask_like(loaded.image, path)
    _add_reader_messages(loaded, messages)
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
        _require_memory(shape_ijk, path)
        _check_nifti_voxel_sizes(_header_as_stored(nifti), path)
        array_ijk = nifti.get_fdata(dtype=np.float32).reshape(shape_ijk)
    except InputImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for corrupt files
        raise InputImageError(f"Could not read '{path}' as NIfTI (corrupt or truncated?): "
                              f"{type(exc).__name__}: {_first_line(exc)}") from exc
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


def _header_as_stored(nifti):
    """The NIfTI header exactly as in the file: ``nibabel.load`` repairs some fields (pixdim 0 becomes 1)."""
    from nibabel.openers import ImageOpener

    holder = nifti.file_map.get("header", nifti.file_map["image"])  # .hdr of a pair, else the .nii itself
    with ImageOpener(holder.filename) as handle:
        return type(nifti.header).from_fileobj(handle, check=False)


def _check_nifti_voxel_sizes(header, path: Path) -> None:
    """pixdim 0 (or not finite) along a spatial axis, as stored: nibabel would quietly use 1 mm."""
    for axis, size_mm in zip("ijk", header["pixdim"][1:4]):
        if not np.isfinite(size_mm) or size_mm == 0:
            raise InputImageError(
                f"'{path}': the NIfTI header gives voxel size {float(size_mm):g} mm along axis {axis} (pixdim); "
                "the header is broken. Re-convert the image from DICOM (e.g. with dcm2niix)"
            )


def _read_with_sitk(path: Path, source_format: str) -> LoadedImage:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO(_SITK_IMAGE_IO[source_format])
    try:
        reader.ReadImageInformation()
        _require_memory(reader.GetSize(), path)
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputImageError(f"Could not read '{path}' ({source_format}): {library_reason(exc)}") from exc
    image = _as_float32_scalar_3d(image, path)
    return LoadedImage(image, _checked_affine(ijk_to_ras_affine(image), path), path, source_format, False)


def _check_data_files(path: Path, source_format: str, allow_external_data: bool) -> None:
    """A detached header (.mhd, .nhdr) may only name data files in its own folder (or below), unless allowed,
    and they must exist."""
    folder = path.resolve().parent
    for name in _detached_data_files(path, source_format):
        target = (folder / name).resolve()
        if not allow_external_data and folder != target and folder not in target.parents:
            raise InputImageError(
                f"'{path}' names a data file outside its own folder ('{name}'); it is refused so that a header "
                "cannot make this program read other files. Move the data file beside the header, or pass "
                "--allow-external-data if you trust this header"
            )
        if not target.is_file():
            raise InputImageError(f"'{path}' names the data file '{name}', which does not exist: copy it beside the "
                                  "header (a .mhd or .nhdr file holds only the header; the voxels are in that file)")


def _detached_data_files(path: Path, source_format: str) -> list[str]:
    """The data file names a MetaImage (ElementDataFile) or NRRD (data file) header gives; [] when attached."""
    with open(path, "rb") as handle:
        header = handle.read(65536).decode("latin-1")
    if source_format == "metaimage":
        pattern, attached = r"^\s*ElementDataFile\s*=\s*(.*?)\s*$", ("LOCAL",)
    else:
        pattern, attached = r"^\s*data ?file\s*:\s*(.*?)\s*$", ()
        header = header.split("\n\n", 1)[0]  # an attached .nrrd's data starts after the first blank line
    lines = header.splitlines()
    for n, line in enumerate(lines):
        match = re.match(pattern, line, flags=re.IGNORECASE)
        if not match:
            continue
        value = match.group(1)
        if value.upper() in attached:
            return []
        fields = value.split()
        if fields and fields[0].upper() == "LIST":  # the file names follow, one per line
            return [line.strip() for line in lines[n + 1:] if line.strip()]
        if len(fields) >= 4 and "%" in fields[0]:  # a printf pattern with min, max, step
            first, last, step = (int(v) for v in fields[1:4])
            return [fields[0] % index for index in range(first, last + 1, step or 1)][:10000]
        return [value]
    return []


def _read_dicom_series(directory: Path) -> LoadedImage:
    series_uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(directory))
    if not series_uids:
        raise InputImageError(
            f"No DICOM series found in folder '{directory}' (sub-folders are not searched); "
            "choose the folder that directly holds the series' files"
        )
    files_by_uid = {uid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory), uid) for uid in series_uids}
    largest = max(len(files) for files in files_by_uid.values())
    tied = [uid for uid in series_uids if len(files_by_uid[uid]) == largest]
    if len(tied) > 1:
        raise InputImageError(
            f"folder '{directory}' holds {len(series_uids)} DICOM series and {len(tied)} of them have {largest} "
            f"files each ({', '.join(tied)}), so none can be chosen as the main one: move the series you want "
            "into a folder of its own"
        )
    chosen_uid = tied[0]
    warnings = []
    if len(series_uids) > 1:
        ignored = ", ".join(f"{uid} ({len(files_by_uid[uid])} files)" for uid in series_uids if uid != chosen_uid)
        warnings.append(
            f"folder holds {len(series_uids)} DICOM series; using {chosen_uid} "
            f"({len(files_by_uid[chosen_uid])} files, the most) and ignoring {ignored}"
        )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files_by_uid[chosen_uid])
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOn()
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputImageError(_dicom_failure(directory, chosen_uid, files_by_uid[chosen_uid], exc)) from exc
    image = _as_float32_scalar_3d(image, directory)
    affine_ras = _checked_affine(ijk_to_ras_affine(image), directory)
    return LoadedImage(image, affine_ras, directory, "dicom", False, warnings, _dicom_metadata(reader))


def _dicom_failure(directory: Path, uid: str, files: Sequence[str], exc: RuntimeError) -> str:
    """Why a DICOM series could not be read: slices of different grids under one UID, or ITK's reason."""
    grids = set()
    for name in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(name)
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            continue
        grids.add((reader.GetSize()[:2], tuple(round(v, 3) for v in reader.GetDirection())))
    if len(grids) > 1:
        sizes = sorted({"x".join(map(str, size)) for size, _ in grids})
        differ = f"slice sizes {' and '.join(sizes)}" if len(sizes) > 1 else "different slice orientations"
        return (f"the DICOM series {uid} in '{directory}' mixes slices of {len(grids)} grids ({differ}): probably "
                "two acquisitions sharing one series UID. Put each acquisition in its own folder, or export the "
                "series again")
    return f"Could not read the DICOM series in '{directory}': {library_reason(exc)}"


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


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else "no details"


# ---------------------------------------------------------------------------------- what readers print


@contextmanager
def _reader_messages() -> Iterator[list[str]]:
    """Collect what the readers print (C-level stderr: ITK, GDCM, MetaIO; Python warnings) instead of showing it.

    The list is filled when the block ends.
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _captured_stderr(messages):
            yield messages
    messages.extend(f"{w.category.__name__}: {w.message}" for w in caught)


@contextmanager
def _captured_stderr(lines: list[str]) -> Iterator[None]:
    """Redirect file descriptor 2 to a temporary file for the block; its non-empty lines go to ``lines``."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to capture
        yield
        return
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(line.strip() for line in sink.read().decode("utf-8", "replace").splitlines() if line.strip())


def _add_reader_messages(loaded: LoadedImage, messages: Sequence[str]) -> None:
    """Known reader messages become warnings in our words; the rest is counted in one warning. All kept."""
    messages = [without_object_addresses(line) for line in messages
                if not re.match(r"^WARNING: In .*, line \d+$", line)]  # ITK's "where" line before each warning
    if not messages:
        return
    unknown = list(messages)
    for fragment, meaning in _KNOWN_READER_MESSAGES:
        if any(fragment in line for line in messages):
            loaded.warnings.append(meaning)
            unknown = [line for line in unknown if fragment not in line]
    if unknown:
        loaded.warnings.append(f"the {loaded.source_format} reader printed {len(unknown)} diagnostic line(s) while "
                               "reading the image; they are in report.json (input.metadata.reader_messages)")
    loaded.metadata["reader_messages"] = " | ".join(messages)[:4000]


# ----------------------------------------------------------------------------------------- bare arrays


def _read_array_file(
    path: Path, source_format: str, spacing_mm: Sequence[float] | None, orientation: str | None
) -> LoadedImage:
    metadata: dict[str, str] = {}
    warnings: list[str] = []
    if source_format == "pickle":
        array_ijk, file_geometry = _read_pickle_payload(path)
    else:
        array, properties_path = _read_numpy_file(path, source_format), _nnunet_properties_path(path)
        array_ijk, file_geometry = array, None
        if properties_path is not None:
            array_ijk, file_geometry, note = _nnunet_image(array, properties_path, path)
            metadata["geometry_file"] = str(properties_path)
            warnings += [note] if note else []
    shape_ijk = _validated_3d_shape(array_ijk.shape, path)
    _check_voxel_dtype(array_ijk.dtype, path)
    image = _image_from_ijk_array(array_ijk.reshape(shape_ijk))
    if file_geometry is not None:
        if spacing_mm is not None or orientation is not None:
            raise _own_geometry_error(path)
        affine_ras = _apply_geometry(image, file_geometry, path)
        return LoadedImage(image, affine_ras, path, source_format, False, warnings, metadata)
    spacing = None if spacing_mm is None else _validated_spacing(spacing_mm)
    axis_code = None if orientation is None else _validated_axis_code(orientation)
    affine_ras = _apply_geometry(image, _bare_array_affine_ras(spacing, axis_code), path)
    warnings.append(_assumed_geometry_warning(spacing, axis_code))
    return LoadedImage(image, affine_ras, path, source_format, True, warnings, metadata)


def _read_numpy_file(path: Path, source_format: str) -> np.ndarray:
    """The array of an .npy, or the image array of an .npz (its only array, or one of ``PICKLE_IMAGE_KEYS``)."""
    try:
        if source_format == "npy":
            return _load_npy_member(path, path)
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            key = names[0] if len(names) == 1 else next((k for k in PICKLE_IMAGE_KEYS if k in names), None)
            if key is None:
                raise InputImageError(f"'{path}' holds {len(names)} arrays ({_describe_keys(names)}) and none is "
                                      f"called {', '.join(PICKLE_IMAGE_KEYS)}; save one 3D array")
            with archive.zip.open(f"{key}.npy") as member:
                return _load_npy_member(member, path)
    except InputImageError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise InputImageError(
                f"'{path}' is not a plain numeric .{source_format} array: it holds pickled Python objects (object "
                "dtype), which are refused because loading them can run code. Save a numeric array with numpy.save."
            ) from None
        raise InputImageError(f"Could not read '{path}' as .{source_format} (corrupt or truncated?): "
                              f"{_first_line(exc)}") from exc
    except (OSError, EOFError, KeyError) as exc:
        raise InputImageError(f"Could not read '{path}' as .{source_format} (corrupt or truncated?): "
                              f"{_first_line(exc)}") from exc


def _load_npy_member(source, path: Path) -> np.ndarray:
    """An .npy stream's array, its header's size checked against memory before the data is read."""
    if isinstance(source, Path):
        if _is_zip(source):
            raise InputImageError(f"'{path}' is an .npz archive, not a single .npy array; rename it to .npz")
        with open(source, "rb") as handle:
            return _load_npy_member(handle, path)
    version = np.lib.format.read_magic(source)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(source)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(source)
    if dtype.hasobject:
        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    _require_memory(shape, path)
    source.seek(0)
    return np.lib.format.read_array(source, allow_pickle=False)


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _nnunet_properties_path(path: Path) -> Path | None:
    """``case.pkl`` beside ``case.npy``/``case.npz`` when it holds nnU-Net's case properties."""
    candidate = path.with_name(path.name[: -len(path.suffix)] + ".pkl")
    if not candidate.is_file():
        return None
    try:
        properties = load_pickle_safely(candidate)
    except InputImageError:
        return None
    if isinstance(properties, dict) and all(key in properties for key in _NNUNET_GEOMETRY_KEYS):
        return candidate
    return None


def _nnunet_image(array: np.ndarray, properties_path: Path, path: Path) -> tuple[np.ndarray, _LpsGeometry, str]:
    """The image [i, j, k] and geometry of an nnU-Net (v1) array (c, z, y, x) or (z, y, x) from its properties.

    The array may be the raw image or nnU-Net's crop to the non-zero region (``crop_bbox``, [z, y, x] voxel
    ranges); a resampled array (preprocessed stages) has no geometry in the properties and is refused.
    """
    properties = load_pickle_safely(properties_path)
    spacing = _float_array(properties["itk_spacing"], ((3,),), "itk_spacing", properties_path)
    origin_lps = _float_array(properties["itk_origin"], ((3,),), "itk_origin", properties_path)
    direction_lps = _float_array(properties["itk_direction"], ((9,), (3, 3)), "itk_direction", properties_path)
    if array.ndim == 4:
        n_images = len(properties.get("list_of_data_files", ())) or array.shape[0]
        if n_images != 1:
            raise InputImageError(f"'{path}' holds {n_images} nnU-Net image channels (modalities); save the one "
                                  "to segment on its own, or give its raw image")
        array = array[0]  # the last channel of a cropped case is nnU-Net's segmentation
    shape_zyx = tuple(int(n) for n in array.shape)
    raw_zyx = tuple(int(n) for n in properties.get("original_size_of_raw_data", shape_zyx))
    offset_ijk, note = np.zeros(3), ""
    if shape_zyx != raw_zyx:
        bbox = np.asarray(properties.get("crop_bbox", np.zeros((3, 2))), dtype=np.int64).reshape(-1, 2)
        if bbox.shape != (3, 2) or tuple(bbox[:, 1] - bbox[:, 0]) != shape_zyx:
            raise InputImageError(
                f"'{path}' (shape {shape_zyx}) is neither the raw image ({raw_zyx}) nor nnU-Net's crop of it: it "
                f"was resampled by nnU-Net's preprocessing, and '{properties_path.name}' does not hold that "
                "geometry. Segment the raw image (nnU-Net's imagesTr/imagesTs) instead"
            )
        offset_ijk = bbox[::-1, 0].astype(float)
        note = (f"geometry from the nnU-Net properties '{properties_path.name}'; the array is nnU-Net's crop to the "
                "non-zero region, so the field of view is smaller than the scan's")
    direction = direction_lps.reshape(3, 3)
    origin = origin_lps + direction @ (spacing * offset_ijk)
    return array.T, _LpsGeometry(tuple(spacing), tuple(origin), tuple(direction.ravel())), note


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
        if all(key in payload for key in _NNUNET_GEOMETRY_KEYS):
            raise InputImageError(f"'{path}' holds nnU-Net case properties, not an image: give the matching "
                                  f"'{path.stem}.npz' or '{path.stem}.npy' (its geometry is read from this file)")
        raise InputImageError(f"'{path}' holds a dict without an image (keys: {_describe_keys(payload)}); "
                              f"expected {expected}")
    array = payload[image_key]
    if not isinstance(array, np.ndarray):
        raise InputImageError(f"'{path}': '{image_key}' is a {type(array).__name__}, not a numpy array")
    return array, _pickle_geometry(payload, path)


def _describe_keys(keys) -> str:
    """Up to 8 keys for a message: short strings quoted, anything else by its type."""
    shown = [repr(key) if isinstance(key, str) and len(key) <= 40 else f"<{type(key).__name__}>"
             for key in list(keys)[:8]]
    return (", ".join(shown) + (", ..." if len(keys) > 8 else "")) or "none"


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
        raise InputImageError(f"'{path}': 'spacing' must be three positive voxel sizes in mm, got "
                              f"{', '.join(f'{v:g}' for v in spacing_mm)}")
    origin_lps_mm = _float_array(payload.get("origin", np.zeros(3)), ((3,),), "origin", path)
    direction_lps = _float_array(payload.get("direction", np.eye(3)), ((9,), (3, 3)), "direction", path)
    return _LpsGeometry(tuple(spacing_mm), tuple(origin_lps_mm), tuple(direction_lps.ravel()))


def _float_array(value: object, shapes: tuple[tuple[int, ...], ...], key: str, path: Path) -> np.ndarray:
    """``value`` as a finite float array of one of ``shapes``; the message describes the value, never prints it."""
    wanted = " or ".join("x".join(map(str, shape)) for shape in shapes)
    if isinstance(value, (list, tuple)) and len(value) > 16:
        array = None  # far too long; np.asarray of a shared-reference bomb would expand it
    else:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError, RecursionError):
            array = None
    if array is None or array.shape not in shapes:
        got = (f"an array of shape {'x'.join(map(str, array.shape))}" if array is not None
               else f"a {type(value).__name__}" + (f" of {len(value)} items" if isinstance(value, (list, tuple))
                                                    else ""))
        raise InputImageError(f"'{path}': '{key}' must be {wanted} numbers, got {got}")
    if not np.all(np.isfinite(array)):
        raise InputImageError(f"'{path}': '{key}' holds values that are not finite numbers (NaN or infinity); "
                              "fix the geometry saved with the image")
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


def _require_memory(shape: Sequence[int], path: Path) -> None:
    """The claimed number of voxels must fit in this computer's memory (checked before reading them)."""
    n_voxels = math.prod(int(n) for n in shape)
    needed = n_voxels * _BYTES_PER_VOXEL_LOADED
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: let the reader try
        return
    if needed > available:
        raise InputImageError(
            f"'{path}' claims {'x'.join(str(int(n)) for n in shape)} voxels ({n_voxels:.3g}), which would need about "
            f"{needed / 2**30:,.0f} GiB, more than this computer's {available / 2**30:.0f} GiB of memory: the header "
            "is probably corrupt. If the image is real, crop or downsample it first"
        )


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


def _refuse_mask_like(image: sitk.Image, path: Path) -> None:
    """An MRI has many distinct intensities; at most ``MASK_LIKE_MAX_DISTINCT_VALUES`` means a mask or label map."""
    values = sitk.GetArrayViewFromImage(image).ravel()
    if np.unique(values[:: max(1, values.size // 100_000)]).size > MASK_LIKE_MAX_DISTINCT_VALUES:
        return
    distinct = np.unique(values)
    if distinct.size > MASK_LIKE_MAX_DISTINCT_VALUES:
        return
    if distinct.size == 1:
        raise InputImageError(f"every voxel of '{path}' is {distinct[0]:g}: the image is empty; give the MRI")
    shown = ", ".join(f"{v:g}" for v in distinct[:6]) + (", ..." if distinct.size > 6 else "")
    raise InputImageError(
        f"'{path}' holds only {distinct.size} distinct values ({shown}): it looks like a mask or label map, not an "
        "MRI. Give the MRI itself (an air mask for the noise belongs in --noise-roi)"
    )


def _checked_affine(affine_ras: np.ndarray, path: Path) -> np.ndarray:
    """``affine_ras`` if it is a usable voxel-to-world map: finite, every axis of non-zero length, axes independent
    and perpendicular (within ``SHEAR_TOLERANCE``)."""
    affine_ras = np.asarray(affine_ras, dtype=np.float64)
    fix = "the header's geometry is broken: re-export or re-convert the image (e.g. dcm2niix from the DICOM)"
    if not np.all(np.isfinite(affine_ras)):
        raise InputImageError(f"'{path}' has a voxel-to-world matrix (affine) with values that are not finite "
                              f"numbers (NaN or infinity); {fix}")
    axes = affine_ras[:3, :3]
    lengths_mm = np.linalg.norm(axes, axis=0)
    for axis, length in zip("ijk", lengths_mm):
        if length < 1e-6:
            raise InputImageError(f"'{path}' has a voxel-to-world matrix in which axis {axis} has length 0 (a voxel "
                                  f"size or direction of 0); {fix}")
    unit = axes / lengths_mm
    if abs(np.linalg.det(unit)) < 1e-6:
        raise InputImageError(f"'{path}' has a singular voxel-to-world matrix (two voxel axes point the same way or "
                              f"all three lie in one plane); {fix}")
    cosines = unit.T @ unit
    for a, b in ((0, 1), (0, 2), (1, 2)):
        if abs(cosines[a, b]) > SHEAR_TOLERANCE:
            angle = math.degrees(math.acos(float(np.clip(cosines[a, b], -1.0, 1.0))))
            raise InputImageError(
                f"'{path}' has sheared voxel axes: axes {'ijk'[a]} and {'ijk'[b]} meet at {angle:.1f}°, not 90°, "
                "and volumes on such a grid cannot be measured as voxel counts. Resample it onto a grid with "
                "perpendicular axes (e.g. Slicer's Resample Scalar Volume), or re-convert it from the DICOM with "
                "dcm2niix, which corrects gantry tilt"
            )
    return affine_ras


# ---------------------------------------------------------------------------------------- grid helpers


def _image_from_ijk_array(array_ijk: np.ndarray) -> sitk.Image:
    """float32 SimpleITK image from a 3D array indexed [i, j, k] (SimpleITK arrays are [k, j, i]).

    Values beyond the float32 range become infinite here and are reported by :func:`_check_voxels`.
    """
    with np.errstate(over="ignore"):
        array_kji = np.ascontiguousarray(array_ijk.T, dtype=np.float32)
    return sitk.GetImageFromArray(array_kji)


def _apply_geometry(image: sitk.Image, geometry: _ArrayGeometry, path: Path) -> np.ndarray:
    """Set ``image``'s grid from a RAS affine or an ITK LPS geometry, once checked; returns the voxel -> RAS affine."""
    affine_ras = _checked_affine(geometry.affine_ras() if isinstance(geometry, _LpsGeometry) else geometry, path)
    if isinstance(geometry, _LpsGeometry):
        image.SetSpacing(geometry.spacing_mm)
        image.SetOrigin(geometry.origin_lps_mm)
        image.SetDirection(geometry.direction_lps)
        return ijk_to_ras_affine(image)
    set_geometry_from_ras_affine(image, affine_ras)
    return affine_ras


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
