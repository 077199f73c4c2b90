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

STRUCTURE_BY_LABEL: dict[int, Structure] = {s.label: s for s in STRUCTURES}
N_LABELS = len(STRUCTURES)

EYES = ("right", "left")
#: Output label = atlas label + offset; right eye 1-9, left eye 11-19.
EYE_LABEL_OFFSET = {"right": 0, "left": 10}


def output_label(eye: str, atlas_label: int) -> int:
    """Label value written to ``labels.nii.gz`` for one eye's structure."""
    return EYE_LABEL_OFFSET[eye] + atlas_label
