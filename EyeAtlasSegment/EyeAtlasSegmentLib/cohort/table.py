"""The cohort table: one row per image × eye × structure, from each image's own outputs, with the z-score against
the sex-specific MR-Eye population and a Tukey-fence outlier flag; and the table of failures.

- Values (volume, mean, SD, SNR, QC status and reasons) are the cells of the image's ``stats`` table, unchanged;
  ``cnr`` is the structure's CNR against its reference tissue: the first of the image's CNR pairs that starts with
  the structure, else the first that ends with it (``cnr_partner`` names the other structure).
- ``z_score`` = (volume − mean) / SD of the population of the image's atlas sex (``normative.py``: MR-Eye / A-eye,
  1,157 healthy adults; F, M, or both for the combined atlas), for the same eye.
- ``outlier`` ("low"/"high") by Tukey's fences, Q1 − 1.5·IQR and Q3 + 1.5·IQR, as A-eye flags outliers per sex: the
  quartiles are the cohort's own, per population and structure (both eyes), when it has at least
  ``MIN_VALUES_FOR_COHORT_FENCES`` volumes there; else the population's (normal quartiles mean ± 0.674·SD, so
  fences at mean ± 2.70·SD). ``outlier_fences`` says which.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..columns import STATS_TABLE
from ..normative import POPULATION_OF_ATLAS_SEX, population_norm
from .inputs import CohortImage
from .resume import CohortState, atomic_write_text

STATS_FILE = "stats.csv"
CNR_FILE = "cnr.csv"
MIN_VALUES_FOR_COHORT_FENCES = 20
TUKEY_K = 1.5
#: Normal quartiles: mean ± 0.6745·SD.
_NORMAL_Q3_Z = 0.6744897501960817
_STATS_COLUMNS = ("eye", "label", "structure", "voxels", "volume_mm3", "mean", "sd", "snr", "snr_ci_low",
                  "snr_ci_high", "noise_method", "qc_status", "qc_note")
COLUMNS = ("image", "subject", "session", "source", "atlas_sex", "sex_source", *_STATS_COLUMNS, "cnr", "cnr_partner",
           "population", "population_mean_mm3", "population_sd_mm3", "z_score", "outlier", "outlier_fence_low_mm3",
           "outlier_fence_high_mm3", "outlier_fences", "report", "qc_picture")
_KIND_OF_STATS_COLUMN = {c.key: c.kind for c in STATS_TABLE}
INTEGER_COLUMNS = frozenset(c for c in _STATS_COLUMNS if _KIND_OF_STATS_COLUMN[c] == "integer")
FLOAT_COLUMNS = frozenset({*(c for c in _STATS_COLUMNS if _KIND_OF_STATS_COLUMN[c] == "real"), "cnr",
                           "population_mean_mm3", "population_sd_mm3", "z_score", "outlier_fence_low_mm3",
                           "outlier_fence_high_mm3"})
FAILURE_COLUMNS = ("image", "subject", "session", "source", "kind", "reason", "run_id", "finished", "worker")
#: The per-image files the report links to, in order of preference.
REPORT_FILES = ("report.html", "report.json")
QC_PICTURE = "qc.png"


@dataclass
class ImageEntry:
    """One image in the cohort report: its status, links (relative to OUT) and outlier structures."""

    image: CohortImage
    status: str  # "done" or "failed"
    reason: str = ""
    report: str = ""
    qc_picture: str = ""
    outliers: list[str] = field(default_factory=list)  # "left globe high", ...


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _read_table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))


def _cnr_of(structure: str, eye: str, cnr_rows: Sequence[Mapping[str, str]]) -> tuple[str, str]:
    """(cnr cell, partner structure) of the structure's reference pair in one eye."""
    rows = [r for r in cnr_rows if r["eye"] == eye]
    for side, other in (("structure_a", "structure_b"), ("structure_b", "structure_a")):
        for row in rows:
            if row[side] == structure:
                return row["cnr"], row[other]
    return "", ""


def build_tables(images: Sequence[CohortImage], state: CohortState, fingerprints: Mapping[str, str],
                 not_run: Mapping[str, str]) -> tuple[list[dict], list[dict], list[ImageEntry]]:
    """(cohort rows, failure rows, report entries) from the markers and each complete image's outputs.

    Only outputs made with this run's settings (``fingerprints``: key → settings SHA-256) count; an image neither
    complete nor recorded as failed is listed as "not_run" with the reason in ``not_run`` (or an interrupted run).
    """
    rows: list[dict] = []
    failures: list[dict] = []
    entries: list[ImageEntry] = []
    for image in images:
        identity = {"image": image.key, "subject": image.subject, "session": image.session,
                    "source": str(image.path)}
        done = state.record("done", image.key)
        if done and done.get("settings_sha256") == fingerprints[image.key]:
            outputs = {name: output["path"] for name, output in done["outputs"].items()}
            report = next((outputs[n] for n in REPORT_FILES if n in outputs), "")
            entries.append(ImageEntry(image, "done", report=report, qc_picture=outputs.get(QC_PICTURE, "")))
            rows += _image_rows(image, identity, state.out_dir, outputs, report)
            continue
        failed = state.record("failed", image.key)
        if failed and failed.get("settings_sha256") == fingerprints[image.key]:
            record = {**identity, **{k: failed.get(k, "") for k in FAILURE_COLUMNS if k not in identity}}
        else:
            record = {**identity, "kind": "not_run", "reason": not_run.get(image.key, "not processed: the run "
                                                                                       "was interrupted")}
        failures.append({k: record.get(k, "") for k in FAILURE_COLUMNS})
        entries.append(ImageEntry(image, "failed", reason=record["reason"]))
    _flag_outliers(rows)
    rows = [{c: row[c] for c in COLUMNS} for row in rows]
    by_key = {e.image.key: e for e in entries}
    for row in rows:
        if row["outlier"]:
            by_key[row["image"]].outliers.append(f"{row['eye']} {row['structure'].replace('_', ' ')} "
                                                 f"{row['outlier']}")
    return rows, failures, entries


def _image_rows(image: CohortImage, identity: Mapping[str, str], out_dir: Path, outputs: Mapping[str, str],
                report: str) -> list[dict]:
    stats = _read_table(out_dir / outputs[STATS_FILE])
    cnr_rows = _read_table(out_dir / outputs[CNR_FILE]) if CNR_FILE in outputs else []
    population = POPULATION_OF_ATLAS_SEX[image.sex]
    rows = []
    for stat in stats:
        norm = population_norm(stat["eye"], image.sex, stat["structure"])
        volume = _number(stat["volume_mm3"])
        cnr, partner = _cnr_of(stat["structure"], stat["eye"], cnr_rows)
        rows.append({**identity, "atlas_sex": image.sex, "sex_source": image.sex_source,
                     **{c: stat.get(c, "") for c in _STATS_COLUMNS}, "cnr": cnr, "cnr_partner": partner,
                     "population": population, "population_mean_mm3": _cell(norm.mean),
                     "population_sd_mm3": _cell(norm.sd),
                     "z_score": _cell(norm.z_score(volume) if volume is not None else None),
                     "report": report, "qc_picture": outputs.get(QC_PICTURE, "")})
    return rows


def _flag_outliers(rows: list[dict]) -> None:
    """Fill the outlier columns of every row in place (see the module docstring)."""
    groups: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        volume = _number(row["volume_mm3"])
        if volume is not None:
            groups.setdefault((row["population"], row["structure"]), []).append(volume)
    cohort_fences = {}
    for group, volumes in groups.items():
        if len(volumes) >= MIN_VALUES_FOR_COHORT_FENCES:
            q1, q3 = np.percentile(volumes, [25, 75])
            cohort_fences[group] = (q1 - TUKEY_K * (q3 - q1), q3 + TUKEY_K * (q3 - q1), len(volumes))
    for row in rows:
        volume = _number(row["volume_mm3"])
        group = (row["population"], row["structure"])
        if group in cohort_fences:
            low, high, n = cohort_fences[group]
            source = f"cohort {row['population']} (n={n})"
        else:
            mean, sd = float(row["population_mean_mm3"]), float(row["population_sd_mm3"])
            reach = (_NORMAL_Q3_Z + TUKEY_K * 2 * _NORMAL_Q3_Z) * sd
            low, high, source = mean - reach, mean + reach, f"population {row['population']}"
        flag = "" if volume is None else "low" if volume < low else "high" if volume > high else ""
        row.update(outlier=flag, outlier_fence_low_mm3=_cell(low), outlier_fence_high_mm3=_cell(high),
                   outlier_fences=source)


def write_tsv(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, str]]) -> Path:
    """A TSV with the given columns, written atomically."""
    lines = ["\t".join(columns)] + ["\t".join(_tsv_safe(row.get(c, "")) for c in columns) for row in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _tsv_safe(value: object) -> str:
    return str(value).replace("\t", " ").replace("\n", " ")


def write_parquet(path: Path, rows: Sequence[Mapping[str, str]]) -> Path | None:
    """The cohort table as Parquet with typed columns, when pyarrow is installed (else None)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None

    def typed(column: str, cell: str):
        if column in INTEGER_COLUMNS:
            return int(cell) if cell not in ("", None) else None
        if column in FLOAT_COLUMNS:
            return _number(cell)
        return cell

    schema = pa.schema([(c, pa.int64() if c in INTEGER_COLUMNS else pa.float64() if c in FLOAT_COLUMNS
                         else pa.string()) for c in COLUMNS])
    table = pa.table({c: [typed(c, row[c]) for row in rows] for c in COLUMNS}, schema=schema)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)
    return path
