"""The file tree of the published MR-Eye release (Zenodo, concept DOI 10.5281/zenodo.13325369), in one place.

As the release README lists it (version 3 onwards; version 2 lacks the two ``3_manual_seg`` files)::

    eye_atlas/                      (the release notes call it C_eye_atlas/; both are accepted)
        combined/ female/ male/     0_template.nii.gz          T1w template of the right eye
                                    1_max_prob_map.nii.gz|.npy maximum-probability labels 0-9 (stored as float64)
                                    2_prob_map.nii.gz|.npy     RGB uint8 picture (x, y, z, 3), HSV-blended label
                                                               colours weighted by probability: NOT labels
        combined/                   3_manual_seg.nii.gz, 3_manual_seg.itksnap
        mni152/  colin27/           0_<tpl>.nii.gz + 0_<tpl>_labels.nii.gz                (whole head)
                                    1_<tpl>_cropped.nii.gz + 1_<tpl>_cropped_labels.nii.gz (eye region)
        sub_metadata.csv            SubjectID, Sex, Age, Height, Weight, BMI
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Name of the release's root folder: ``eye_atlas`` in its README, ``C_eye_atlas`` in its release notes.
RELEASE_ROOT_NAMES = ("eye_atlas", "C_eye_atlas")
SEXES = ("combined", "female", "male")
TEMPLATE_NAME = "0_template.nii.gz"
LABELS_NIFTI_NAME = "1_max_prob_map.nii.gz"
LABELS_NPY_NAME = "1_max_prob_map.npy"
PROB_PICTURE_NAMES = ("2_prob_map.nii.gz", "2_prob_map.npy")
MANUAL_SEG_NAME = "3_manual_seg.nii.gz"  # combined/ only
ITKSNAP_NAME = "3_manual_seg.itksnap"  # combined/ only
METADATA_NAME = "sub_metadata.csv"
#: Standard-space folder → TemplateFlow template name of its whole-head T1w image.
STANDARD_SPACES = {"mni152": "tpl-MNI152NLin2009cAsym_res-01_T1w", "colin27": "tpl-MNIColin27_T1w"}
#: Written by the synthetic generator only; its presence marks an atlas as SYNTHETIC.
SYNTHETIC_MARKER = "SYNTHETIC_README.txt"


def standard_space_files(space: str, cropped: bool = False) -> tuple[str, str]:
    """(image, labels) file names of a standard space's whole-head (or eye-cropped) template."""
    stem = STANDARD_SPACES[space]
    base = f"1_{stem}_cropped" if cropped else f"0_{stem}"
    return f"{base}.nii.gz", f"{base}_labels.nii.gz"


def release_files() -> tuple[str, ...]:
    """Every file of the release, as paths relative to its root folder."""
    files = [f"{sex}/{name}" for sex in SEXES
             for name in (TEMPLATE_NAME, LABELS_NIFTI_NAME, LABELS_NPY_NAME, *PROB_PICTURE_NAMES)]
    files += [f"combined/{MANUAL_SEG_NAME}", f"combined/{ITKSNAP_NAME}", METADATA_NAME]
    files += [f"{space}/{name}" for space in STANDARD_SPACES for cropped in (False, True)
              for name in standard_space_files(space, cropped)]
    return tuple(files)


def find_release_root(folder: str | Path) -> Path | None:
    """The folder holding the sex folders: ``folder`` itself or its ``eye_atlas``/``C_eye_atlas`` child."""
    folder = Path(folder).expanduser()
    for candidate in (folder, *(folder / name for name in RELEASE_ROOT_NAMES)):
        if any((candidate / sex / TEMPLATE_NAME).is_file() for sex in SEXES):
            return candidate
    return None


@dataclass(frozen=True)
class ReleaseInventory:
    """Which release files a root folder holds."""

    root: Path
    present: tuple[str, ...]
    missing: tuple[str, ...]

    def missing_for_segmentation(self) -> tuple[str, ...]:
        """Sex folders that lack a template or a label map (the files a run needs)."""
        have = set(self.present)
        missing = []
        for sex in SEXES:
            if f"{sex}/{TEMPLATE_NAME}" not in have:
                missing.append(f"{sex}/{TEMPLATE_NAME}")
            if not {f"{sex}/{LABELS_NIFTI_NAME}", f"{sex}/{LABELS_NPY_NAME}"} & have:
                missing.append(f"{sex}/{LABELS_NIFTI_NAME}")
        return tuple(missing)


def release_inventory(root: str | Path) -> ReleaseInventory:
    """The release files present in and missing from ``root`` (the folder holding the sex folders)."""
    root = Path(root)
    files = release_files()
    present = tuple(f for f in files if (root / f).is_file())
    return ReleaseInventory(root, present, tuple(f for f in files if f not in present))
