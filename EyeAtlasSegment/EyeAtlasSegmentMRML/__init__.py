"""The MRML layer: engine results as Slicer nodes. Uses Slicer's MRML classes only (no Qt, no CLI modules), so it
runs inside Slicer and in plain Python with the PyPI package ``slicer-core``."""
