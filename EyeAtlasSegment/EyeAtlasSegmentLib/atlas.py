"""Reading the MR-Eye atlas exactly as its public release lays it out, and mirroring it for left eyes.

``ATLAS_DIR`` as given by the user may be the release root (``eye_atlas/`` or ``C_eye_atlas/``, which holds
``male/ female/ combined/``) or its parent; see ``release_layout`` for the whole tree. Per sex, the template
``0_template.nii.gz`` and the maximum-probability labels ``1_max_prob_map.nii.gz`` (or ``.npy``) are read. The
labels are stored as floats (float64 in the release): they are rounded and cast to 0-9, and their on-disk dtype
and affine are kept in the ``Atlas`` for the report. The ``.npy`` label map has no geometry of its own: it takes
the template's, and must have its shape. ``2_prob_map`` is an RGB picture, never read as labels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import AtlasError, library_reason
from .geometry import direction_matrix, ijk_to_ras_affine, same_grid
from .release_layout import (
    LABELS_NIFTI_NAME,
    LABELS_NPY_NAME,
    PROB_PICTURE_NAMES,
    RELEASE_ROOT_NAMES,
    SEXES,
    STANDARD_SPACES,
    SYNTHETIC_MARKER,
    TEMPLATE_NAME,
    find_release_root,
    standard_space_files,
)
from .structures import N_LABELS

#: DICOM Patient's Sex (0010,0040) → atlas template; "O" (other) and unknown values use no guess.
_SEX_FROM_DICOM = {"M": "male", "F": "female"}


@dataclass
class Atlas:
    """A right-eye (or mirrored left-eye) template with its label map on the same grid (LPS geometry).

    ``labels_dtype`` and ``labels_affine_ras`` describe the label file as stored (the release does not document
    them); the labels themselves are already rounded and cast.
    """

    template: sitk.Image  # float32
    labels: sitk.Image  # uint8, 0-9
    sex: str
    folder: Path
    labels_file: Path
    synthetic: bool
    side: str = "right"
    labels_dtype: str = ""
    labels_affine_ras: tuple[tuple[float, ...], ...] = ()


def atlas_sex_from_dicom(patient_sex: str | None) -> str | None:
    """The atlas template for a DICOM Patient's Sex value ("M" → male, "F" → female), else None (ask the user)."""
    return _SEX_FROM_DICOM.get((patient_sex or "").strip().upper())


def resolve_release_root(atlas_dir: str | Path) -> Path:
    """The release root (the folder holding ``male/ female/ combined/``), given it or its parent."""
    given = Path(atlas_dir).expanduser()
    if given.is_file():
        raise AtlasError(f"--atlas must be a folder, but {given} is a file: give the MR-Eye release folder (with "
                         f"male/, female/ and combined/) or its parent")
    if not given.is_dir():
        raise AtlasError(f"atlas folder {given} does not exist")
    root = find_release_root(given)
    if root is None:
        raise AtlasError(f"no MR-Eye atlas in {given}: point --atlas at the release folder "
                         f"({' or '.join(RELEASE_ROOT_NAMES)}, with male/, female/ and combined/) or at its parent")
    return root


def resolve_atlas_folder(atlas_dir: str | Path, sex: str) -> Path:
    """The folder holding one sex's template and labels."""
    if sex not in SEXES:
        raise AtlasError(f"atlas sex must be one of {', '.join(SEXES)}, not {sex!r}")
    folder = resolve_release_root(atlas_dir) / sex
    if not (folder / TEMPLATE_NAME).is_file():
        raise AtlasError(f"the atlas in {folder.parent} has no {sex}/{TEMPLATE_NAME}; choose another sex or "
                         f"re-download the release (eye-atlas-segment fetch-atlas)")
    return folder


def load_atlas(atlas_dir: str | Path, sex: str = "combined") -> Atlas:
    """Load one sex's template and maximum-probability label map (NIfTI preferred, ``.npy`` accepted)."""
    folder = resolve_atlas_folder(atlas_dir, sex)
    template = _read_template(folder / TEMPLATE_NAME)
    if (folder / LABELS_NIFTI_NAME).is_file():
        labels_file = folder / LABELS_NIFTI_NAME
        labels, dtype = _read_nifti_labels(labels_file, template)
    elif (folder / LABELS_NPY_NAME).is_file():
        labels_file = folder / LABELS_NPY_NAME
        labels, dtype = _read_npy_labels(labels_file, template)
    else:
        pictures = [name for name in PROB_PICTURE_NAMES if (folder / name).is_file()]
        hint = f" ({pictures[0]} is an RGB picture of the probabilities, not labels)" if pictures else ""
        raise AtlasError(f"{folder} has no {LABELS_NIFTI_NAME} or {LABELS_NPY_NAME}{hint}")
    affine = tuple(tuple(float(v) for v in row) for row in ijk_to_ras_affine(labels))
    return Atlas(template, labels, sex, folder, labels_file, _is_synthetic(folder), labels_dtype=dtype,
                 labels_affine_ras=affine)


@dataclass
class StandardSpaceTemplate:
    """A standard-space T1w template of the release (whole head or eye crop) with its eye labels (0-9)."""

    space: str  # "mni152" or "colin27"
    image: sitk.Image  # float32
    labels: sitk.Image  # uint8
    image_file: Path
    labels_file: Path
    labels_dtype: str
    synthetic: bool


def load_standard_space(atlas_dir: str | Path, space: str = "mni152", cropped: bool = False) -> StandardSpaceTemplate:
    """The release's ``mni152/`` or ``colin27/`` template and labels, whole head unless ``cropped``."""
    if space not in STANDARD_SPACES:
        raise AtlasError(f"standard space must be one of {', '.join(STANDARD_SPACES)}, not {space!r}")
    folder = resolve_release_root(atlas_dir) / space
    image_name, labels_name = standard_space_files(space, cropped)
    for name in (image_name, labels_name):
        if not (folder / name).is_file():
            raise AtlasError(f"the atlas has no {space}/{name} (standard spaces are in release version 2 and later); "
                             f"re-download it with eye-atlas-segment fetch-atlas")
    image = _read_template(folder / image_name)
    labels, dtype = _read_nifti_labels(folder / labels_name, image)
    return StandardSpaceTemplate(space, image, labels, folder / image_name, folder / labels_name, dtype,
                                 _is_synthetic(folder))


def _is_synthetic(folder: Path) -> bool:
    return any((p / SYNTHETIC_MARKER).is_file() for p in (folder, folder.parent))


def mirror_atlas(atlas: Atlas) -> Atlas:
    """Left–right mirrored copy of a right-eye atlas (a left-eye atlas), on the same grid.

    The voxel axis closest to the left–right direction is reversed, so anatomy is reflected about the
    template's mid-sagittal plane; the grid itself is unchanged.
    """
    lr_axis = _left_right_axis(atlas.template)
    side = "left" if atlas.side == "right" else "right"
    return dataclasses.replace(atlas, template=_flip_in_place(atlas.template, lr_axis),
                               labels=_flip_in_place(atlas.labels, lr_axis), side=side)


def _flip_in_place(image: sitk.Image, axis: int) -> sitk.Image:
    """Reverse voxel order along ``axis`` keeping the grid (``sitk.Flip`` alone keeps the physical content)."""
    array_kji = sitk.GetArrayFromImage(image)
    flipped = sitk.GetImageFromArray(np.ascontiguousarray(np.flip(array_kji, axis=2 - axis)))
    flipped.CopyInformation(image)
    return flipped


def _left_right_axis(image: sitk.Image) -> int:
    """Index of the voxel axis aligned with L-R; error if the grid is oblique to it."""
    lr_component = np.abs(direction_matrix(image)[0])
    axis = int(np.argmax(lr_component))
    if lr_component[axis] < 0.99:
        raise AtlasError("the atlas grid is oblique to the left-right axis; it cannot be mirrored voxel-wise")
    return axis


def _read(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise AtlasError(f"cannot read atlas file {path}: {library_reason(exc)}") from exc


def _read_template(path: Path) -> sitk.Image:
    """The template as float32, refused when it is not a 3D scalar image or holds NaN or infinite voxels."""
    if path.name.endswith((".nii", ".nii.gz")):
        template, stored_values = _read_nifti_once(path)
    else:
        template = _read(path)
        stored_values = None
    if template.GetDimension() != 3 or template.GetNumberOfComponentsPerPixel() != 1:
        raise AtlasError(f"{path} is not a 3D scalar image")
    template = sitk.Cast(template, sitk.sitkFloat32)
    values = sitk.GetArrayViewFromImage(template) if stored_values is None else stored_values
    n_bad = int(np.count_nonzero(~np.isfinite(values)))
    if n_bad:
        raise AtlasError(f"the atlas template {path} has {n_bad} voxels ({n_bad / template.GetNumberOfPixels():.0%}) "
                         f"that are not finite numbers (NaN or infinity): the file is damaged; download the atlas "
                         f"again (eye-atlas-segment fetch-atlas)")
    return template


def _read_nifti_once(path: Path) -> tuple[sitk.Image, np.ndarray]:
    """A NIfTI template read once: its voxels as stored (nibabel; ITK's reader turns NaN into 0, which would hide a
    damaged file) on the grid ITK reads from the header. Also the stored values, for the finiteness check."""
    from .image_io import _nibabel

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise AtlasError(f"cannot read atlas file {path}: {library_reason(exc)}") from exc
    if reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1:
        raise AtlasError(f"{path} is not a 3D scalar image")
    try:
        values_ijk = np.asanyarray(_nibabel().load(str(path)).dataobj)
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for corrupt files
        raise AtlasError(f"cannot read atlas file {path}: it is damaged or truncated ({type(exc).__name__}); download "
                         f"the atlas again (eye-atlas-segment fetch-atlas)") from exc
    values_kji = np.ascontiguousarray(np.transpose(values_ijk.reshape(reader.GetSize()), (2, 1, 0)))
    image = sitk.GetImageFromArray(values_kji.astype(np.float32))
    image.SetOrigin(reader.GetOrigin())
    image.SetSpacing(reader.GetSpacing())
    image.SetDirection(reader.GetDirection())
    return image, values_kji


def _read_nifti_labels(path: Path, template: sitk.Image) -> tuple[sitk.Image, str]:
    """Labels on the template's grid, rounded and cast to uint8, and the dtype they were stored as."""
    stored = _read(path)
    values_kji = sitk.GetArrayViewFromImage(stored)
    components = stored.GetNumberOfComponentsPerPixel()
    _refuse_picture(path, (*stored.GetSize(), *((components,) if components > 1 else ())), values_kji.dtype)
    if stored.GetDimension() != 3 or components != 1:
        raise AtlasError(f"{path} is not a 3D label map (size {stored.GetSize()}, {components} components)")
    if not same_grid(template, stored):
        raise AtlasError(f"{path} is not on the template's voxel grid (size/spacing/origin/direction differ)")
    labels = sitk.GetImageFromArray(_as_label_array(values_kji, path))
    labels.CopyInformation(template)
    return labels, values_kji.dtype.name


def _read_npy_labels(path: Path, template: sitk.Image) -> tuple[sitk.Image, str]:
    """Labels from a geometry-less ``.npy`` indexed [i, j, k] like the template NIfTI, on the template's grid."""
    try:
        array_ijk = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise AtlasError(f"cannot read {path}: {exc}") from exc
    _refuse_picture(path, array_ijk.shape, array_ijk.dtype)
    if array_ijk.shape != tuple(template.GetSize()):
        raise AtlasError(f"{path} has shape {array_ijk.shape} but the template has {template.GetSize()}; "
                         f"the .npy label map takes the template's geometry, so the shapes must match")
    labels = sitk.GetImageFromArray(_as_label_array(np.transpose(array_ijk, (2, 1, 0)), path))
    labels.CopyInformation(template)
    return labels, array_ijk.dtype.name


def _refuse_picture(path: Path, shape_ijkc: tuple[int, ...], dtype: np.dtype) -> None:
    """The release's ``2_prob_map`` (RGB uint8, shape x, y, z, 3) must never be read as labels."""
    if len(shape_ijkc) == 4 and shape_ijkc[3] == 3:
        raise AtlasError(f"{path} is an RGB picture (shape {tuple(shape_ijkc)}, {np.dtype(dtype).name}), like the "
                         f"release's 2_prob_map, not a label map; use {LABELS_NIFTI_NAME}")


def _as_label_array(values: np.ndarray, source: Path) -> np.ndarray:
    """Integer labels 0-9 from a float map; non-integer or out-of-range values are an error."""
    values = np.asarray(values)
    if not np.all(np.isfinite(values)):
        raise AtlasError(f"{source} contains non-finite values")
    rounded = np.rint(values)
    if np.max(np.abs(values - rounded)) > 1e-3:
        raise AtlasError(f"{source} holds non-integer values; expected a maximum-probability map of labels 0-9")
    if rounded.min() < 0 or rounded.max() > N_LABELS:
        raise AtlasError(f"{source} has labels outside 0-{N_LABELS} (found {rounded.min():g} to {rounded.max():g})")
    return rounded.astype(np.uint8)
