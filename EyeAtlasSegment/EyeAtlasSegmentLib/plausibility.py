"""Plausibility of measured volumes against population norms (never a substitute for measuring).

Normative 2.5th–97.5th percentiles (mm³) of the MR-Eye structures, from nnU-Net segmentations of 1,157
healthy adults (T1w 1.5 T, 1 mm; A-eye project), right and left eyes, both sexes pooled. A structure far
outside this range usually means a failed registration, a wrong eye, a wrong atlas sex or a clipped field of
view.
"""

from __future__ import annotations

from typing import Iterable

from .statistics import StructureStats

#: (eye, structure) → (p2.5, p97.5) in mm³, sexes pooled.
NORMATIVE_RANGE_MM3 = {
    ("right", "lens"): (27.0, 163.0), ("right", "globe"): (3309.3, 6034.1),
    ("right", "optic_nerve"): (294.9, 749.1), ("right", "intraconal_fat"): (1519.2, 4173.6),
    ("right", "extraconal_fat"): (1816.9, 5694.9), ("right", "lateral_rectus"): (347.0, 710.6),
    ("right", "medial_rectus"): (452.0, 883.0), ("right", "inferior_rectus"): (429.9, 854.0),
    ("right", "superior_rectus"): (430.8, 1255.0),
    ("left", "lens"): (10.0, 163.0), ("left", "globe"): (3204.0, 5982.4),
    ("left", "optic_nerve"): (287.0, 724.2), ("left", "intraconal_fat"): (1497.8, 4048.0),
    ("left", "extraconal_fat"): (1831.5, 5498.4), ("left", "lateral_rectus"): (337.8, 699.1),
    ("left", "medial_rectus"): (438.6, 846.0), ("left", "inferior_rectus"): (414.9, 836.0),
    ("left", "superior_rectus"): (398.0, 1175.1),
}
#: A volume is flagged when it is outside the normative range widened by this factor on each side.
TOLERANCE = 1.5


def volume_warnings(stats: Iterable[StructureStats], sex: str) -> list[str]:
    """Warnings for structures whose volume is far outside the population range."""
    warnings = []
    for row in stats:
        low, high = NORMATIVE_RANGE_MM3[(row.eye, row.structure)]
        if row.volume_mm3 < low / TOLERANCE or row.volume_mm3 > high * TOLERANCE:
            warnings.append(
                f"{row.eye} {row.structure.replace('_', ' ')}: volume {row.volume_mm3:.0f} mm³ is far outside the "
                f"population range {low:.0f}–{high:.0f} mm³ (2.5–97.5 %); check the registration (qc.png), the eye "
                f"side, the atlas sex ({sex}) and whether the field of view clips the orbit")
    return warnings
