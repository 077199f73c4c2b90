"""Plugins EyeAtlasSegment adds to other Slicer modules (Segment Statistics)."""
