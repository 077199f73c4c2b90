"""Which globe centre the pipeline uses: detected, user-given, or user-given snapped to the detected globe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from EyeAtlasSegmentLib.geometry import lps_to_ras
from EyeAtlasSegmentLib.globe_centres import resolve_globe_centres
from EyeAtlasSegmentLib.image_io import LoadedImage
from EyeAtlasSegmentLib.registration import label_centroid_lps
from EyeAtlasSegmentLib.structures import EYES
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject


@pytest.fixture(scope="module")
def subject_and_image():
    subject = make_subject(SubjectSpec(seed=31, fov_mm=(160.0, 220.0, 170.0)))
    loaded = LoadedImage(subject.image, np.eye(4), Path("synthetic"), "nifti", False, [], {})
    return subject, loaded


def _truth_ras(subject, labels):
    return lps_to_ras(label_centroid_lps(subject.truth_labels, labels))


def test_detected_centres_without_user_input(subject_and_image):
    subject, loaded = subject_and_image
    centres, missing, search = resolve_globe_centres(loaded.image, EYES, {}, [])
    assert missing == {} and {c[1] for c in centres.values()} == {"detected"}
    assert set(search["detections"]) == {"right", "left"} and "high_confidence" in search["settings"]
    assert np.linalg.norm(lps_to_ras(centres["right"][0]) - _truth_ras(subject, [1, 2])) < 2.0


def test_rough_user_click_snaps_to_the_fitted_globe(subject_and_image):
    subject, loaded = subject_and_image
    truth = _truth_ras(subject, [11, 12])
    click = truth + np.array([4.0, -3.0, 3.0])  # 5.8 mm off
    warnings: list[str] = []
    centres, _, _ = resolve_globe_centres(loaded.image, ("left",), {"left": click}, warnings)
    centre_lps, source, score = centres["left"]
    assert source == "user_refined" and score is not None
    assert np.linalg.norm(lps_to_ras(centre_lps) - truth) < 2.0
    assert any("refined" in w for w in warnings)


def test_user_centre_far_from_any_globe_is_used_as_given(subject_and_image):
    subject, loaded = subject_and_image
    far = _truth_ras(subject, [1, 2]) + np.array([0.0, -25.0, 0.0])
    centres, _, _ = resolve_globe_centres(loaded.image, ("right",), {"right": far}, [])
    centre_lps, source, _ = centres["right"]
    assert source == "user"
    np.testing.assert_allclose(lps_to_ras(centre_lps), far)
