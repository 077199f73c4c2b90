"""The synthetic atlas and subjects: volumes close to the population norms, exact geometry, known noise."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.geometry import lps_to_ras
from EyeAtlasSegmentLib.normative import population_norm
from EyeAtlasSegmentLib.registration import label_centroid_lps
from EyeAtlasSegmentLib.structures import STRUCTURES
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

# Right-eye means of mr_eye_normative.csv (both sexes), mm³.
NORMATIVE_MEAN_MM3 = {"lens": 117.0, "globe": 4672.4, "optic_nerve": 531.0, "intraconal_fat": 2668.0,
                      "extraconal_fat": 3385.8, "lateral_rectus": 504.4, "medial_rectus": 656.7,
                      "inferior_rectus": 625.3, "superior_rectus": 789.6}


def test_synthetic_atlas_volumes_match_population_means(synthetic_atlas_dir):
    labels = sitk.ReadImage(str(synthetic_atlas_dir / "combined" / "1_max_prob_map.nii.gz"))
    counts = np.bincount(np.rint(sitk.GetArrayFromImage(labels)).astype(int).ravel(), minlength=10)
    voxel_mm3 = float(np.prod(labels.GetSpacing()))
    for s in STRUCTURES:
        assert counts[s.label] * voxel_mm3 == pytest.approx(NORMATIVE_MEAN_MM3[s.key], rel=0.15), s.key


@pytest.fixture(scope="module")
def small_subjects():
    """The same subject (same seed) on two different grids; a reduced field of view keeps it fast."""
    common = dict(seed=3, fov_mm=(150.0, 210.0, 150.0), noise_sigma=25.0)
    return (make_subject(SubjectSpec(orientation="RAS", spacing_mm=(1.0, 1.0, 1.0), **common)),
            make_subject(SubjectSpec(orientation="PIL", spacing_mm=(1.2, 0.9, 1.5), **common)))


def test_subject_truth_has_both_eyes_with_plausible_volumes(small_subjects):
    subject = small_subjects[0]
    counts = np.bincount(sitk.GetArrayFromImage(subject.truth_labels).ravel(), minlength=20)
    for eye, offset in (("right", 0), ("left", 10)):
        for s in STRUCTURES:
            norm = population_norm(eye, "combined", s.key)
            assert norm.p2_5 <= counts[s.label + offset] <= norm.p97_5, (eye, s.key)


def test_subject_anatomy_is_the_same_on_any_grid(small_subjects):
    """Orientation and voxel size change the sampling, not the physical anatomy (RAS centroids agree)."""
    a, b = small_subjects
    assert a.truth_labels.GetDirection() != b.truth_labels.GetDirection()
    # The bound is set by the thinnest structure: the 4 mm optic nerve, 50 mm long, sampled on 1.2 × 0.9 × 1.5 mm.
    for labels in ([2], [12], [3], [16]):
        centre_a = lps_to_ras(label_centroid_lps(a.truth_labels, labels))
        centre_b = lps_to_ras(label_centroid_lps(b.truth_labels, labels))
        assert np.linalg.norm(centre_a - centre_b) < 0.8, labels
    right_globe = lps_to_ras(label_centroid_lps(a.truth_labels, [1, 2]))
    assert np.linalg.norm(right_globe - np.asarray(a.globe_centres_ras_mm["right"])) < 2.5
    assert right_globe[0] > lps_to_ras(label_centroid_lps(a.truth_labels, [11, 12]))[0]  # right eye at larger R


def test_subject_background_is_rayleigh_with_the_given_sigma(small_subjects):
    subject = small_subjects[0]
    image = sitk.GetArrayFromImage(subject.image)
    noiseless = sitk.GetArrayFromImage(subject.noiseless)
    air = noiseless < 0.01 * subject.noise_sigma
    assert air.sum() > 100_000
    sigma = subject.noise_sigma
    assert image[air].mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.01)
    assert image[air].std() == pytest.approx(sigma * np.sqrt((4 - np.pi) / 2), rel=0.01)
