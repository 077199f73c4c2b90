"""Pairing: the best anatomically plausible pair of candidates, a lone globe named by side, why the other eye is
missing, and the consistency checks that confirm a weakly detected pair."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..geometry import physical_to_continuous_index
from ..structures import EYES
from .coarse_search import Candidate
from .settings import GlobeFinderSettings
from .volume import CoarseVolume


@dataclass(frozen=True)
class Choice:
    """Candidates chosen per eye, reasons for the eyes without one, warnings about the choice."""

    chosen: dict[str, Candidate]
    reasons: dict[str, str]
    warnings: list[str]


def choose_globes(candidates: list[Candidate], volume: CoarseVolume, image: sitk.Image,
                  settings: GlobeFinderSettings) -> Choice:
    """Pick the best plausible pair; fall back to one convincing globe; name eyes by side."""
    pair, pair_score = _best_pair(candidates, settings)
    single = next((c for c in candidates if c.score >= settings.min_single_score), None)
    pair_wins = single is None or pair_score >= settings.single_globe_penalty * single.score
    if pair is not None and pair_score >= settings.min_pair_score and pair_wins:
        first, second = pair
        right, left = (first, second) if first.centre_lps_mm[0] < second.centre_lps_mm[0] else (second, first)
        return Choice({"right": right, "left": left}, {}, [])
    if single is None:
        reason = ("no globe-like structure (a round, homogeneous ball of 7–16 mm radius behind the face) was found; "
                  "if the face was removed or blurred (defaced image), give the eye centres yourself")
        return Choice({}, dict.fromkeys(EYES, reason), [])
    eye, side_warnings = _side_of_single_globe(single, volume, image, settings)
    other = "left" if eye == "right" else "right"
    return Choice({eye: single}, {other: missing_partner_reason(single.centre_lps_mm, eye, image, settings)},
                  side_warnings)


def _best_pair(candidates: list[Candidate], settings: GlobeFinderSettings
               ) -> tuple[tuple[Candidate, Candidate] | None, float]:
    """The plausible pair with the highest geometric-mean score, and that score."""
    best, best_score = None, 0.0
    for i, a in enumerate(candidates):
        for b in candidates[i + 1:]:
            score = math.sqrt(a.score * b.score)
            if score > best_score and _plausible_pair(a, b, settings):
                best, best_score = (a, b), score
    return best, best_score


def _plausible_pair(a: Candidate, b: Candidate, settings: GlobeFinderSettings) -> bool:
    """Same polarity, a plausible interocular distance, and separated mainly along L-R."""
    separation_lps_mm = b.centre_lps_mm - a.centre_lps_mm
    distance_mm = float(np.linalg.norm(separation_lps_mm))
    low_mm, high_mm = settings.pair_distance_mm
    if a.polarity != b.polarity or not low_mm <= distance_mm <= high_mm:
        return False
    tilt_deg = math.degrees(math.acos(min(1.0, abs(separation_lps_mm[0]) / distance_mm)))
    return tilt_deg <= settings.max_pair_tilt_deg


# ------------------------------------------------------------------------------------------- pair consistency


@dataclass(frozen=True)
class PairCheck:
    """The consistency of a located pair: each measurement, whether it holds, and a one-line summary."""

    distance_mm: float
    radius_difference_mm: float
    midplane_offset_mm: float | None  # None when the head's mid-plane cannot be measured (head cut by the FOV)
    consistent: bool
    summary: str

    def as_report(self) -> dict:
        return {"distance_mm": round(self.distance_mm, 1), "radius_difference_mm": round(self.radius_difference_mm, 1),
                "midplane_offset_mm": None if self.midplane_offset_mm is None else round(self.midplane_offset_mm, 1),
                "consistent": self.consistent, "summary": self.summary}


def check_pair(right_lps_mm: np.ndarray, left_lps_mm: np.ndarray, right_radius_mm: float, left_radius_mm: float,
               volume: CoarseVolume, settings: GlobeFinderSettings) -> PairCheck:
    """Whether two globes look like a real pair: centres ``consistent_distance_mm`` apart, radii within
    ``max_radius_difference_mm``, midpoint within ``max_midplane_offset_mm`` of the head's mid-sagittal plane."""
    distance_mm = float(np.linalg.norm(np.asarray(left_lps_mm) - np.asarray(right_lps_mm)))
    radius_difference_mm = abs(right_radius_mm - left_radius_mm)
    midpoint_lps_mm = 0.5 * (np.asarray(right_lps_mm) + np.asarray(left_lps_mm))
    midplane_x_mm = _head_midplane_x_mm(midpoint_lps_mm, volume)
    offset_mm = None if midplane_x_mm is None else abs(float(midpoint_lps_mm[0]) - midplane_x_mm)
    low_mm, high_mm = settings.consistent_distance_mm
    failures = []
    if not low_mm <= distance_mm <= high_mm:
        failures.append(f"centres {distance_mm:.0f} mm apart (expected {low_mm:.0f}–{high_mm:.0f})")
    if radius_difference_mm > settings.max_radius_difference_mm:
        failures.append(f"radii differ by {radius_difference_mm:.1f} mm")
    if offset_mm is not None and offset_mm > settings.max_midplane_offset_mm:
        failures.append(f"midpoint {offset_mm:.0f} mm off the head mid-plane")
    if failures:
        summary = "the pair is not consistent: " + ", ".join(failures)
    else:
        symmetry = ("mid-plane not measurable" if offset_mm is None
                    else f"midpoint {offset_mm:.1f} mm from the head mid-plane")
        summary = (f"the pair is consistent: {distance_mm:.0f} mm apart, radii within {radius_difference_mm:.1f} mm, "
                   f"{symmetry}")
    return PairCheck(distance_mm, radius_difference_mm, offset_mm, not failures, summary)


def _head_midplane_x_mm(point_lps_mm: np.ndarray, volume: CoarseVolume, half_height_mm: float = 10.0
                        ) -> float | None:
    """LPS x of the head's mid-sagittal plane at the level of ``point_lps_mm``: the median midpoint between the
    head's right and left edges over the rows within ``half_height_mm`` (S-I) behind the point; None where the
    head reaches the field-of-view boundary along x on those rows."""
    z0, y0, _ = volume.grid.to_index(point_lps_mm)
    spacing_mm = volume.grid.spacing_mm
    nz, ny, _ = volume.grid.shape_zyx
    reach = int(round(half_height_mm / spacing_mm))
    z_rows = range(max(0, int(round(z0)) - reach), min(nz, int(round(z0)) + reach + 1))
    y_rows = range(max(0, int(round(y0))), min(ny, int(round(y0)) + 2 * reach + 1))  # the eyes and just behind
    midpoints_x = []
    for z in z_rows:
        for y in y_rows:
            head_x = np.flatnonzero(volume.head_zyx[z, y])
            valid_x = np.flatnonzero(volume.valid_zyx[z, y])
            if head_x.size < 2 or valid_x.size == 0 or head_x[0] <= valid_x[0] or head_x[-1] >= valid_x[-1]:
                continue  # no head here, or cut by the field of view
            midpoints_x.append(0.5 * (head_x[0] + head_x[-1]))
    if len(midpoints_x) < 3:
        return None
    return float(volume.grid.to_lps(np.array([0.0, 0.0, np.median(midpoints_x)]))[0])


# ------------------------------------------------------------------------------------------------ lone globe


def _side_of_single_globe(candidate: Candidate, volume: CoarseVolume, image: sitk.Image,
                          settings: GlobeFinderSettings) -> tuple[str, list[str]]:
    """Name a lone globe (subject's right = smaller LPS x) from the face profile, else the head midline.

    At eye level the skin surface lies far in front of the globe medially (nasal bridge) and behind it
    laterally (temple), which works even when the head is cut by the field of view.
    """
    step_mm = _face_profile_step_mm(candidate.centre_lps_mm, volume, settings)
    if step_mm is not None and abs(step_mm) >= settings.min_face_profile_step_mm:
        return ("right" if step_mm > 0 else "left"), []
    x_lps_mm = float(candidate.centre_lps_mm[0])
    if not any(_head_cut_by_fov_along_x(volume)):
        midline_x_lps_mm = float(volume.grid.to_lps(np.array([0.0, 0.0, np.nonzero(volume.head_zyx)[2].mean()]))[0])
        return ("right" if x_lps_mm < midline_x_lps_mm else "left"), []
    centre_index = (np.asarray(image.GetSize(), dtype=float) - 1.0) / 2.0
    image_centre_x_lps_mm = image.TransformContinuousIndexToPhysicalPoint(centre_index.tolist())[0]
    eye = "right" if x_lps_mm < image_centre_x_lps_mm else "left"
    return eye, [f"only one globe was found and neither the face nor the head midline is usable: it was named "
                 f"{eye} from its position relative to the image centre — check the side"]


def _face_profile_step_mm(centre_lps_mm: np.ndarray, volume: CoarseVolume,
                          settings: GlobeFinderSettings) -> float | None:
    """How far the anterior skin surface recedes towards −x (subject's right) compared with +x, measured
    ``face_profile_offset_mm`` to either side of the globe at its level; None where the skin is not imaged.

    Positive means the −x side is lateral, i.e. the globe is the subject's right one.
    """
    front_y_mm = []
    for offset_x_mm in (-settings.face_profile_offset_mm, settings.face_profile_offset_mm):
        z, y, x = np.round(volume.grid.to_index(centre_lps_mm + np.array([offset_x_mm, 0.0, 0.0]))).astype(int)
        if not (0 <= z < volume.grid.shape_zyx[0] and 0 <= x < volume.grid.shape_zyx[2]):
            return None
        head_column, valid_column = volume.head_zyx[z, :, x], volume.valid_zyx[z, :, x]
        if not head_column.any() or np.argmax(head_column) == np.argmax(valid_column):
            return None  # no skin here, or the face is cut by the field of view
        front_y_mm.append(float(np.argmax(head_column)) * volume.grid.spacing_mm)
    return front_y_mm[0] - front_y_mm[1]


def _head_cut_by_fov_along_x(volume: CoarseVolume, min_area_mm2: float = 400.0) -> tuple[bool, bool]:
    """Whether the head mask reaches the field-of-view boundary on the low-x (right) / high-x (left) side."""
    valid, head = volume.valid_zyx, volume.head_zyx
    first_x = np.argmax(valid, axis=2)
    last_x = valid.shape[2] - 1 - np.argmax(valid[:, :, ::-1], axis=2)
    z, y = np.nonzero(valid.any(axis=2))
    min_rows = min_area_mm2 / volume.grid.spacing_mm ** 2
    return (int(head[z, y, first_x[z, y]].sum()) >= min_rows, int(head[z, y, last_x[z, y]].sum()) >= min_rows)


def missing_partner_reason(found_lps_mm: np.ndarray, found_eye: str, image: sitk.Image,
                           settings: GlobeFinderSettings) -> str:
    """Explain why the other globe was not found: outside the field of view, or not recognisable."""
    other = "left" if found_eye == "right" else "right"
    interocular_mm = settings.typical_interocular_mm
    step_x_mm = interocular_mm if found_eye == "right" else -interocular_mm  # +x LPS = subject's left
    expected_index = physical_to_continuous_index(image, np.asarray(found_lps_mm) + np.array([step_x_mm, 0.0, 0.0]))
    if np.any(expected_index < -0.5) or np.any(expected_index > np.asarray(image.GetSize()) - 0.5):
        return (f"the {other} globe is probably outside the field of view: its expected position (about "
                f"{interocular_mm:.0f} mm to the subject's {other} of the {found_eye} globe) is not imaged")
    return (f"no globe-like structure was found on the subject's {other} side matching the {found_eye} globe "
            "(eye removed, prosthesis, severe artefact or defacing?)")
