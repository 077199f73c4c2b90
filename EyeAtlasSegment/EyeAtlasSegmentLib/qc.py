"""Quality-control picture: labels over the image through each globe, in three planes.

Rows are eyes; columns are axial, coronal and sagittal planes through the eye centre, drawn in the
radiological convention (patient right on the left of axial/coronal panels, anterior on the left of sagittal
panels, anterior/superior at the top). Display only: the picture is resampled, statistics never are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import SimpleITK as sitk

from .geometry import ras_to_lps
from .png import write_png
from .structures import STRUCTURE_BY_LABEL

PANEL_FIELD_MM = 72.0
PANEL_PIXEL_MM = 0.4
#: (name, column direction, row direction) in RAS.
PLANES = (("AXIAL", (-1, 0, 0), (0, -1, 0)), ("CORONAL", (-1, 0, 0), (0, 0, -1)),
          ("SAGITTAL", (0, -1, 0), (0, 0, -1)))

# 5×7 bitmap glyphs for panel captions.
_GLYPHS = {
    "A": "01110100011000111111100011000110001", "C": "01110100011000010000100001000101110",
    "E": "11111100001000011110100001000011111", "F": "11111100001000011110100001000010000",
    "G": "01110100011000010111100011000101111", "H": "10001100011000111111100011000110001",
    "I": "01110001000010000100001000010001110", "L": "10000100001000010000100001000011111",
    "N": "10001110011010110011100011000110001", "O": "01110100011000110001100011000101110",
    "R": "11110100011000111110101001001010001", "S": "01111100001000001110000010000111110",
    "T": "11111001000010000100001000010000100", "X": "10001100010101000100010101000110001",
    "Y": "10001100010101000100001000010000100", " ": "0" * 35,
}


def _draw_text(rgb: np.ndarray, text: str, row: int, col: int, scale: int = 2) -> None:
    for n, char in enumerate(text.upper()):
        glyph = np.array([int(b) for b in _GLYPHS.get(char, _GLYPHS[" "])], dtype=bool).reshape(7, 5)
        glyph = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        r0, c0 = row, col + n * 6 * scale
        region = rgb[r0:r0 + glyph.shape[0], c0:c0 + glyph.shape[1]]
        region[glyph[:region.shape[0], :region.shape[1]]] = (255, 255, 0)


def _plane_reference(centre_ras_mm: Sequence[float], col_ras: Sequence[float], row_ras: Sequence[float]) -> sitk.Image:
    n = int(round(PANEL_FIELD_MM / PANEL_PIXEL_MM))
    col_lps, row_lps = ras_to_lps(col_ras), ras_to_lps(row_ras)
    normal = np.cross(col_lps, row_lps)
    reference = sitk.Image([n, n, 1], sitk.sitkFloat32)
    reference.SetSpacing((PANEL_PIXEL_MM,) * 3)
    reference.SetDirection(tuple(np.column_stack([col_lps, row_lps, normal]).ravel()))
    origin = ras_to_lps(centre_ras_mm) - (col_lps + row_lps) * PANEL_FIELD_MM / 2
    reference.SetOrigin(tuple(origin))
    return reference


def _panel(image: sitk.Image, labels: sitk.Image, reference: sitk.Image) -> np.ndarray:
    grey = sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                sitk.sitkFloat32))[0]
    lab = sitk.GetArrayFromImage(sitk.Resample(labels, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                                               sitk.sitkUInt8))[0]
    lo, hi = np.percentile(grey, [1, 99.5])
    grey = np.clip((grey - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None] * 255.0, 3, axis=2)
    edge = np.zeros(lab.shape, dtype=bool)
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    for value in np.unique(lab[lab > 0]):
        colour = np.array(STRUCTURE_BY_LABEL[int(value) % 10].colour_rgb, dtype=float)
        inside = lab == value
        rgb[inside] = 0.75 * rgb[inside] + 0.25 * colour
        rgb[inside & edge] = colour
    return rgb.astype(np.uint8)


def write_qc_png(path: str | Path, image: sitk.Image, labels: sitk.Image,
                 centres_ras_mm: Mapping[str, Sequence[float]], caption: str = "") -> None:
    """Write the QC picture: one row per eye in ``centres_ras_mm``, three planes each."""
    rows = []
    for eye, centre in centres_ras_mm.items():
        panels = []
        for plane, col_ras, row_ras in PLANES:
            panel = _panel(image, labels, _plane_reference(centre, col_ras, row_ras))
            _draw_text(panel, f"{eye} {plane}", 4, 4)
            panels.append(np.pad(panel, ((2, 2), (2, 2), (0, 0))))
        rows.append(np.concatenate(panels, axis=1))
    picture = np.concatenate(rows, axis=0)
    if caption:
        banner = np.zeros((22, picture.shape[1], 3), dtype=np.uint8)
        _draw_text(banner, caption, 4, 4)
        picture = np.concatenate([banner, picture], axis=0)
    write_png(path, picture)
