"""Tissue classes of the evaluation family and their relative noiseless intensities in T1, T2 and PD.

Values are relative (fat = 1 in T1 and PD, vitreous = 1 in T2). ``HEAD`` is not a tissue: it marks points where
the orbit model leaves the head model's tissue in place.
"""

from __future__ import annotations

import numpy as np

(HEAD, AIR, BONE, SKIN, SCALP_FAT, SOFT, FAT, MUSCLE, NERVE, VITREOUS, AQUEOUS, SCLERA, LENS, UVEA, GLAND, GM, WM,
 CSF, MUCOSA) = range(19)
N_TISSUES = 19
#: Orbital tissues that carry the smooth random texture.
TEXTURED = (FAT, MUSCLE)

_TABLE = {  # tissue: (T1, T2, PD)
    AIR: (0.0, 0.0, 0.0), BONE: (0.06, 0.04, 0.08), SKIN: (0.55, 0.40, 0.80), SCALP_FAT: (0.95, 0.72, 0.95),
    SOFT: (0.48, 0.30, 0.70), FAT: (1.0, 0.68, 1.0), MUSCLE: (0.42, 0.20, 0.70), NERVE: (0.62, 0.42, 0.78),
    VITREOUS: (0.14, 1.0, 0.80), AQUEOUS: (0.13, 0.98, 0.80), SCLERA: (0.09, 0.10, 0.35), LENS: (0.52, 0.22, 0.60),
    UVEA: (0.35, 0.25, 0.65), GLAND: (0.58, 0.50, 0.82), GM: (0.52, 0.58, 0.86), WM: (0.74, 0.42, 0.74),
    CSF: (0.12, 1.0, 0.92), MUCOSA: (0.40, 0.75, 0.85),
}
CONTRASTS = ("T1", "T2", "PD")


def relative_intensities(contrast: str) -> np.ndarray:
    """Lookup table tissue class → relative noiseless intensity for ``contrast`` ("T1", "T2" or "PD")."""
    if contrast not in CONTRASTS:
        raise ValueError(f"unknown contrast {contrast!r}; choose one of {', '.join(CONTRASTS)}")
    column = CONTRASTS.index(contrast)
    lut = np.zeros(N_TISSUES, dtype=np.float32)
    for tissue, values in _TABLE.items():
        lut[tissue] = values[column]
    return lut
