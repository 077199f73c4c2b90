"""What the globe finder returns: one detection per located eye, reasons for the others, and a search report."""

from __future__ import annotations

from dataclasses import dataclass, field

from .settings import DEFAULT_SETTINGS, GlobeFinderSettings

#: How a detection was accepted: "high" (strong on its own) or "confirmed" (weaker, but its pair is consistent).
CONFIDENCE_LEVELS = ("high", "confirmed")


@dataclass(frozen=True)
class GlobeDetection:
    """One located globe.

    ``score`` in [0, 1] is the detection confidence: sphere-detector response × share of the globe wall on the
    fitted sphere (halved when the front of the globe is blurred or cut away). ``confidence`` says how it was
    accepted (``CONFIDENCE_LEVELS``) and ``confidence_reason`` why, in one line. ``radius_mm`` is the radius of the
    sphere fitted to the globe wall. ``polarity`` is "dark" (T1-like vitreous, darker than its surroundings) or
    "bright" (T2-like), in the image as searched (see ``GlobeSearchResult.search["inverted_contrast"]``).
    """

    eye: str
    centre_lps_mm: tuple[float, float, float]
    radius_mm: float
    score: float
    polarity: str
    confidence: str = "high"
    confidence_reason: str = ""

    def as_report(self) -> dict:
        return {"centre_lps_mm": list(self.centre_lps_mm), "radius_mm": round(self.radius_mm, 2),
                "score": round(self.score, 3), "polarity": self.polarity, "confidence": self.confidence,
                "confidence_reason": self.confidence_reason}


@dataclass
class GlobeSearchResult:
    """Detections for the eyes found, a one-line reason for each requested eye not found, warnings, and how the
    search went (``search``: contrast reading, candidates, pair checks) with the settings used."""

    detections: dict[str, GlobeDetection] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    search: dict = field(default_factory=dict)
    settings: GlobeFinderSettings = DEFAULT_SETTINGS

    def as_report(self) -> dict:
        """The ``report.json`` entry: settings, search report, detections and refusals."""
        return {"settings": self.settings.as_report(), "search": self.search,
                "detections": {eye: d.as_report() for eye, d in self.detections.items()},
                "missing": dict(self.missing)}
