"""Coarse search: globe candidates are the local maxima of the sphere detector's score maps inside the head, weighted
by how close behind the anterior skin surface they lie (a globe sits just behind the lids)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .detector import POLARITIES, ball_score_maps
from .settings import GlobeFinderSettings
from .volume import CoarseVolume


@dataclass(frozen=True)
class Candidate:
    centre_lps_mm: np.ndarray
    radius_mm: float
    score: float
    polarity: str


def detect_candidates(volume: CoarseVolume, settings: GlobeFinderSettings) -> list[Candidate]:
    """Candidates of both polarities, strongest first."""
    score_maps, radius_maps = ball_score_maps(volume, settings)
    candidates = []
    for polarity in POLARITIES:
        candidates.extend(_local_maxima(score_maps[polarity], radius_maps[polarity], polarity, volume, settings))
    return sorted(candidates, key=lambda c: -c.score)


def _local_maxima(score_zyx: np.ndarray, radius_zyx: np.ndarray, polarity: str, volume: CoarseVolume,
                  settings: GlobeFinderSettings) -> list[Candidate]:
    box_maximum_zyx = sitk.GetArrayFromImage(sitk.GrayscaleDilate(sitk.GetImageFromArray(score_zyx), [2, 2, 2],
                                                                  sitk.sitkBox))
    peaks_zyx = np.argwhere((score_zyx >= box_maximum_zyx) & (score_zyx > settings.min_score))
    order = np.argsort(-score_zyx[tuple(peaks_zyx.T)])
    candidates: list[Candidate] = []
    for index_zyx in peaks_zyx[order]:
        centre_lps_mm = volume.grid.to_lps(index_zyx)
        if any(np.linalg.norm(c.centre_lps_mm - centre_lps_mm) < settings.min_candidate_separation_mm
               for c in candidates):
            continue  # another radius or a sub-region of a ball already listed
        score = float(score_zyx[tuple(index_zyx)]) * _anterior_prior(index_zyx, volume, settings)
        if score > settings.min_score:
            candidates.append(Candidate(centre_lps_mm, float(radius_zyx[tuple(index_zyx)]), score, polarity))
        if len(candidates) == settings.candidates_per_polarity:
            break
    return candidates


def _anterior_prior(index_zyx: np.ndarray, volume: CoarseVolume, settings: GlobeFinderSettings) -> float:
    """1 when the anterior skin surface (towards −y in LPS) is close in front of the point, fading to 0.

    Where the head reaches the field-of-view boundary, that boundary stands in for the skin surface.
    """
    z, y, x = (int(v) for v in index_zyx)
    column_head = volume.head_zyx[z, :y + 1, x]
    if not column_head.any():
        return 0.0
    depth_mm = (y - int(np.argmax(column_head))) * volume.grid.spacing_mm
    near_mm, far_mm = settings.max_anterior_depth_mm
    return float(np.clip((far_mm - depth_mm) / (far_mm - near_mm), 0.0, 1.0))
