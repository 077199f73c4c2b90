"""The whole-head route (--via mni152): the release's MNI152 head registered to the patient, refined per eye."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.atlas import load_atlas, load_standard_space
from EyeAtlasSegmentLib.errors import EyeAtlasError
from EyeAtlasSegmentLib.geometry import lps_to_ras
from EyeAtlasSegmentLib.outputs import report_content
from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
from EyeAtlasSegmentLib.synthetic.atlas_generator import STANDARD_GLOBES_RAS_MM
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject
from EyeAtlasSegmentLib.whole_head import locate_eyes_via_template, template_eye_centres_lps


@pytest.fixture(scope="module")
def subject():
    return make_subject(SubjectSpec(seed=3, spacing_mm=(1.5, 1.5, 1.5), orientation="LPS"))


@pytest.fixture(scope="module")
def subject_file(subject, tmp_path_factory):
    path = tmp_path_factory.mktemp("subject") / "subject.nii.gz"
    sitk.WriteImage(subject.image, str(path))
    return path


def test_the_unlabelled_left_eye_is_the_mirror_of_the_right(synthetic_atlas_dir):
    template_centres_lps = template_eye_centres_lps(load_standard_space(synthetic_atlas_dir))
    centres = {eye: lps_to_ras(c) for eye, c in template_centres_lps.items()}
    # Lens + globe centroid of the right eye, drawn at the globe centre; the left eye carries no label.
    np.testing.assert_allclose(centres["right"], STANDARD_GLOBES_RAS_MM["right"], atol=2.0)
    np.testing.assert_allclose(centres["left"], centres["right"] * [-1, 1, 1])


def test_an_unknown_route_is_refused_before_any_work(synthetic_atlas_dir, tmp_path):
    with pytest.raises(EyeAtlasError, match="via must be one of globes, mni152, colin27"):
        run_pipeline(tmp_path / "not_read.nii.gz", synthetic_atlas_dir, PipelineOptions(via="talairach"))


@pytest.mark.slow
def test_both_eyes_are_found_through_the_whole_head_and_refined(synthetic_atlas_dir, subject):
    located = locate_eyes_via_template(subject.image, load_atlas(synthetic_atlas_dir),
                                       load_standard_space(synthetic_atlas_dir, "mni152"))
    for eye in ("right", "left"):
        truth = np.asarray(subject.globe_centres_ras_mm[eye])
        head_error = np.linalg.norm(lps_to_ras(located.head_estimates_lps_mm[eye]) - truth)
        refined_error = np.linalg.norm(lps_to_ras(located.centres_lps_mm[eye]) - truth)
        assert head_error < 8.0, eye  # measured 4.5 / 3.6 mm
        assert refined_error < 2.0, eye  # measured 0.7 / 0.8 mm
    assert located.warnings == [] and located.missing == {}


@pytest.mark.slow
def test_the_pipeline_segments_an_eye_located_via_mni152(synthetic_atlas_dir, subject, subject_file):
    result = run_pipeline(subject_file, synthetic_atlas_dir, PipelineOptions(via="mni152", eyes=("right",)))
    eye = result.eyes["right"]
    assert eye.centre_source == "mni152"
    assert np.linalg.norm(np.asarray(eye.centre_ras_mm) - subject.globe_centres_ras_mm["right"]) < 2.0
    assert report_content(result)["eyes_located_via"] == "mni152"
    assert any("mni152 whole-head template" in w for w in result.warnings)
