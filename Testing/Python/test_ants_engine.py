"""The optional ANTs engine (antspyx, in the test extras): its transforms compose correctly into label transfer."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
from EyeAtlasSegmentLib.synthetic.scoring import dice_per_structure
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

pytestmark = pytest.mark.slow


def test_ants_engine_segments_a_synthetic_eye(synthetic_atlas_dir, tmp_path):
    pytest.importorskip("ants", reason="antspyx comes with the test extras: pip install -e '.[test]'")
    subject = make_subject(SubjectSpec(seed=100))
    path = tmp_path / "subject.nii.gz"
    sitk.WriteImage(subject.image, str(path))
    result = run_pipeline(path, synthetic_atlas_dir, PipelineOptions(eyes=("right",), engine="ants"))
    assert result.eyes["right"].registration.engine == "ants"
    assert result.missing_eyes == {}
    dice = dice_per_structure(result.labels, subject.truth_labels, "right")
    assert dice["globe"] >= 0.93, dice
    assert np.mean(list(dice.values())) >= 0.85, dice
