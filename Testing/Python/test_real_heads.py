"""Real whole-head MRIs (../shared/data): every eye is either right in every sense we can check, or refused.

Right means: the warped globe's centroid is at the measured centre (``globe_centres.tsv``), all nine volumes lie
within the population mean ± 3.5 SD (MR-Eye normative data), and the two globes agree within 25 %. Refused means:
no labels for that eye, a reason in ``missing_eyes`` and rows that say "not_segmented".
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import read_globe_centres

from EyeAtlasSegmentLib.errors import EyeAtlasError
from EyeAtlasSegmentLib.geometry import lps_to_ras
from EyeAtlasSegmentLib.normative import population_norm
from EyeAtlasSegmentLib.pipeline import run_pipeline
from EyeAtlasSegmentLib.registration import label_centroid_lps
from EyeAtlasSegmentLib.structures import STRUCTURES, output_label

pytestmark = pytest.mark.slow

#: Defacing blurred away the front of both globes: the run must say so, or fail clearly.
DEFACED = "vsseg001_t1c_defaced.nii.gz"
#: MNI152 (a 2 mm average of many heads): both globes land 3.2 mm from the reference with plausible volumes; no
#: check of ours can see it, so they are written as results (issue 8 open). Not strict: the error sits at the limit.
MNI_AT_3_2_MM = pytest.mark.xfail(reason="issue 8: MNI152 globe centroids 3.2 mm from the reference")
HEADS = ["chris_t1.nii.gz", "seg3D_MR.nii.gz", pytest.param("MNI152_T1_2mm.nii.gz", marks=MNI_AT_3_2_MM),
         "niivue_register_T2w.nii.gz", DEFACED]
#: The T2 rows mark the centre of the posterior-wall sphere, 3–5 mm behind the whole globe's (data README).
CENTROID_TOLERANCE_MM = {"niivue_register_T2w.nii.gz": 5.0}
DEFAULT_CENTROID_TOLERANCE_MM = 3.0
MAX_VOLUME_Z = 3.5
MAX_GLOBE_ASYMMETRY = 0.25


def _segmented_eye_problems(name: str, result, reference) -> dict[str, list[str]]:
    """Per segmented eye, what fails the three checks (empty lists when all hold)."""
    problems: dict[str, list[str]] = {}
    rows = {(r.eye, r.structure): r for r in result.stats}
    for eye in result.eyes:
        found = []
        centroid = lps_to_ras(label_centroid_lps(result.labels, [output_label(eye, 2)]))
        error_mm = float(np.linalg.norm(centroid - np.asarray(reference[(name, eye)])))
        if error_mm > CENTROID_TOLERANCE_MM.get(name, DEFAULT_CENTROID_TOLERANCE_MM):
            found.append(f"globe centroid {error_mm:.1f} mm from the reference")
        for s in STRUCTURES:
            z = population_norm(eye, result.atlas.sex, s.key).z_score(rows[(eye, s.key)].volume_mm3)
            if abs(z) > MAX_VOLUME_Z:
                found.append(f"{s.key} volume z {z:+.1f}")
        problems[eye] = found
    if len(result.eyes) == 2:
        right, left = rows[("right", "globe")].volume_mm3, rows[("left", "globe")].volume_mm3
        if abs(right - left) / max(right, left) > MAX_GLOBE_ASYMMETRY:
            for eye in result.eyes:
                problems[eye].append(f"globes differ: right {right:.0f}, left {left:.0f} mm³")
    return problems


@pytest.mark.parametrize("name", HEADS)
def test_every_eye_is_plausible_where_it_was_measured_or_refused_with_a_reason(name, shared_data,
                                                                               synthetic_atlas_dir):
    reference = read_globe_centres(shared_data)
    try:
        result = run_pipeline(shared_data / name, synthetic_atlas_dir)
    except EyeAtlasError as exc:  # both eyes refused: the whole run fails with the reasons
        assert "refused" in str(exc) or "not" in str(exc), str(exc)
        return
    if name == DEFACED:
        assert any("defac" in w or "anterior boundary" in w for w in result.warnings), result.warnings
    problems = _segmented_eye_problems(name, result, reference)
    assert not any(problems.values()), f"{name}: implausible eyes written as results: {problems}"
    labels = sitk.GetArrayViewFromImage(result.labels)
    for eye, reason in result.missing_eyes.items():
        assert reason
        assert not np.isin(labels, [output_label(eye, s.label) for s in STRUCTURES]).any()
        assert {r.qc_status for r in result.stats if r.eye == eye} == {"not_segmented"}

