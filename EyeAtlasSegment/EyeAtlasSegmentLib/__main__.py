"""``python -m EyeAtlasSegmentLib``: the same command line as ``eye-atlas-segment``."""

import sys

from .cli import main

sys.exit(main())
