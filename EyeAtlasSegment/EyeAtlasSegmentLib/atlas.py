"""Reading the MR-Eye atlas from the folder layout of its public release, and mirroring it for left eyes.

Accepted layouts (``ATLAS_DIR`` as given by the user)::

    ATLAS_DIR/{male,female,combined}/0_template.nii.gz + 1_max_prob_map.nii.gz (or .npy)
    ATLAS_DIR/eye_atlas/{male,female,combined}/...

The ``.npy`` label map has no geometry of its own: it takes the template's, and must have its shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import AtlasError
from .geometry import direction_matrix, same_grid
from .structures import N_LABELS

SEXES = ("combined", "female", "male")
#: DICOM Patient's Sex (0010,0040) → atlas template; "O" (other) and unknown values use no guess.
_SEX_FROM_DICOM = {"M": "male", "F": "female"}
TEMPLATE_NAME = "0_template.nii.gz"
LABELS_NIFTI_NAME = "1_max_prob_map.nii.gz"
LABELS_NPY_NAME = "1_max_prob_map.npy"
SYNTHETIC_MARKER = "SYNTHETIC_README.txt"


@dataclass
class Atlas:
    """A right-eye (or mirrored left-eye) template with its label map on the same grid (LPS geometry)."""

    template: sitk.Image  # float32
    labels: sitk.Image  # uint8, 0-9
    sex: str
    folder: Path
    labels_file: Path
    synthetic: bool
    side: str = "right"


def atlas_sex_from_dicom(patient_sex: str | None) -> str | None:
    """The atlas template for a DICOM Patient's Sex value ("M" → male, "F" → female), else None (ask the user)."""
    return _SEX_FROM_DICOM.get((patient_sex or "").strip().upper())


def resolve_atlas_folder(atlas_dir: str | Path, sex: str) -> Path:
    """The folder holding one sex's template and labels, accepting the release's ``eye_atlas`` parent."""
    if sex not in SEXES:
        raise AtlasError(f"atlas sex must be one of {', '.join(SEXES)}, not {sex!r}")
    root = Path(atlas_dir).expanduser()
    if not root.is_dir():
        raise AtlasError(f"atlas folder {root} does not exist")
    for candidate in (root / sex, root / "eye_atlas" / sex):
        if (candidate / TEMPLATE_NAME).is_file():
            return candidate
    raise AtlasError(
        f"no {sex}/{TEMPLATE_NAME} under {root} (nor under {root / 'eye_atlas'}); point --atlas at the MR-Eye "
        f"folder that contains the male/, female/ and combined/ sub-folders")


def load_atlas(atlas_dir: str | Path, sex: str = "combined") -> Atlas:
    """Load one sex's template and maximum-probability label map (NIfTI preferred, ``.npy`` accepted)."""
    folder = resolve_atlas_folder(atlas_dir, sex)
    template = _read(folder / TEMPLATE_NAME)
    if template.GetDimension() != 3 or template.GetNumberOfComponentsPerPixel() != 1:
        raise AtlasError(f"{folder / TEMPLATE_NAME} is not a 3D scalar image")
    template = sitk.Cast(template, sitk.sitkFloat32)
    if (folder / LABELS_NIFTI_NAME).is_file():
        labels_file = folder / LABELS_NIFTI_NAME
        labels_float = _read(labels_file)
        _check_same_grid(template, labels_float, labels_file)
        label_values = sitk.GetArrayFromImage(labels_float)
    elif (folder / LABELS_NPY_NAME).is_file():
        labels_file = folder / LABELS_NPY_NAME
        label_values = _read_npy_labels(labels_file, template)
    else:
        raise AtlasError(f"{folder} has no {LABELS_NIFTI_NAME} or {LABELS_NPY_NAME}")
    labels = sitk.GetImageFromArray(_as_label_array(label_values, labels_file))
    labels.CopyInformation(template)
    synthetic = any((p / SYNTHETIC_MARKER).is_file() for p in (folder, folder.parent))
    return Atlas(template, labels, sex, folder, labels_file, synthetic)


def mirror_atlas(atlas: Atlas) -> Atlas:
    """Left–right mirrored copy of a right-eye atlas (a left-eye atlas), on the same grid.

    The voxel axis closest to the left–right direction is reversed, so anatomy is reflected about the
    template's mid-sagittal plane; the grid itself is unchanged.
    """
    lr_axis = _left_right_axis(atlas.template)
    side = "left" if atlas.side == "right" else "right"
    return Atlas(_flip_in_place(atlas.template, lr_axis), _flip_in_place(atlas.labels, lr_axis), atlas.sex,
                 atlas.folder, atlas.labels_file, atlas.synthetic, side)


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
        raise AtlasError(f"cannot read atlas file {path}: {str(exc).strip().splitlines()[-1]}") from exc


def _read_npy_labels(path: Path, template: sitk.Image) -> np.ndarray:
    """Labels from a geometry-less ``.npy`` indexed [i, j, k] like the template NIfTI; returned as [k, j, i]."""
    try:
        array_ijk = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise AtlasError(f"cannot read {path}: {exc}") from exc
    if array_ijk.shape != tuple(template.GetSize()):
        raise AtlasError(f"{path} has shape {array_ijk.shape} but the template has {template.GetSize()}; "
                         f"the .npy label map takes the template's geometry, so the shapes must match")
    return np.transpose(array_ijk, (2, 1, 0))


def _check_same_grid(template: sitk.Image, labels: sitk.Image, labels_file: Path) -> None:
    if not same_grid(template, labels):
        raise AtlasError(f"{labels_file} is not on the template's voxel grid (size/spacing/origin/direction differ)")


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
