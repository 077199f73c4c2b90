"""Agreement of a segmentation with the known truth of a synthetic subject (tests and benchmarks)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..structures import STRUCTURES, output_label


def dice_per_structure(predicted: sitk.Image, truth: sitk.Image, eye: str) -> dict[str, float]:
    """Dice, 2|A∩B| / (|A| + |B|), of each of the nine structures of one eye (labels as in labels.nii.gz);
    0 for a structure absent from both."""
    p = sitk.GetArrayViewFromImage(predicted)
    t = sitk.GetArrayViewFromImage(truth)
    scores = {}
    for s in STRUCTURES:
        value = output_label(eye, s.label)
        a, b = p == value, t == value
        scores[s.key] = 2.0 * np.sum(a & b) / max(1, np.sum(a) + np.sum(b))
    return scores
