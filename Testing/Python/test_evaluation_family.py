"""The SYNTHETIC evaluation family: its truth against the geometry it was built from, and (slow) the pipeline's
accuracy on it, a family the pipeline was not tuned on."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.geometry import direction_lps_from_axis_code, lps_to_ras, voxel_centres_lps
from EyeAtlasSegmentLib.normative import population_norm
from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
from EyeAtlasSegmentLib.registration import label_centroid_lps
from EyeAtlasSegmentLib.structures import EYES, STRUCTURES, output_label
from EyeAtlasSegmentLib.synthetic.evaluation_family import (
    CUT_ORBIT_LATERAL_MM,
    EVALUATION_CASES,
    EvaluationSpec,
    make_evaluation_subject,
)
from EyeAtlasSegmentLib.synthetic.scoring import dice_per_structure

#: Both orbits at 1 mm, no pose or size randomness and no bias: the truth must follow the nominal geometry exactly.
NOMINAL = EvaluationSpec(case_id="nominal", seed=5, fov="orbits", head_rotation_deg=0.0, head_shift_mm=0.0,
                         eye_rotation_deg=0.0, eye_scale_jitter=0.0, eye_shift_mm=0.0, bias_amplitude=0.0)
CASES = {spec.case_id: spec for spec in EVALUATION_CASES}


@cache
def _subject(spec: EvaluationSpec):
    """The subject of ``spec``, generated once per session."""
    return make_evaluation_subject(spec)


def _volumes_mm3(subject) -> np.ndarray:
    """Volume (mm³) of every label value 0-19 of the truth."""
    counts = np.bincount(sitk.GetArrayViewFromImage(subject.truth_labels).ravel(), minlength=20)
    return counts * np.prod(subject.truth_labels.GetSpacing())


@pytest.fixture(scope="module")
def nominal():
    return _subject(NOMINAL)


@pytest.fixture(scope="module")
def by_contrast(nominal):
    return {"T1": nominal, **{c: make_evaluation_subject(replace(NOMINAL, contrast=c)) for c in ("T2", "PD")}}


def test_every_structure_volume_is_within_30_percent_of_the_population_mean():
    volumes = _volumes_mm3(_subject(CASES["t1-orbits-only-1mm"]))
    for eye in EYES:
        for s in STRUCTURES:
            mean = population_norm(eye, "combined", s.key).mean
            assert 0.7 * mean <= volumes[output_label(eye, s.label)] <= 1.3 * mean, (eye, s.key)


@pytest.mark.parametrize("case_id", ["t1-orbits-only-1mm", "t1-eyes-rotated-15deg", "t1-head-1mm-oblique"])
def test_globe_centre_is_at_the_stated_ras_position_with_the_right_eye_at_larger_x(case_id):
    subject = _subject(replace(CASES[case_id], fov="orbits"))  # the orbits are all that matter here; smaller and faster
    for eye in EYES:
        globe_and_lens = [output_label(eye, 1), output_label(eye, 2)]
        centroid_ras = lps_to_ras(label_centroid_lps(subject.truth_labels, globe_and_lens))
        # The corneal bulge moves the centroid ~0.4 mm forward of the scleral-ellipsoid centre.
        assert np.linalg.norm(centroid_ras - subject.globe_centres_ras_mm[eye]) < 1.0, eye
    assert subject.globe_centres_ras_mm["right"][0] > subject.globe_centres_ras_mm["left"][0] + 50.0


def test_left_eye_truth_is_the_mirror_image_of_the_right(nominal):
    labels = sitk.GetArrayFromImage(nominal.truth_labels)  # RAS grid: array axis 2 runs right, centred on x = 0
    mirrored_left = np.where(labels[:, :, ::-1] >= 11, labels[:, :, ::-1] - 10, 0)
    in_right = (labels >= 1) & (labels <= 9)
    assert np.mean(labels[in_right] == mirrored_left[in_right]) > 0.995
    assert np.sum(mirrored_left > 0) == pytest.approx(np.sum(in_right), rel=0.005)
    centres = nominal.globe_centres_ras_mm
    np.testing.assert_allclose(centres["left"], np.multiply(centres["right"], [-1.0, 1.0, 1.0]), atol=1e-9)


@pytest.mark.parametrize("case_id, axis_code", [("t1-orbit-axial-0.5x0.5x3mm", "LPS"),
                                                ("t2-orbit-coronal-0.5x0.5x3mm", "LIP")])
def test_orbit_protocol_grid_has_the_requested_spacing_orientation_and_both_orbits(case_id, axis_code):
    subject = _subject(CASES[case_id])
    assert subject.image.GetSpacing() == pytest.approx((0.5, 0.5, 3.0))
    direction = np.reshape(subject.image.GetDirection(), (3, 3))
    np.testing.assert_allclose(direction, direction_lps_from_axis_code(axis_code))
    assert subject.truth_labels.GetSize() == subject.image.GetSize()
    assert subject.truth_labels.GetPixelID() == sitk.sitkUInt8
    volumes = _volumes_mm3(subject)
    assert all(volumes[output_label(eye, s.label)] > 0 for eye in EYES for s in STRUCTURES)


def test_cut_orbit_field_of_view_ends_lateral_of_the_left_globe_and_cuts_only_that_orbit():
    subject = _subject(CASES["t2-cut-left-orbit-1mm"])
    leftmost_x_ras = -np.max(voxel_centres_lps(subject.image)[..., 0])  # RAS x = −LPS x
    assert leftmost_x_ras == pytest.approx(subject.globe_centres_ras_mm["left"][0] - CUT_ORBIT_LATERAL_MM, abs=1.0)
    volumes = _volumes_mm3(subject)
    assert volumes[output_label("left", 2)] == pytest.approx(volumes[output_label("right", 2)], rel=0.1)
    assert volumes[output_label("left", 5)] < 0.9 * volumes[output_label("right", 5)]  # lateral extraconal fat cut


def test_scaling_the_eyes_scales_the_globe_volume_by_the_cube(nominal):
    larger = make_evaluation_subject(replace(NOMINAL, eye_scale=1.15))
    ratio = _volumes_mm3(larger)[2] / _volumes_mm3(nominal)[2]
    assert ratio == pytest.approx(1.15 ** 3, rel=0.03)


def _mean_in(subject, atlas_labels) -> float:
    """Mean noiseless intensity in the given structures of both eyes."""
    image = sitk.GetArrayViewFromImage(subject.noiseless)
    labels = sitk.GetArrayViewFromImage(subject.truth_labels)
    return float(image[np.isin(labels, [output_label(e, a) for e in EYES for a in atlas_labels])].mean())


def test_mean_intensities_order_as_each_contrast_should(by_contrast):
    lens, globe, fat, muscle = (1,), (2,), (5,), (6, 7, 8, 9)
    t1, t2, pd = (by_contrast[c] for c in ("T1", "T2", "PD"))
    assert _mean_in(t1, fat) > _mean_in(t1, muscle) > _mean_in(t1, globe)
    assert _mean_in(t1, lens) > _mean_in(t1, globe)
    assert _mean_in(t2, globe) > _mean_in(t2, fat) > _mean_in(t2, muscle)
    assert _mean_in(t2, lens) < _mean_in(t2, globe)
    assert _mean_in(pd, fat) > _mean_in(pd, globe) > _mean_in(pd, muscle)
    assert _mean_in(pd, globe) - _mean_in(pd, muscle) < 0.25 * _mean_in(pd, fat)  # low contrast, as PD is


def test_the_same_seed_gives_the_same_subject_and_another_seed_does_not(nominal):
    again = make_evaluation_subject(NOMINAL)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(again.image), sitk.GetArrayViewFromImage(nominal.image))
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(again.truth_labels),
                                  sitk.GetArrayViewFromImage(nominal.truth_labels))
    other = make_evaluation_subject(replace(NOMINAL, seed=NOMINAL.seed + 1))
    assert not np.array_equal(sitk.GetArrayViewFromImage(other.image), sitk.GetArrayViewFromImage(nominal.image))


def test_rician_noise_has_the_requested_sigma_in_air(nominal):
    image = sitk.GetArrayViewFromImage(nominal.image)
    air = sitk.GetArrayViewFromImage(nominal.noiseless) == 0.0
    assert air.sum() > 10_000
    assert image[air].mean() == pytest.approx(np.sqrt(np.pi / 2) * NOMINAL.noise_sigma, rel=0.03)  # Rayleigh


#: The floor issue 8 asks of a pipeline judged on a family it was not tuned on (looser than the tuning family's).
MEAN_DICE_FLOOR = 0.6
GLOBE_DICE_FLOOR = 0.8


#: Measured 2026-12-02: mean Dice 0.26–0.47 per eye on these cases (issue 8 is open). Strict: the test fails loudly as
#: soon as the registration reaches the floor, so that the marker is removed then.
BELOW_THE_EVALUATION_FLOOR = pytest.mark.xfail(
    strict=True, reason="issue 8: the registration does not yet generalise to the evaluation family")


@pytest.mark.slow
@BELOW_THE_EVALUATION_FLOOR
@pytest.mark.parametrize("case_id", ["t1-head-1mm-RAS", "t2-head-1mm-LPS"])
def test_every_segmented_eye_reaches_the_evaluation_floor(case_id, synthetic_atlas_dir, tmp_path):
    subject = make_evaluation_subject(CASES[case_id])
    path = tmp_path / "subject.nii.gz"
    sitk.WriteImage(subject.image, str(path))
    result = run_pipeline(path, synthetic_atlas_dir, PipelineOptions())
    assert result.eyes, f"no eye segmented: {result.missing_eyes}"
    dice = {eye: dice_per_structure(result.labels, subject.truth_labels, eye) for eye in result.eyes}
    mean = {eye: float(np.mean(list(d.values()))) for eye, d in dice.items()}
    summary = "; ".join(f"{eye}: mean {mean[eye]:.2f}, " + ", ".join(f"{k} {v:.2f}" for k, v in d.items())
                        for eye, d in dice.items())
    assert all(d["globe"] >= GLOBE_DICE_FLOOR for d in dice.values()), summary
    assert all(m >= MEAN_DICE_FLOOR for m in mean.values()), summary
