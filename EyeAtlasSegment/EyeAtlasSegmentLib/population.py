"""Every volume and length of an eye against the MR-Eye population of its sex: z-score, percentile, flag.

The norms are the MR-Eye / A-eye normative data shipped with the engine (``normative.py``): the nine structure
volumes, their total and the A-eye axial length, per eye and sex. The other biometric measures have no norm there;
their rows say so. A value outside the population's 2.5-97.5 % range is flagged "low" or "high".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from .atlas import atlas_sex_from_dicom
from .biometry import MEASURES, EyeBiometry
from .columns import BIOMETRY_TABLE, column_keys
from .normative import POPULATION_OF_ATLAS_SEX, population_norm
from .statistics import StructureStats
from .structures import STRUCTURES

BIOMETRY_COLUMNS = column_keys(BIOMETRY_TABLE)
#: Measures with an MR-Eye norm → the measure's name in ``mr_eye_normative.csv``.
NORM_OF_MEASURE = {**{f"{s.key}_volume": s.key for s in STRUCTURES}, "total_volume": "total",
                   "axial_length": "axial_length"}
PERCENTILE_METHOD = ("two-piece normal through the population's 2.5th, 50th and 97.5th percentiles; z-score = "
                     "(value - mean) / SD; flag low/high outside the 2.5-97.5 % range")


@dataclass
class BiometryRow:
    """One row of ``biometry.csv``: a measure of one eye, with its population and where it falls in it."""

    eye: str
    measure: str
    value: float | None
    unit: str
    population: str = ""  # "F", "M" or "all"; "" without a norm
    population_n: int | None = None
    population_mean: float | None = None
    population_sd: float | None = None
    population_p2_5: float | None = None
    population_p50: float | None = None
    population_p97_5: float | None = None
    z_score: float | None = None
    percentile: float | None = None
    flag: str = ""  # "low", "high" or ""
    note: str = ""

    def as_row(self) -> dict:
        return asdict(self)


@dataclass
class BiometryResult:
    """The biometry of a run: per-eye measures, the rows against the population, and which population."""

    eyes: dict[str, EyeBiometry]
    rows: list[BiometryRow]
    population_sex: str  # "male", "female" or "combined" (both sexes)
    population_source: str

    def report(self) -> dict:
        """The ``biometry`` section of report.json."""
        return {"population": POPULATION_OF_ATLAS_SEX[self.population_sex], "population_source": self.population_source,
                "percentile_method": PERCENTILE_METHOD,
                "definitions": {key: {"unit": unit, "definition": text} for key, (unit, text) in MEASURES.items()},
                "eyes": {eye: biometry.as_dict() for eye, biometry in self.eyes.items()},
                "rows": [row.as_row() for row in self.rows]}


def population_sex(atlas_sex: str, patient_sex: str | None) -> tuple[str, str]:
    """The population to compare with (as an atlas sex) and why: the atlas sex when it is male or female, else the
    patient's sex from the image's metadata (DICOM M/F), else both sexes."""
    if atlas_sex in ("male", "female"):
        return atlas_sex, f"the {atlas_sex} atlas was used"
    from_image = atlas_sex_from_dicom(patient_sex)
    if from_image in ("male", "female"):
        return from_image, f"the image's patient sex is {patient_sex}"
    return "combined", "sex unknown: both sexes"


def _row(eye: str, measure: str, value: float | None, unit: str, sex: str, note: str) -> BiometryRow:
    if measure not in NORM_OF_MEASURE:
        return BiometryRow(eye, measure, value, unit, note="; ".join(filter(None, [note, "no MR-Eye population norm"])))
    norm = population_norm(eye, sex, NORM_OF_MEASURE[measure])
    row = BiometryRow(eye, measure, value, unit, norm.population, norm.n, norm.mean, norm.sd, norm.p2_5, norm.p50,
                      norm.p97_5, note=note)
    if value is not None:
        row.z_score, row.percentile, row.flag = norm.z_score(value), norm.percentile(value), norm.band(value)
    return row


def compare_with_population(biometry: Mapping[str, EyeBiometry], stats: Sequence[StructureStats],
                            missing_eyes: Mapping[str, str], eyes: Sequence[str], atlas_sex: str,
                            patient_sex: str | None = None) -> BiometryResult:
    """The rows of ``biometry.csv`` for ``eyes``: the nine volumes and their total (from ``stats``), then every
    biometric measure; an eye not segmented gets its rows without values, the reason in the note."""
    sex, source = population_sex(atlas_sex, patient_sex)
    volumes = {(row.eye, row.structure): row.volume_mm3 for row in stats}
    rows = []
    for eye in eyes:
        reason = missing_eyes.get(eye, "")
        structure_volumes = [volumes.get((eye, s.key)) for s in STRUCTURES]
        total = None if None in structure_volumes else sum(structure_volumes)
        for structure, volume in zip(STRUCTURES, structure_volumes):
            rows.append(_row(eye, f"{structure.key}_volume", volume, "mm3", sex, reason))
        rows.append(_row(eye, "total_volume", total, "mm3", sex, reason))
        measured = biometry.get(eye)
        for measure, (unit, _) in MEASURES.items():
            value = measured.values[measure] if measured else None
            note = measured.notes.get(measure, "") if measured else reason
            rows.append(_row(eye, measure, value, unit, sex, note))
    return BiometryResult(dict(biometry), rows, sex, source)
