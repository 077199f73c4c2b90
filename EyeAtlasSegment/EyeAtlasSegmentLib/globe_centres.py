"""Which globe centre each eye's registration starts from: detected, user-given, or user-given snapped to the
detected globe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import SimpleITK as sitk

from .geometry import ras_to_lps
from .globe_finder import find_globes

#: A located eye: its globe centre (LPS mm), where the centre came from, and the detection score (None if not detected).
LocatedGlobe = tuple[np.ndarray, str, float | None]

#: A user-given centre this close to a detected globe is snapped to that globe's fitted centre (less than a
#: globe radius: the user clearly meant that globe, and a click is rarely as precise as the wall fit).
SNAP_TO_DETECTION_MM = 12.0


def resolve_globe_centres(image: sitk.Image, eyes: Sequence[str], given_ras_mm: Mapping[str, Sequence[float]],
                          warnings: list[str]) -> tuple[dict[str, LocatedGlobe], dict[str, str], dict]:
    """The located globe of each eye in ``eyes``; reasons for missing eyes; the globe finder's report (settings,
    contrast reading, candidates, each detection's confidence). The finder's warnings are added to ``warnings``.

    Sources: "detected"; "user" (given centre used as is); "user_refined" (given centre snapped to the globe
    found within ``SNAP_TO_DETECTION_MM``).
    """
    search = find_globes(image, list(eyes))
    warnings.extend(search.warnings)
    centres: dict[str, LocatedGlobe] = {}
    missing: dict[str, str] = {}
    for eye in eyes:
        detection = search.detections.get(eye)
        detected = np.asarray(detection.centre_lps_mm) if detection else None
        if eye in given_ras_mm:
            given = ras_to_lps(given_ras_mm[eye])
            distance_mm = np.linalg.norm(detected - given) if detected is not None else np.inf
            if distance_mm <= SNAP_TO_DETECTION_MM:
                warnings.append(f"{eye} eye: the given centre was refined to the fitted globe centre "
                                f"({distance_mm:.1f} mm away)")
                centres[eye] = (detected, "user_refined", detection.score)
            else:
                centres[eye] = (given, "user", None)
        elif detection:
            centres[eye] = (detected, "detected", detection.score)
        else:
            missing[eye] = search.missing.get(eye, "not found")
    return centres, missing, search.as_report()
