"""Quality checks of one eye's result against known truth (population volumes, position, folding, symmetry), and the
pipeline's refusal of eyes that fail them."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.engines.simpleitk_engine import SimpleITKEngine
from EyeAtlasSegmentLib.errors import EyeNotFoundError
from EyeAtlasSegmentLib.eye_qc import (
    MAX_VOLUME_Z,
    deformable_check,
    folding_check,
    globe_offset_check,
    symmetry_check,
    verdict_of,
    volumes_check,
)
from EyeAtlasSegmentLib.eye_segmentation import RETRY_ROTATIONS_DEG, attempt_plan
from EyeAtlasSegmentLib.normative import population_norm
from EyeAtlasSegmentLib.outputs import report_content
from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
from EyeAtlasSegmentLib.statistics import CSV_COLUMNS, not_segmented_rows
from EyeAtlasSegmentLib.structures import STRUCTURES
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject
from helpers import FixedScaleEngine


def _population_means(eye: str, sex: str) -> dict[str, float]:
    return {s.key: population_norm(eye, sex, s.key).mean for s in STRUCTURES}


def test_normative_data_ship_with_the_package_and_match_the_published_table():
    globe = population_norm("right", "combined", "globe")
    assert (globe.n, globe.mean, globe.sd, globe.p2_5, globe.p97_5) == (1157, 4672.4, 684.3, 3309.3, 6034.1)
    assert population_norm("left", "female", "lens").population == "F"
    assert population_norm("right", "male", "axial_length").unit == "mm"
    assert globe.z_score(4672.4 + 2 * 684.3) == pytest.approx(2.0)


@pytest.mark.parametrize("sex", ["combined", "female", "male"])
def test_population_mean_volumes_pass(sex):
    for eye in ("right", "left"):
        check = volumes_check(eye, sex, _population_means(eye, sex))
        assert check.verdict == "pass" and check.value == pytest.approx(0.0, abs=1e-6)


def test_a_globe_twice_the_population_volume_is_refused_with_its_numbers():
    volumes = _population_means("left", "combined")
    volumes["globe"] = 9718.0  # chris_t1's left globe before the realistic template
    check = volumes_check("left", "combined", volumes)
    assert check.verdict == "fail" and check.value > MAX_VOLUME_Z
    assert "globe 9718 mm³ (population 4611 ± 688, z +7.4)" in check.message


def test_the_volume_limit_is_the_sex_specific_population():
    volumes = _population_means("right", "combined")
    norm_f = population_norm("right", "female", "extraconal_fat")
    volumes["extraconal_fat"] = norm_f.mean + 3.6 * norm_f.sd  # beyond 3.5 SD of women, within 3.5 SD of everyone
    assert volumes_check("right", "female", volumes).verdict == "fail"
    assert volumes_check("right", "combined", volumes).verdict == "pass"


def test_globe_position_is_checked_against_the_located_centre():
    assert globe_offset_check((1.0, 2.0, 3.0), (1.0, 2.0, 5.0)).verdict == "pass"
    far = globe_offset_check((1.0, 2.0, 3.0), (1.0, 9.0, 3.0))
    assert far.verdict == "fail" and far.value == pytest.approx(7.0) and "7.0 mm" in far.message
    assert globe_offset_check(None, (0.0, 0.0, 0.0)).verdict == "fail"


def _grid(size: int = 32) -> sitk.Image:
    image = sitk.Image([size] * 3, sitk.sitkFloat32)
    image.SetOrigin((-size / 2,) * 3)
    return image


def test_identity_and_similarity_transforms_do_not_fold():
    grid = _grid()
    mask = sitk.Cast(grid + 1, sitk.sitkUInt8)
    assert folding_check(sitk.Transform(3, sitk.sitkIdentity), grid, mask).value == pytest.approx(1.0)
    scaled = sitk.Similarity3DTransform()
    scaled.SetScale(1.2)
    check = folding_check(scaled, grid, mask)
    assert check.verdict == "pass" and check.value == pytest.approx(1.2 ** 3, rel=1e-3)


def test_a_deformation_that_folds_is_detected_inside_the_mask_only():
    grid = _grid()
    z, y, x = np.meshgrid(*(np.arange(32, dtype=float) - 16,) * 3, indexing="ij")
    # dx/dx = 1 - 2.5·exp(...) < 0 near the centre: space turns inside out there.
    bump = np.exp(-(x ** 2 + y ** 2 + z ** 2) / (2 * 3.0 ** 2))
    displacement = np.zeros((32, 32, 32, 3))
    displacement[..., 0] = -2.5 * x * bump
    field = sitk.GetImageFromArray(displacement, isVector=True)
    field.CopyInformation(grid)
    folding = sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))
    centre_mask = sitk.Cast(sitk.GetImageFromArray((x ** 2 + y ** 2 + z ** 2 < 25).astype(np.uint8)), sitk.sitkUInt8)
    centre_mask.CopyInformation(grid)
    corner_mask = sitk.Cast(sitk.GetImageFromArray((x > 12).astype(np.uint8)), sitk.sitkUInt8)
    corner_mask.CopyInformation(grid)
    check = folding_check(folding, grid, centre_mask)
    assert check.verdict == "fail" and check.value < 0 and "folds" in check.message
    assert folding_check(folding, grid, corner_mask).verdict == "pass"


def test_globes_that_disagree_by_more_than_a_quarter_fail_symmetry():
    assert symmetry_check({"right": 4700.0, "left": 4300.0}).verdict == "pass"
    check = symmetry_check({"right": 9718.0, "left": 5000.0})
    assert check.verdict == "fail" and check.value == pytest.approx(0.4855, abs=1e-3)
    assert "differ by 49%" in check.message


def test_the_worst_verdict_wins():
    doubtful = deformable_check("it changed the globe volume by -26%")
    passed = deformable_check("")
    failed = symmetry_check({"right": 2.0, "left": 1.0})
    assert verdict_of([passed]) == "pass"
    assert verdict_of([passed, doubtful]) == "doubtful"
    assert verdict_of([doubtful, failed, passed]) == "fail"


def test_an_eye_not_segmented_has_a_row_per_structure_saying_why_and_no_values():
    rows = not_segmented_rows("left", "refused by quality control: the globes differ by 49%")
    assert [r.label for r in rows] == list(range(11, 20))
    for row in rows:
        assert set(row.as_row()) == set(CSV_COLUMNS)
        assert row.qc_status == "not_segmented" and "49%" in row.qc_note
        assert row.volume_mm3 is None and row.mean is None and row.snr is None and row.voxels == 0


@pytest.fixture(scope="module")
def subject_path(tmp_path_factory):
    subject = make_subject(SubjectSpec(seed=5, fov_mm=(150.0, 200.0, 150.0), spacing_mm=(1.5, 1.5, 1.5)))
    path = tmp_path_factory.mktemp("subject") / "subject.nii.gz"
    sitk.WriteImage(subject.image, str(path))
    return path


def test_an_eye_whose_volumes_are_implausible_in_every_attempt_is_refused_and_gets_no_labels(subject_path,
                                                                                            synthetic_atlas_dir):
    engine = FixedScaleEngine({"right": 1.0, "left": 1.5})  # left globe 3.4× the template's
    result = run_pipeline(subject_path, synthetic_atlas_dir, PipelineOptions(engine=engine, retry_engines=()))
    assert sorted(result.eyes) == ["right"]
    assert result.missing_eyes["left"].startswith("refused by quality control: volume outside the population range")
    assert "4 other registration attempts" in result.missing_eyes["left"]
    assert [a["verdict"] for a in result.attempts["left"]] == ["fail"] * 5
    assert not np.isin(sitk.GetArrayViewFromImage(result.labels), range(11, 20)).any()
    left_rows = [r for r in result.stats if r.eye == "left"]
    assert len(left_rows) == 9 and {r.qc_status for r in left_rows} == {"not_segmented"}
    assert any(w.startswith("left eye not segmented: refused by quality control") for w in result.warnings)
    report = report_content(result)
    assert report["eyes"]["right"]["qc"]["verdict"] == "pass"
    assert {c["name"] for c in report["eyes"]["right"]["qc"]["checks"]} == {
        "deformable", "folding", "globe_position", "volumes"}


def test_two_globes_that_disagree_leave_only_the_one_nearer_the_population(subject_path, synthetic_atlas_dir):
    engine = FixedScaleEngine({"right": 1.0, "left": 1.12})  # left globe 1.4×: plausible alone, not beside the right
    result = run_pipeline(subject_path, synthetic_atlas_dir, PipelineOptions(engine=engine, retry_engines=()))
    assert sorted(result.eyes) == ["right"]
    assert "the globes differ by" in result.missing_eyes["left"]
    assert result.eyes["right"].qc_checks[-1].name == "symmetry"


def test_a_run_with_no_eye_passing_fails_with_every_reason(subject_path, synthetic_atlas_dir):
    engine = FixedScaleEngine({"right": 1.6, "left": 1.6})
    with pytest.raises(EyeNotFoundError, match="no eye could be segmented: right: refused .* left: refused"):
        run_pipeline(subject_path, synthetic_atlas_dir, PipelineOptions(engine=engine, retry_engines=()))


def test_the_retry_plan_turns_the_start_then_adds_an_affine_stage_then_other_engines():
    plans = list(attempt_plan(SimpleITKEngine(), retry_engines=("ants",)))
    assert [p.start_rotation_deg for p in plans[:5]] == [(0.0, 0.0, 0.0), *RETRY_ROTATIONS_DEG]
    assert plans[5].engine.settings.affine_stage and plans[5].engine.parameters()["stages"][-2] == "affine"
    assert [p.name for p in plans[6:]] == (["ants"] if importlib.util.find_spec("ants") else [])
    assert len(list(attempt_plan(SimpleITKEngine(), retry_engines=()))) == 6
