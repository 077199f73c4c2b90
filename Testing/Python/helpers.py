"""Test helpers: Dice per structure against synthetic ground truth."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.structures import STRUCTURES, output_label


def dice_per_structure(predicted: sitk.Image, truth: sitk.Image, eye: str) -> dict[str, float]:
    """Dice of each of the nine structures of one eye (labels as in labels.nii.gz)."""
    p = sitk.GetArrayViewFromImage(predicted)
    t = sitk.GetArrayViewFromImage(truth)
    scores = {}
    for s in STRUCTURES:
        value = output_label(eye, s.label)
        a, b = p == value, t == value
        scores[s.key] = 2.0 * np.sum(a & b) / max(1, np.sum(a) + np.sum(b))
    return scores
