"""Shared pytest setup: make ``EyeAtlasSegmentLib`` importable from the source tree."""

import sys
from pathlib import Path

_ENGINE_PARENT = Path(__file__).resolve().parents[2] / "EyeAtlasSegment"
if str(_ENGINE_PARENT) not in sys.path:
    sys.path.insert(0, str(_ENGINE_PARENT))
