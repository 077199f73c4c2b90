"""``find_globes``: the steps in order, for each reading of the contrast (as given, inverted) that is needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..geometry import lps_to_ras
from ..structures import EYES
from .coarse_search import Candidate, detect_candidates
from .pairing import PairCheck, check_pair, choose_globes
from .refinement import refine
from .results import GlobeDetection, GlobeSearchResult
from .settings import DEFAULT_SETTINGS, GlobeFinderSettings
from .volume import Grid, Reading, bright_border_share, coarse_raw, prepare_volume, validate_request

NO_TISSUE = "the image contains no tissue above the background noise"


@dataclass
class _Outcome:
    """The search under one reading of the contrast."""

    reading: Reading
    detections: dict[str, GlobeDetection] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    candidates: int = 0
    pair: PairCheck | None = None

    def rank(self) -> tuple[int, int, float]:
        """Accepted globes, then how many of them are "high", then their summed score."""
        accepted = self.detections.values()
        return len(accepted), sum(d.confidence == "high" for d in accepted), sum(d.score for d in accepted)


def find_globes(image: sitk.Image, eyes: Sequence[str] = EYES,
                settings: GlobeFinderSettings = DEFAULT_SETTINGS) -> GlobeSearchResult:
    """Locate the requested eyes' globes in ``image`` (any MR contrast, any orientation, LPS geometry).

    Both globes are always searched for (the pair is the strongest cue); only the requested ``eyes`` are returned.
    An eye that is not found, or whose only candidate is too weak and not confirmed by its partner, is listed in
    ``missing`` with a one-line reason: a position is never guessed. Raises ``InputImageError`` for an image that
    cannot be a head MRI (not 3D, several channels, a mask or label map).
    """
    requested = validate_request(image, eyes, settings)
    raw_zyx, valid_zyx, grid = coarse_raw(image, settings)
    bright_share = bright_border_share(raw_zyx, valid_zyx)
    outcomes: list[_Outcome] = []
    for reading in _readings(raw_zyx, valid_zyx, bright_share, settings):
        outcomes.append(_search(image, raw_zyx, valid_zyx, grid, reading, settings))
        if all(d.confidence == "high" for d in outcomes[-1].detections.values()) and len(outcomes[-1].detections) == 2:
            break
    best = max(outcomes, key=_Outcome.rank)  # the first reading wins ties
    result = GlobeSearchResult(settings=settings, warnings=list(best.warnings))
    if best.reading.inverted:
        result.warnings.insert(0, "the image's contrast looks inverted (air brighter than tissue): the globes were "
                                  "searched in the inverted image; intensities and SNR from it are not meaningful")
    for eye in requested:
        if eye in best.detections:
            result.detections[eye] = best.detections[eye]
        else:
            result.missing[eye] = best.missing[eye]
    result.search = {"inverted_contrast": best.reading.inverted, "bright_border_share": round(bright_share, 3),
                     "readings_searched": ["inverted" if o.reading.inverted else "as given" for o in outcomes],
                     "coarse_spacing_mm": round(grid.spacing_mm, 3), "candidates": best.candidates,
                     "pair": None if best.pair is None else best.pair.as_report()}
    return result


def _readings(raw_zyx: np.ndarray, valid_zyx: np.ndarray, bright_share: float,
              settings: GlobeFinderSettings) -> list[Reading]:
    """The contrast readings to search, most likely first: as given when the border of the field of view is
    mostly dark (air), inverted when it is mostly bright; both (in that order) in between."""
    inverted = Reading(float(np.max(raw_zyx[valid_zyx])))
    low_share, high_share = settings.inverted_border_share
    if bright_share <= low_share:
        return [Reading()]
    if bright_share >= high_share:
        return [inverted]
    return [Reading(), inverted]


def _search(image: sitk.Image, raw_zyx: np.ndarray, valid_zyx: np.ndarray, grid: Grid, reading: Reading,
            settings: GlobeFinderSettings) -> _Outcome:
    """Coarse search, pairing, refinement and confidence for both eyes under one reading."""
    outcome = _Outcome(reading)
    volume = prepare_volume(raw_zyx, valid_zyx, grid, reading, settings)
    if not volume.head_zyx.any():
        outcome.missing = dict.fromkeys(EYES, NO_TISSUE)
        return outcome
    candidates = detect_candidates(volume, settings)
    outcome.candidates = len(candidates)
    choice = choose_globes(candidates, volume, image, settings)
    outcome.missing.update(choice.reasons)
    outcome.warnings.extend(choice.warnings)
    refined = {eye: refine(image, c, eye, volume.levels, reading, settings) for eye, c in choice.chosen.items()}
    scores = {eye: float(np.clip(choice.chosen[eye].score * r.support, 0.0, 1.0)) for eye, r in refined.items()}
    if len(refined) == 2:
        outcome.pair = check_pair(refined["right"].centre_lps_mm, refined["left"].centre_lps_mm,
                                  refined["right"].radius_mm, refined["left"].radius_mm, volume, settings)
    for eye, fit in refined.items():
        level, reason = _confidence(scores[eye], outcome.pair, settings)
        if level is None:
            outcome.missing[eye] = (f"the best {eye} globe candidate, at RAS {_ras_text(fit.centre_lps_mm)} mm, was "
                                    f"refused: {reason}")
            continue
        outcome.warnings.extend(fit.warnings)
        if level == "confirmed":
            outcome.warnings.append(f"{eye} globe: low detection score {scores[eye]:.2f}, accepted because "
                                    f"{outcome.pair.summary}; check its position")
        outcome.detections[eye] = GlobeDetection(
            eye=eye, centre_lps_mm=tuple(float(v) for v in fit.centre_lps_mm), radius_mm=float(fit.radius_mm),
            score=scores[eye], polarity=choice.chosen[eye].polarity, confidence=level, confidence_reason=reason)
    return outcome


def _confidence(score: float, pair: PairCheck | None, settings: GlobeFinderSettings
                ) -> tuple[str | None, str]:
    """("high" | "confirmed" | None for refused, the one-line reason)."""
    threshold = settings.high_confidence
    if score >= threshold:
        return "high", f"score {score:.2f} ≥ {threshold:.2f}"
    if pair is not None and pair.consistent:
        return "confirmed", f"score {score:.2f} < {threshold:.2f}, {pair.summary}"
    partner = pair.summary if pair is not None else "no partner globe to confirm it"
    return None, f"score {score:.2f} < {threshold:.2f} and {partner}"


def _ras_text(centre_lps_mm: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.0f}" for v in lps_to_ras(np.asarray(centre_lps_mm))) + ")"


__all__ = ["find_globes", "Candidate"]
