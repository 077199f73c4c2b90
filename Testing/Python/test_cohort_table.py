"""The cohort table from per-image outputs of known volumes: z-scores against the sex-specific MR-Eye population,
Tukey-fence outliers (from the cohort when it is large enough, else from the population), CNR partners, failures,
the typed Parquet copy, and the report's order of review (the report itself is checked in test_cohort_run)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from EyeAtlasSegmentLib.cnr import CNR_COLUMNS
from EyeAtlasSegmentLib.cohort.inputs import CohortImage
from EyeAtlasSegmentLib.cohort.report_html import order_for_review
from EyeAtlasSegmentLib.cohort.resume import CohortState
from EyeAtlasSegmentLib.cohort.table import COLUMNS, build_tables, write_parquet
from EyeAtlasSegmentLib.normative import population_norm
from EyeAtlasSegmentLib.statistics import CSV_COLUMNS
from EyeAtlasSegmentLib.structures import EYES, STRUCTURES, output_label

SETTINGS = "settings-1"


def _write_csv(path: Path, columns, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _segmented_image(state: CohortState, key: str, sex: str, globe_z: float = 0.0) -> CohortImage:
    """An image whose outputs hold every structure at its population mean, the globe at ``globe_z`` SDs."""
    folder = state.out_dir / key
    folder.mkdir(parents=True)
    stats = []
    for eye in EYES:
        for s in STRUCTURES:
            norm = population_norm(eye, sex, s.key)
            volume = norm.mean + (globe_z * norm.sd if s.key == "globe" else 0.0)
            stats.append({"eye": eye, "label": output_label(eye, s.label), "atlas_label": s.label,
                          "structure": s.key, "voxels": int(volume), "volume_mm3": f"{volume:.6g}", "mean": "100",
                          "snr": "12.5", "noise_method": "air_background", "qc_status": "pass"})
    cnr = [{"eye": eye, "structure_a": a, "structure_b": b, "cnr": value} for eye in EYES
           for a, b, value in (("lens", "globe", "7.5"), ("optic_nerve", "intraconal_fat", "3.25"))]
    outputs = {"stats.csv": _write_csv(folder / "stats.csv", CSV_COLUMNS, stats),
               "cnr.csv": _write_csv(folder / "cnr.csv", CNR_COLUMNS, cnr)}
    state.mark_done(key, {"key": key, "settings_sha256": SETTINGS}, outputs)
    return CohortImage(key, folder / "input.nii.gz", sex, "list file", subject=key)


def _rows_of(rows, image, eye, structure):
    return next(r for r in rows if (r["image"], r["eye"], r["structure"]) == (image, eye, structure))


def test_z_scores_are_against_the_population_of_the_atlas_sex_and_the_same_eye(tmp_path):
    state = CohortState(tmp_path)
    images = [_segmented_image(state, "woman", "female", globe_z=2.0),
              _segmented_image(state, "man", "male", globe_z=-1.0),
              _segmented_image(state, "unknown", "combined", globe_z=0.5)]
    rows, failures, _ = build_tables(images, state, {i.key: SETTINGS for i in images}, {})
    assert len(rows) == 3 * 18 and failures == []
    assert list(rows[0]) == list(COLUMNS)
    for image, population, z in (("woman", "F", 2.0), ("man", "M", -1.0), ("unknown", "all", 0.5)):
        for eye in EYES:
            globe = _rows_of(rows, image, eye, "globe")
            assert globe["population"] == population
            assert float(globe["z_score"]) == pytest.approx(z, abs=1e-4)
            assert float(_rows_of(rows, image, eye, "lens")["z_score"]) == pytest.approx(0.0, abs=1e-4)
    woman = _rows_of(rows, "woman", "left", "globe")
    assert float(woman["population_mean_mm3"]) == population_norm("left", "female", "globe").mean
    assert woman["sex_source"] == "list file" and woman["qc_status"] == "pass" and woman["snr"] == "12.5"


def test_each_structure_gets_the_cnr_of_its_reference_pair(tmp_path):
    state = CohortState(tmp_path)
    images = [_segmented_image(state, "a", "female")]
    rows, _, _ = build_tables(images, state, {"a": SETTINGS}, {})
    assert (_rows_of(rows, "a", "right", "lens")["cnr"], _rows_of(rows, "a", "right", "lens")["cnr_partner"]) == (
        "7.5", "globe")
    assert _rows_of(rows, "a", "left", "globe")["cnr_partner"] == "lens"  # no pair starts with the globe here
    assert _rows_of(rows, "a", "left", "intraconal_fat")["cnr"] == "3.25"
    assert _rows_of(rows, "a", "left", "medial_rectus")["cnr"] == ""


def test_a_small_cohort_flags_outliers_by_the_populations_tukey_fences(tmp_path):
    state = CohortState(tmp_path)
    images = [_segmented_image(state, "typical", "female", globe_z=2.5),
              _segmented_image(state, "large", "female", globe_z=2.9)]
    rows, _, entries = build_tables(images, state, {i.key: SETTINGS for i in images}, {})
    norm = population_norm("right", "female", "globe")
    typical, large = _rows_of(rows, "typical", "right", "globe"), _rows_of(rows, "large", "right", "globe")
    assert typical["outlier"] == "" and large["outlier"] == "high"
    assert float(large["outlier_fence_high_mm3"]) == pytest.approx(norm.mean + 2.698 * norm.sd, rel=1e-4)
    assert large["outlier_fences"] == "population F"
    assert [e.outliers for e in entries] == [[], ["right globe high", "left globe high"]]


def test_a_large_cohort_flags_outliers_by_its_own_tukey_fences_per_sex(tmp_path):
    state = CohortState(tmp_path)
    images = [_segmented_image(state, f"f{n:02d}", "female", globe_z=0.1 * (n % 5)) for n in range(10)]
    images += [_segmented_image(state, "f_big", "female", globe_z=1.5), _segmented_image(state, "m", "male", 1.5)]
    rows, _, _ = build_tables(images, state, {i.key: SETTINGS for i in images}, {})
    big = _rows_of(rows, "f_big", "right", "globe")
    assert big["outlier"] == "high" and big["outlier_fences"] == "cohort F (n=22)"  # 1.5 SD: inside the population
    assert _rows_of(rows, "m", "right", "globe")["outlier"] == ""  # one man: the male population's fences
    assert _rows_of(rows, "f03", "right", "globe")["outlier"] == ""


def test_failed_and_unprocessed_images_are_listed_with_their_reason_and_shown_first(tmp_path):
    state = CohortState(tmp_path)
    good = _segmented_image(state, "good", "female")
    broken = CohortImage("broken", tmp_path / "broken.nii.gz", "combined", "--sex")
    state.mark_failed("broken", {"settings_sha256": SETTINGS, "reason": "no eye found in the image",
                                 "kind": "pipeline", "run_id": "r1"})
    stale = CohortImage("stale", tmp_path / "stale.nii.gz", "combined", "--sex")
    state.mark_failed("stale", {"settings_sha256": "older settings", "reason": "old reason", "kind": "pipeline"})
    never = CohortImage("never", tmp_path / "never.nii.gz", "combined", "--sex")
    images = [good, broken, stale, never]
    rows, failures, entries = build_tables(images, state, {i.key: SETTINGS for i in images},
                                           {"never": "not run: the scheduler went away"})
    assert {r["image"] for r in rows} == {"good"}
    assert [(f["image"], f["kind"], f["reason"]) for f in failures] == [
        ("broken", "pipeline", "no eye found in the image"),
        ("stale", "not_run", "not processed: the run was interrupted"),
        ("never", "not_run", "not run: the scheduler went away")]
    assert [e.image.key for e in order_for_review(entries)] == ["broken", "never", "stale", "good"]


def test_the_parquet_table_has_the_same_rows_with_typed_columns(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    state = CohortState(tmp_path)
    images = [_segmented_image(state, "a", "female", globe_z=1.0)]
    rows, _, _ = build_tables(images, state, {"a": SETTINGS}, {})
    table = pq.read_table(write_parquet(tmp_path / "cohort_stats.parquet", rows))
    assert table.num_rows == 18 and table.column_names == list(COLUMNS)
    assert str(table.schema.field("volume_mm3").type) == "double" and str(table.schema.field("label").type) == "int64"
    assert table.column("z_score").to_pylist()[1] == pytest.approx(1.0, abs=1e-4)
    assert table.column("sd").to_pylist()[0] is None
