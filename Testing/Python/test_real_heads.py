"""Real whole-head MRIs (../shared/data): the warped globe lands on the real globe of each eye."""

from __future__ import annotations

import numpy as np
import pytest

from EyeAtlasSegmentLib.errors import EyeAtlasError
from EyeAtlasSegmentLib.geometry import lps_to_ras
from EyeAtlasSegmentLib.pipeline import run_pipeline
from EyeAtlasSegmentLib.registration import label_centroid_lps
from EyeAtlasSegmentLib.structures import output_label
from conftest import REQUIRED_REAL_HEADS, read_globe_centres

pytestmark = pytest.mark.slow

GLOBE_CENTROID_TOLERANCE_MM = 3.0


@pytest.mark.parametrize("name", REQUIRED_REAL_HEADS)
def test_warped_globe_centroid_matches_reference(name, shared_data, synthetic_atlas_dir):
    reference = read_globe_centres(shared_data)
    result = run_pipeline(shared_data / name, synthetic_atlas_dir)
    for eye in ("right", "left"):
        centroid_ras = lps_to_ras(label_centroid_lps(result.labels, [output_label(eye, 2)]))
        error_mm = np.linalg.norm(centroid_ras - np.asarray(reference[(name, eye)]))
        assert error_mm < GLOBE_CENTROID_TOLERANCE_MM, f"{name} {eye}: globe centroid off by {error_mm:.1f} mm"


def test_defaced_head_warns_or_fails_clearly(shared_data, synthetic_atlas_dir):
    """Defacing blurred away the front of both globes: the tool must not report silently."""
    try:
        result = run_pipeline(shared_data / "vsseg001_t1c_defaced.nii.gz", synthetic_atlas_dir)
    except EyeAtlasError as exc:
        assert str(exc)
        return
    assert any("defac" in w or "anterior boundary" in w for w in result.warnings), result.warnings
