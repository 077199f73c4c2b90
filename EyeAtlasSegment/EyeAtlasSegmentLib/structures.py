"""The nine MR-Eye atlas structures: label values, names and display colours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Structure:
    """One atlas structure. ``label`` is the MR-Eye atlas value (1-9)."""

    label: int
    key: str  # snake_case name used in files (matches mr_eye_normative.csv)
    name: str  # human-readable name
    colour_rgb: tuple[int, int, int]


STRUCTURES: tuple[Structure, ...] = (
    Structure(1, "lens", "lens", (255, 232, 120)),
    Structure(2, "globe", "globe", (90, 160, 255)),
    Structure(3, "optic_nerve", "optic nerve", (255, 215, 0)),
    Structure(4, "intraconal_fat", "intraconal fat", (240, 180, 120)),
    Structure(5, "extraconal_fat", "extraconal fat", (200, 140, 60)),
    Structure(6, "lateral_rectus", "lateral rectus", (220, 60, 60)),
    Structure(7, "medial_rectus", "medial rectus", (60, 190, 90)),
    Structure(8, "inferior_rectus", "inferior rectus", (180, 80, 220)),
    Structure(9, "superior_rectus", "superior rectus", (40, 200, 210)),
)

@dataclass(frozen=True)
class Code:
    """A coded concept (DICOM style): coding scheme designator, code value, code meaning."""

    scheme: str
    value: str
    meaning: str


ANATOMICAL_STRUCTURE = Code("SCT", "123037004", "Anatomical Structure")
TISSUE = Code("SCT", "85756007", "Tissue")
ORBITAL_STRUCTURE = Code("SCT", "363654007", "Orbital structure")
LATERALITY = {"right": Code("SCT", "24028007", "Right"), "left": Code("SCT", "7771000", "Left")}


@dataclass(frozen=True)
class StructureTerminology:
    """Standard codes of one structure (DICOM SEG / Slicer terminology).

    Paired organs (lens, eyeball, optic nerve) carry the laterality as a type modifier; orbital fat and the
    recti are typed as tissue (body fat, muscle) in the anatomic region "orbital structure" with the laterality
    as region modifier, since the DICOM and Slicer lists have no codes for the individual recti or fat
    compartments (their names tell them apart).
    """

    category: Code
    type: Code
    in_orbit_region: bool


_LENS = StructureTerminology(ANATOMICAL_STRUCTURE, Code("SCT", "78076003", "Lens structure"), False)
_EYEBALL = StructureTerminology(ANATOMICAL_STRUCTURE, Code("SCT", "79652003", "Eyeball"), False)
_OPTIC_NERVE = StructureTerminology(ANATOMICAL_STRUCTURE, Code("SCT", "18234004", "Optic nerve structure"), False)
_ORBITAL_FAT = StructureTerminology(TISSUE, Code("SCT", "248300009", "Body fat"), True)
_ORBITAL_MUSCLE = StructureTerminology(TISSUE, Code("SCT", "71616004", "Muscle"), True)
#: Atlas label → terminology.
TERMINOLOGY: dict[int, StructureTerminology] = {
    1: _LENS, 2: _EYEBALL, 3: _OPTIC_NERVE, 4: _ORBITAL_FAT, 5: _ORBITAL_FAT,
    6: _ORBITAL_MUSCLE, 7: _ORBITAL_MUSCLE, 8: _ORBITAL_MUSCLE, 9: _ORBITAL_MUSCLE,
}

STRUCTURE_BY_LABEL: dict[int, Structure] = {s.label: s for s in STRUCTURES}
N_LABELS = len(STRUCTURES)

EYES = ("right", "left")
#: Output label = atlas label + offset; right eye 1-9, left eye 11-19.
EYE_LABEL_OFFSET = {"right": 0, "left": 10}


def segment_name(eye: str, atlas_label: int) -> str:
    """Display name of one eye's structure, e.g. "Right optic nerve"."""
    return f"{eye.capitalize()} {STRUCTURE_BY_LABEL[atlas_label].name}"


def output_label(eye: str, atlas_label: int) -> int:
    """Label value written to ``labels.nii.gz`` for one eye's structure."""
    return EYE_LABEL_OFFSET[eye] + atlas_label
