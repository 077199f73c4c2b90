"""Population norms of the MR-Eye structures and of the axial length, by eye and sex.

Source: the MR-Eye / A-eye normative data (SHIP study, 1,157 healthy adults, T1w MPRAGE 1.5 T, 1 mm; nnU-Net
segmentations), shipped as ``data/mr_eye_normative.csv``: n, mean, SD and the 2.5th, 50th and 97.5th percentiles
per eye (right, left), sex (F, M, all) and measure (the nine structures in mm³, their total, axial length in mm).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import NormalDist

NORMATIVE_CSV = Path(__file__).resolve().parent / "data" / "mr_eye_normative.csv"
#: Atlas template sex → the population it is compared with.
POPULATION_OF_ATLAS_SEX = {"male": "M", "female": "F", "combined": "all"}


@dataclass(frozen=True)
class Norm:
    """One population distribution: mean, SD and percentiles, in ``unit``."""

    eye: str
    population: str  # "F", "M" or "all"
    measure: str
    unit: str
    n: int
    mean: float
    sd: float
    p2_5: float
    p50: float
    p97_5: float

    def z_score(self, value: float) -> float:
        """(value − mean) / SD."""
        return (value - self.mean) / self.sd

    def percentile(self, value: float) -> float:
        """Percentile (0-100) of ``value`` in a two-piece normal through the 2.5th, 50th and 97.5th percentiles.

        The measures are skewed (the lens's lower tail is three times as long as its upper), so each side of the
        median has its own spread; the three published percentiles are reproduced exactly.
        """
        spread = (self.p97_5 - self.p50) if value >= self.p50 else (self.p50 - self.p2_5)
        return 100.0 * NormalDist().cdf(_Z_97_5 * (value - self.p50) / spread)

    def band(self, value: float) -> str:
        """The flag: "low" below the 2.5th percentile, "high" above the 97.5th, "" between them."""
        return "low" if value < self.p2_5 else "high" if value > self.p97_5 else ""


_Z_97_5 = NormalDist().inv_cdf(0.975)


@cache
def _norms() -> dict[tuple[str, str, str], Norm]:
    with open(NORMATIVE_CSV, newline="", encoding="utf-8") as handle:
        return {(r["eye"], r["sex"], r["measure"]): Norm(r["eye"], r["sex"], r["measure"], r["unit"], int(r["n"]),
                                                         *(float(r[k]) for k in ("mean", "sd", "p2_5", "p50", "p97_5")))
                for r in csv.DictReader(handle)}


def population_norm(eye: str, atlas_sex: str, measure: str) -> Norm:
    """The norm of ``measure`` (e.g. "globe", "axial_length") for one eye, in the population of the atlas sex."""
    return _norms()[(eye, POPULATION_OF_ATLAS_SEX[atlas_sex], measure)]
