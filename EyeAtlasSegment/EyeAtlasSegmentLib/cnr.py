"""Contrast-to-noise ratios between structures of the same eye, from their SNR ROIs.

Two forms, both reported:
- ``cnr`` = |μA − μB| / σ, with σ the image noise (background, ROI, noise scan) or, in the difference method,
  the pooled difference-image σ of both ROIs: √((nA σA² + nB σB²)/(nA + nB)) (the definition MRIQC uses: Magnotta VA,
  Friedman L, J Digit Imaging 2006;19:140);
- ``cnr_pooled`` = |μA − μB| / √(sA² + sB²), with sA, sB the ROI SDs (noise and tissue texture together; no noise
  estimate needed, but not comparable across protocols with different tissue heterogeneity).
The naive recipe (μ_structure − μ_outside)/SD_outside is available with the naive noise method, as pairs with
"outside_mask", for comparison only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .columns import CNR_TABLE, column_keys
from .noise import DifferenceNoise, NoiseEstimate, interval95
from .statistics import StructureStats
from .structures import STRUCTURES

RECTI = ("lateral_rectus", "medial_rectus", "inferior_rectus", "superior_rectus")
#: Anatomically meaningful pairs (structure keys), measured in each eye.
DEFAULT_CNR_PAIRS: tuple[tuple[str, str], ...] = (
    ("lens", "globe"), ("optic_nerve", "intraconal_fat"), ("globe", "intraconal_fat"),
    *[(rectus, fat) for rectus in RECTI for fat in ("intraconal_fat", "extraconal_fat")],
)
OUTSIDE_MASK = "outside_mask"
CNR_COLUMNS = column_keys(CNR_TABLE)


@dataclass
class CnrRow:
    """One row of ``cnr.csv``."""

    eye: str
    structure_a: str
    structure_b: str
    mean_a: float | None
    mean_b: float | None
    voxels_a: int
    voxels_b: int
    cnr: float | None
    cnr_ci_low: float | None
    cnr_ci_high: float | None
    cnr_noise_sd: float | None
    noise_method: str
    cnr_pooled: float | None
    cnr_pooled_ci_low: float | None
    cnr_pooled_ci_high: float | None
    formula: str
    note: str

    def as_row(self) -> dict:
        return asdict(self)


def parse_pairs(specs: Sequence[str]) -> list[tuple[str, str]]:
    """User pairs "A:B" of structure keys (e.g. "lens:globe"), checked against the atlas structures."""
    keys = {s.key for s in STRUCTURES}
    pairs = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 2 or not set(parts) <= keys or parts[0] == parts[1]:
            raise ValueError(f"CNR pair {spec!r} must be two different structures as A:B, from: "
                             f"{', '.join(sorted(keys))}")
        pairs.append((parts[0], parts[1]))
    return pairs


def contrast_to_noise(stats: Sequence[StructureStats], noise: NoiseEstimate,
                      pairs: Sequence[tuple[str, str]] = DEFAULT_CNR_PAIRS) -> list[CnrRow]:
    """CNR of each pair in each eye present in ``stats``; pairs with an empty or undefined side get a note."""
    by_key = {(row.eye, row.structure): row for row in stats}
    eyes = list(dict.fromkeys(row.eye for row in stats))
    rows = []
    for eye in eyes:
        for key_a, key_b in pairs:
            rows.append(_pair(eye, by_key[(eye, key_a)], by_key[(eye, key_b)], noise))
        if noise.method == "naive_outside_mask":
            rows += [_naive_cnr(eye, row, noise) for row in stats if row.eye == eye]
    return rows


def _pair(eye: str, a: StructureStats, b: StructureStats, noise: NoiseEstimate) -> CnrRow:
    row = CnrRow(eye, a.structure, b.structure, a.roi_mean, b.roi_mean, a.roi_voxels, b.roi_voxels, None, None, None,
                 None, a.noise_method, None, None, None, "|mean_a-mean_b|/noise_sd; pooled: /sqrt(sd_a^2+sd_b^2)", "")
    if a.roi_voxels < 2 or b.roi_voxels < 2 or a.roi_mean is None or b.roi_mean is None:
        row.note = "a structure has fewer than 2 ROI voxels"
        return row
    delta = abs(a.roi_mean - b.roi_mean)
    sa, sb = a.roi_sd or 0.0, b.roi_sd or 0.0
    se_delta = float(np.sqrt(sa ** 2 / a.roi_voxels + sb ** 2 / b.roi_voxels))
    rel_delta = se_delta / delta if delta > 0 else np.inf
    pooled_var = sa ** 2 + sb ** 2
    if pooled_var > 0:
        row.cnr_pooled = delta / np.sqrt(pooled_var)
        se_var = np.sqrt(2 * sa ** 4 / (a.roi_voxels - 1) + 2 * sb ** 4 / (b.roi_voxels - 1))
        row.cnr_pooled_ci_low, row.cnr_pooled_ci_high = interval95(row.cnr_pooled,
                                                                  np.hypot(rel_delta, 0.5 * se_var / pooled_var))
    sigma, sigma_rel_se = _pair_sigma(a, b, noise)
    if sigma is None:
        row.note = a.snr_note or noise.reason or "noise σ undefined: only the pooled CNR is given"
        return row
    row.cnr_noise_sd, row.cnr = sigma, delta / sigma
    row.cnr_ci_low, row.cnr_ci_high = interval95(row.cnr, np.hypot(rel_delta, sigma_rel_se or 0.0))
    return row


def _pair_sigma(a: StructureStats, b: StructureStats, noise: NoiseEstimate) -> tuple[float | None, float | None]:
    """σ for a pair: the image's, or in the difference method the voxel-weighted pool of both ROIs' σ
    (NEMA MS 1-2008; Dietrich O et al., J Magn Reson Imaging 2007;26:375)."""
    if isinstance(noise, DifferenceNoise):
        n_a, n_b = a.noise_voxels, b.noise_voxels
        sigma = float(np.sqrt((n_a * a.noise_sd ** 2 + n_b * b.noise_sd ** 2) / (n_a + n_b)))
        return sigma, float(1 / np.sqrt(2 * (n_a + n_b)))  # Gaussian differences
    if not noise.defined:
        return None, None
    return noise.sigma, noise.sigma_rel_se


def _naive_cnr(eye: str, row: StructureStats, noise: NoiseEstimate) -> CnrRow:
    """The naive formula (μ_structure − μ_outside)/SD_outside, signed, no interval: for comparison only."""
    background = noise.background_mean
    value = None if row.roi_mean is None else (row.roi_mean - background) / noise.sigma
    return CnrRow(eye, row.structure, OUTSIDE_MASK, row.roi_mean, background, row.roi_voxels, noise.voxels, value, None,
                  None, noise.sigma, noise.method, None, None, None, "(mean_a-mean_outside)/sd_outside (naive recipe)",
                  "naive recipe: biased, for comparison only")
