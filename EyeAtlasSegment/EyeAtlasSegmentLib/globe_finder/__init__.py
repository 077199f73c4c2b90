"""Automatic localisation of both eyeballs (globes) in a 3D head or orbit MRI of any contrast.

Steps (all positions in LPS millimetres; the header orientation is trusted), one module each:

1. ``volume``: refuse images that cannot be a head MRI (a mask or label map has few distinct values); box-average
   and resample the image onto an axis-aligned ~2 mm LPS grid (array axes ``z, y, x`` = I→S, A→P, R→L); read the
   contrast as given, or inverted when the border of the field of view (air) is bright; normalise so that air ≈ 0
   and typical tissue ≈ 1 (SimpleITK Otsu split inside the field of view); build a head mask.
2. ``detector``: a contrast-invariant sphere detector scores dark (T1-, FLAIR-like) and bright (T2-like) balls of
   globe size at every voxel with FFT correlations.
3. ``coarse_search``: its local maxima, weighted by how close behind the anterior skin surface they lie.
4. ``pairing``: the best pair under anatomical priors (40–90 mm apart, mainly along L-R, same polarity), or one
   convincing globe named from the face profile with the other reported missing and why.
5. ``refinement``: on the native image, the globe wall is found along 256 rays and a sphere is fitted robustly;
   a blurred face in front of the globe (defacing) is reported.
6. ``finder``: the confidence. A globe scoring ≥ ``high_confidence`` is accepted ("high"); a weaker one only if
   its pair is consistent — 50–75 mm apart, radii within 2 mm, midpoint within 10 mm of the head's mid-plane
   ("confirmed"); otherwise it is refused with the reason. When the first contrast reading does not give two "high"
   globes and the border cue is ambiguous, the other reading is searched too and the better one kept.

``results`` holds what is returned; ``settings`` every tunable (``GlobeFinderSettings``, recorded in report.json).
"""

from .finder import find_globes
from .results import CONFIDENCE_LEVELS, GlobeDetection, GlobeSearchResult
from .settings import DEFAULT_SETTINGS, GlobeFinderSettings

__all__ = ["find_globes", "GlobeDetection", "GlobeSearchResult", "GlobeFinderSettings", "DEFAULT_SETTINGS",
           "CONFIDENCE_LEVELS"]
