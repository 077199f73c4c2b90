"""The MRML layer: engine results as Slicer nodes. Uses Slicer's MRML classes only (no Qt, no CLI modules), so it
runs inside Slicer and in plain Python with the PyPI package ``slicer-core``."""

from pathlib import Path

#: The module's ``Resources`` folder (beside this package in the source tree and in an installed extension).
RESOURCES = Path(__file__).resolve().parents[1] / "Resources"
