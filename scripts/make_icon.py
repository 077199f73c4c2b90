"""Draw the module icon (128×128 PNG): an axial eye — globe, lens, optic nerve, two recti — in the atlas colours."""

from pathlib import Path

import numpy as np

from EyeAtlasSegmentLib.png import write_png
from EyeAtlasSegmentLib.structures import STRUCTURE_BY_LABEL

size = 128
y, x = np.mgrid[0:size, 0:size].astype(float)
icon = np.full((size, size, 3), 32, np.uint8)
layers = [  # (atlas label, mask), drawn in order
    (5, ((x - 64) / 58) ** 2 + ((y - 70) / 50) ** 2 < 1),  # extraconal fat
    (4, ((x - 64) / 40) ** 2 + ((y - 80) / 38) ** 2 < 1),  # intraconal fat
    (6, (np.abs(x - 20) < 7) & (y > 40) & (y < 118)),  # lateral rectus
    (7, (np.abs(x - 108) < 7) & (y > 40) & (y < 118)),  # medial rectus
    (3, (np.abs(x - 64) < 8) & (y > 60)),  # optic nerve
    (2, (x - 64) ** 2 + (y - 48) ** 2 < 36 ** 2),  # globe
    (1, ((x - 64) / 16) ** 2 + ((y - 16) / 7) ** 2 < 1),  # lens
]
for label, mask in layers:
    icon[mask] = STRUCTURE_BY_LABEL[label].colour_rgb
out = Path(__file__).resolve().parents[1] / "EyeAtlasSegment" / "Resources" / "Icons" / "EyeAtlasSegment.png"
write_png(out, icon)
print(out)
