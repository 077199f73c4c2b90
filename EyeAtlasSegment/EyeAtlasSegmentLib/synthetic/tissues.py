"""Tissue classes of the synthetic phantoms and their noiseless intensities per contrast.

Intensities are relative (fat = 1.0 in T1 and PD, vitreous = 1.0 in T2, grey matter = 1.0 in FLAIR); a phantom
scales them to scanner units. PD: long TR, short TE, so water-rich vitreous (0.88) is almost as bright as fat and the
globe stands out mainly by its dark sclera. FLAIR (T2-weighted with the free-water signal nulled): vitreous and CSF
are dark as in T1, while grey matter is brighter than white matter as in T2.
"""

from __future__ import annotations

import numpy as np

AIR, BONE, SOFT, FAT, MUSCLE, NERVE, VITREOUS, SCLERA, LENS, NONE, GM, WM, CSF, SCALP = range(14)
N_TISSUES = 14

_T1 = {AIR: 0.0, BONE: 0.07, SOFT: 0.5, FAT: 1.0, MUSCLE: 0.42, NERVE: 0.58, VITREOUS: 0.16, SCLERA: 0.08,
       LENS: 0.66, NONE: 0.35, GM: 0.55, WM: 0.78, CSF: 0.14, SCALP: 0.9}
_T2 = {AIR: 0.0, BONE: 0.05, SOFT: 0.45, FAT: 0.62, MUSCLE: 0.22, NERVE: 0.38, VITREOUS: 1.0, SCLERA: 0.1,
       LENS: 0.15, NONE: 0.3, GM: 0.5, WM: 0.36, CSF: 1.0, SCALP: 0.6}
_PD = {AIR: 0.0, BONE: 0.1, SOFT: 0.68, FAT: 1.0, MUSCLE: 0.62, NERVE: 0.72, VITREOUS: 0.88, SCLERA: 0.3,
       LENS: 0.55, NONE: 0.6, GM: 0.82, WM: 0.7, CSF: 0.95, SCALP: 0.95}
_FLAIR = {AIR: 0.0, BONE: 0.05, SOFT: 0.5, FAT: 0.8, MUSCLE: 0.35, NERVE: 0.6, VITREOUS: 0.06, SCLERA: 0.08,
          LENS: 0.4, NONE: 0.3, GM: 1.0, WM: 0.72, CSF: 0.05, SCALP: 0.85}
CONTRASTS = {"T1": _T1, "T2": _T2, "PD": _PD, "FLAIR": _FLAIR}


def intensity_lut(contrast: str) -> np.ndarray:
    """Lookup table tissue class → relative noiseless intensity for ``contrast`` (a key of ``CONTRASTS``)."""
    try:
        table = CONTRASTS[contrast]
    except KeyError:
        raise ValueError(f"unknown contrast {contrast!r}; choose one of {sorted(CONTRASTS)}") from None
    lut = np.zeros(N_TISSUES, dtype=np.float32)
    for tissue, value in table.items():
        lut[tissue] = value
    return lut
