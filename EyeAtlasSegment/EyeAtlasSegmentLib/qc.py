"""Quality-control figure: each eye in three planes through its globe, label contours over the image.

Rows are eyes; columns are axial, coronal and sagittal planes through the located globe centre, drawn in the
radiological convention (patient right on the left of axial and coronal panels, anterior on the left of sagittal
panels, anterior or superior at the top), with orientation letters, a 10 mm scale bar and the axial-length line.
A legend names the structures and their colours; the header gives the atlas sex, engine and QC status of each eye.
Display only: the panels are resampled, statistics never are.

Drawn with matplotlib (the optional ``report`` extra: ``pip install "eye-atlas-segment[report]"``). Without it no
figure is drawn (``figure_available``); the run says so in a warning and the HTML report shows the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from .geometry import ras_to_lps
from .structures import STRUCTURE_BY_LABEL, STRUCTURES

if TYPE_CHECKING:
    from .pipeline import PipelineResult

PANEL_FIELD_MM = 64.0
PANEL_PIXEL_MM = 0.2
SCALE_BAR_MM = 10.0
FIGURE_SIZE_IN = (16.0, 11.0)
DPI = 100  # 1,600 × 1,100 pixels
#: (name, column direction, row direction) in RAS.
PLANES = (("axial", (-1, 0, 0), (0, -1, 0)), ("coronal", (-1, 0, 0), (0, 0, -1)),
          ("sagittal", (0, -1, 0), (0, 0, -1)))
_LETTERS = {(1, 0, 0): "R", (-1, 0, 0): "L", (0, 1, 0): "A", (0, -1, 0): "P", (0, 0, 1): "S", (0, 0, -1): "I"}
#: The axial-length line is drawn on a panel whose plane passes within this distance of it.
LINE_IN_PLANE_MM = 4.0
MISSING_FIGURE = 'the QC figure needs matplotlib: pip install "eye-atlas-segment[report]"'


@dataclass(frozen=True)
class EyeView:
    """One eye as the figure shows it: where, its QC status, and the axial-length line (RAS mm) if measured."""

    eye: str
    centre_ras_mm: Sequence[float] | None  # None: not segmented (``status`` says why)
    status: str
    axial_line_ras_mm: tuple[Sequence[float], Sequence[float]] | None = None  # anterior lens edge, posterior globe


def figure_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _plane_reference(centre_ras_mm: Sequence[float], col_ras: Sequence[float], row_ras: Sequence[float]) -> sitk.Image:
    n = int(round(PANEL_FIELD_MM / PANEL_PIXEL_MM))
    col_lps, row_lps = ras_to_lps(col_ras), ras_to_lps(row_ras)
    reference = sitk.Image([n, n, 1], sitk.sitkFloat32)
    reference.SetSpacing((PANEL_PIXEL_MM,) * 3)
    reference.SetDirection(tuple(np.column_stack([col_lps, row_lps, np.cross(col_lps, row_lps)]).ravel()))
    reference.SetOrigin(tuple(ras_to_lps(centre_ras_mm) - (col_lps + row_lps) * PANEL_FIELD_MM / 2))
    return reference


def _panel(image: sitk.Image, labels: sitk.Image, reference: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Grey values (windowed to 0-1) and labels of one plane."""
    grey = sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                sitk.sitkFloat32))[0]
    lab = sitk.GetArrayFromImage(sitk.Resample(labels, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                                               sitk.sitkUInt8))[0]
    lo, hi = np.percentile(grey, [1, 99.5])
    return np.clip((grey - lo) / max(hi - lo, 1e-6), 0, 1), lab


def _colour(label: int) -> tuple[float, float, float]:
    return tuple(c / 255.0 for c in STRUCTURE_BY_LABEL[label].colour_rgb)


def _draw_panel(ax, grey: np.ndarray, lab: np.ndarray, plane: str, col_ras, row_ras, centre_ras_mm,
                axial_line_ras_mm) -> None:
    import matplotlib.patheffects as effects

    half = PANEL_FIELD_MM / 2
    coords = -half + PANEL_PIXEL_MM * np.arange(grey.shape[0])  # pixel centres, mm along col (x) and row (y)
    edge = half + PANEL_PIXEL_MM / 2
    ax.imshow(grey, cmap="gray", extent=(-edge, edge, edge, -edge), interpolation="bilinear", vmin=0, vmax=1)
    for value in np.unique(lab[lab > 0]):
        ax.contour(coords, coords, (lab == value).astype(float), levels=[0.5], colors=[_colour(int(value) % 10)],
                   linewidths=1.3)
    outline = [effects.withStroke(linewidth=3, foreground="black")]
    for (x, y, ha, va), direction in (((-half * 0.94, 0, "left", "center"), -np.asarray(col_ras)),
                                      ((half * 0.94, 0, "right", "center"), np.asarray(col_ras)),
                                      ((0, -half * 0.94, "center", "top"), -np.asarray(row_ras)),
                                      ((0, half * 0.94, "center", "bottom"), np.asarray(row_ras))):
        ax.text(x, y, _LETTERS[tuple(int(v) for v in direction)], color="white", fontsize=14, fontweight="bold",
                ha=ha, va=va, path_effects=outline)
    x0, y0 = half * 0.9 - SCALE_BAR_MM, half * 0.82
    ax.plot([x0, x0 + SCALE_BAR_MM], [y0, y0], color="white", linewidth=3, solid_capstyle="butt",
            path_effects=[effects.withStroke(linewidth=6, foreground="black")])
    ax.text(x0 + SCALE_BAR_MM / 2, y0 - 1.2, f"{SCALE_BAR_MM:g} mm", color="white", fontsize=10, ha="center",
            va="bottom", path_effects=outline)
    if axial_line_ras_mm is not None:
        normal = np.cross(col_ras, row_ras)
        ends = [np.asarray(p, dtype=float) - np.asarray(centre_ras_mm, dtype=float) for p in axial_line_ras_mm]
        if max(abs(e @ normal) for e in ends) <= LINE_IN_PLANE_MM:
            xs, ys = zip(*[(e @ np.asarray(col_ras), e @ np.asarray(row_ras)) for e in ends])
            ax.plot(xs, ys, color="white", linestyle="--", linewidth=1.2, marker="+", markersize=9)
    ax.set_xlim(-half, half)
    ax.set_ylim(half, -half)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(plane, fontsize=12)


def qc_figure(image: sitk.Image, labels: sitk.Image, eyes: Sequence[EyeView], header: str):
    """The QC figure (a matplotlib ``Figure``, not attached to any window): one row per eye, three planes each."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI, facecolor="white")
    grid = figure.add_gridspec(len(eyes), len(PLANES), left=0.06, right=0.99, top=0.9, bottom=0.1, wspace=0.04,
                               hspace=0.14)
    for row, view in enumerate(eyes):
        if view.centre_ras_mm is None:
            ax = figure.add_subplot(grid[row, :])
            ax.axis("off")
            ax.text(0.5, 0.5, f"{view.eye} eye not segmented: {view.status}", ha="center", va="center", fontsize=13,
                    wrap=True, transform=ax.transAxes)
            continue
        for column, (plane, col_ras, row_ras) in enumerate(PLANES):
            ax = figure.add_subplot(grid[row, column])
            grey, lab = _panel(image, labels, _plane_reference(view.centre_ras_mm, col_ras, row_ras))
            _draw_panel(ax, grey, lab, plane, col_ras, row_ras, view.centre_ras_mm, view.axial_line_ras_mm)
            if column == 0:
                ax.set_ylabel(f"{view.eye.capitalize()} eye\nQC: {view.status}", fontsize=13)
    handles = [Line2D([], [], color=_colour(s.label), linewidth=3, label=f"{s.label} {s.name}") for s in STRUCTURES]
    handles.append(Line2D([], [], color="black", linestyle="--", marker="+", label="axial length (A-eye)"))
    figure.legend(handles=handles, loc="lower center", ncol=5, fontsize=11, frameon=False)
    figure.suptitle(header, fontsize=14)
    return figure


def write_qc_figure(path: str | Path, image: sitk.Image, labels: sitk.Image, eyes: Sequence[EyeView],
                    header: str) -> None:
    """Write ``qc_figure`` as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = qc_figure(image, labels, eyes, header)
    FigureCanvasAgg(figure).print_png(str(path))


def qc_views(result: PipelineResult) -> tuple[list[EyeView], str]:
    """The eyes (requested order) and header of a pipeline result's QC figure."""
    views = []
    for eye in result.options.eyes:
        if eye in result.eyes:
            landmarks = result.biometry.eyes[eye].landmarks_ras_mm if result.biometry and eye in result.biometry.eyes \
                else {}
            has_axis = {"lens_front", "globe_back"} <= set(landmarks)
            line = (landmarks["lens_front"], landmarks["globe_back"]) if has_axis else None
            views.append(EyeView(eye, result.eyes[eye].centre_ras_mm, result.eyes[eye].qc_verdict, line))
        else:
            views.append(EyeView(eye, None, result.missing_eyes.get(eye, "not requested")))
    engines = sorted({r.registration.engine for r in result.eyes.values()})
    sex = f"atlas sex: {result.atlas.sex}" + (" (SYNTHETIC atlas, not MR-Eye)" if result.atlas.synthetic else "")
    if result.image.metadata.get("patient_sex"):
        sex += f", patient sex: {result.image.metadata['patient_sex']}"
    header = f"{Path(result.image.source_path).name}  ·  {sex}  ·  engine: {', '.join(engines)}  ·  QC: " + \
        ", ".join(f"{v.eye} {v.status if v.centre_ras_mm is not None else 'not segmented'}" for v in views)
    return views, header
