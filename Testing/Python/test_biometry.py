"""Eye biometry on analytic eyes of known geometry (ellipsoids, a curved nerve, flat recti), both eyes, on an
axis-aligned grid and on a rotated anisotropic one; and every measure against the population."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.biometry import FALLBACK_ANTERIOR_OFFSET_MM, MEASURES, measure_biometry, measure_eye
from EyeAtlasSegmentLib.noise import NoiseEstimate
from EyeAtlasSegmentLib.normative import population_norm
from EyeAtlasSegmentLib.population import BIOMETRY_COLUMNS, compare_with_population, population_sex
from EyeAtlasSegmentLib.statistics import not_segmented_rows, structure_statistics
from EyeAtlasSegmentLib.synthetic.analytic_eye import AnalyticEye, analytic_eyes_image

RIGHT = AnalyticEye()  # closed lids: the cornea lies against the lid
LEFT = AnalyticEye(globe_semi_mm=(11.8, 11.2, 11.8), lens_semi_mm=(4.2, 4.1, 1.8), closed_lids=False, yaw_deg=5.0,
                   pitch_deg=4.0, nerve_radius_mm=2.3)  # open eyes: air in front of the cornea
#: Allowed error per measure (mm, or a fraction for the areas) on grids up to 1.5 mm: an edge on binary labels is
#: placed to about half a voxel, so a length between two edges to about a voxel (benchmarks/bench_biometry.py).
TOLERANCE = {"axial_length": 0.6, "anterior_offset": 0.75, "axial_length_with_cornea": 0.6, "lens_thickness": 0.6,
             "lens_diameter": 0.4, "globe_horizontal_diameter": 0.5, "globe_vertical_diameter": 0.5,
             "optic_nerve_mean_diameter": 0.25}
AREA_TOLERANCE = 0.15
GRIDS = {"axis-aligned 1 mm": ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
         "rotated 0.8 x 1.0 x 1.5 mm": ((0.8, 1.0, 1.5), (20.0, -15.0, 30.0))}


@pytest.fixture(scope="module", params=list(GRIDS))
def measured(request):
    spacing, rotation = GRIDS[request.param]
    phantom = analytic_eyes_image(RIGHT, LEFT, spacing, rotation, noise_sigma=10.0)
    return phantom, measure_biometry(phantom.image, phantom.labels, ("right", "left"))


@pytest.mark.parametrize("eye", ["right", "left"])
def test_every_length_and_area_matches_the_analytic_eye(measured, eye):
    phantom, biometry = measured
    truth, values = phantom.truth[eye], biometry[eye].values
    for measure, limit in TOLERANCE.items():
        if measure in truth:
            assert values[measure] == pytest.approx(truth[measure], abs=limit), measure
    for measure in (m for m in MEASURES if m.endswith("_max_area")):
        assert values[measure] == pytest.approx(truth[measure], rel=AREA_TOLERANCE), measure


def test_each_eye_gets_its_own_geometry(measured):
    phantom, biometry = measured
    for measure in ("axial_length", "globe_horizontal_diameter", "optic_nerve_mean_diameter"):
        for eye, other in (("right", "left"), ("left", "right")):
            value = biometry[eye].values[measure]
            assert abs(value - phantom.truth[eye][measure]) < abs(value - phantom.truth[other][measure]), measure


def test_the_eye_axis_points_anterior_through_the_lens(measured):
    phantom, biometry = measured
    for eye, spec in (("right", RIGHT), ("left", LEFT)):
        true_axis = spec.frame_ras(mirror=eye == "left")[:, 2]
        assert np.degrees(np.arccos(np.dot(biometry[eye].axis_ras, true_axis))) < 3.0
        landmarks = biometry[eye].landmarks_ras_mm
        length = np.linalg.norm(np.subtract(landmarks["lens_front"], landmarks["globe_back"]))
        assert length == pytest.approx(biometry[eye].values["axial_length"], abs=1e-6)


def test_the_cornea_is_found_from_the_intensity_with_closed_lids_and_falls_back_without(measured):
    _, biometry = measured
    right, left = biometry["right"], biometry["left"]
    assert right.anterior_offset_source == "intensity_gradient" and "anterior_offset" not in right.notes
    assert left.anterior_offset_source == "fallback"
    assert left.values["anterior_offset"] == FALLBACK_ANTERIOR_OFFSET_MM
    assert "2.72" in left.notes["anterior_offset"]
    assert left.values["axial_length_with_cornea"] == pytest.approx(left.values["axial_length"] + 2.72)


def test_an_eye_without_a_lens_has_no_axial_measures_and_says_why():
    phantom = analytic_eyes_image(RIGHT, LEFT, (1.2, 1.2, 1.2))
    array = sitk.GetArrayFromImage(phantom.labels)
    array[array == 1] = 0
    labels = sitk.GetImageFromArray(array)
    labels.CopyInformation(phantom.labels)
    biometry = measure_eye(phantom.image, labels, "right")
    for measure in ("axial_length", "lens_thickness", "lens_diameter", "anterior_offset", "axial_length_with_cornea"):
        assert biometry.values[measure] is None and biometry.notes[measure], measure
    assert biometry.values["optic_nerve_mean_diameter"] == pytest.approx(2 * RIGHT.nerve_radius_mm, abs=0.25)


def test_percentiles_reproduce_the_published_ones_on_both_sides_of_the_median():
    norm = population_norm("right", "female", "lens")  # skewed: the lower tail is three times the upper
    assert norm.percentile(norm.p2_5) == pytest.approx(2.5)
    assert norm.percentile(norm.p50) == pytest.approx(50.0)
    assert norm.percentile(norm.p97_5) == pytest.approx(97.5)
    assert (norm.band(norm.p2_5 - 1), norm.band(norm.p50), norm.band(norm.p97_5 + 1)) == ("low", "", "high")


def test_the_population_is_the_atlas_sex_else_the_patients_else_both():
    assert population_sex("female", "M")[0] == "female"
    assert population_sex("combined", "M")[0] == "male"
    assert population_sex("combined", None) == ("combined", "sex unknown: both sexes")


def test_every_volume_and_the_axial_length_are_compared_with_the_sex_specific_population(measured):
    phantom, biometry = measured
    stats = structure_statistics(phantom.image, phantom.labels, ["right"], NoiseEstimate("roi", 10.0, 5000))
    stats += not_segmented_rows("left", "outside the field of view")
    result = compare_with_population({"right": biometry["right"]}, stats, {"left": "outside the field of view"},
                                     ("right", "left"), "female")
    rows = {(r.eye, r.measure): r for r in result.rows}
    assert len(rows) == len(result.rows) == 2 * (10 + len(MEASURES))
    assert set(result.rows[0].as_row()) == set(BIOMETRY_COLUMNS)
    axial = rows["right", "axial_length"]
    norm = population_norm("right", "female", "axial_length")
    assert (axial.population, axial.population_mean, axial.population_sd) == ("F", norm.mean, norm.sd)
    assert axial.z_score == pytest.approx((axial.value - norm.mean) / norm.sd)
    assert axial.flag == norm.band(axial.value)
    globe = rows["right", "globe_volume"]
    assert globe.value == pytest.approx(next(s.volume_mm3 for s in stats if s.structure == "globe"))
    assert 0 < globe.percentile < 100
    assert rows["right", "total_volume"].value == pytest.approx(
        sum(s.volume_mm3 for s in stats if s.eye == "right"))
    lens_thickness = rows["right", "lens_thickness"]
    assert lens_thickness.z_score is None and "no MR-Eye population norm" in lens_thickness.note
    missing = rows["left", "axial_length"]
    assert missing.value is None and missing.z_score is None and missing.note == "outside the field of view"
