"""The cohort report: one HTML file to look at. Plots (matplotlib, embedded as PNG) of the volumes per structure
against the population band, SNR and CNR per image, left against right; then the QC pictures, failed and outlier
images first, each linking to the image's own report. Pictures are linked (relative paths), not copied, so the
page stays small for thousands of images."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..normative import POPULATION_OF_ATLAS_SEX, population_norm
from ..structures import EYES, STRUCTURES
from .resume import atomic_write_text
from .table import ImageEntry

REPORT_FILE = "cohort_report.html"
_SEX_OF_POPULATION = {population: sex for sex, population in POPULATION_OF_ATLAS_SEX.items()}
_EYE_COLOURS = {"right": "#1f77b4", "left": "#ff7f0e"}
_OUTLIER_COLOUR = "#d62728"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
.summary { font-size: 1.05em; } .command { font-family: monospace; color: #555; font-size: 0.85em; }
.plot { max-width: 100%; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { width: 260px; border: 1px solid #ccc; border-radius: 4px; padding: 6px; font-size: 0.85em; }
.card img { width: 100%; } .failed { border: 2px solid #d62728; background: #fdecea; }
.outlier { border: 2px solid #e69500; background: #fff6e0; } .reason { color: #a00; }
"""


def _number(cell: str):
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _structure_grid():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 10), layout="constrained")
    return figure, figure.subplots(3, 3).ravel()


def volume_figure(rows: Sequence[Mapping[str, str]]):
    """Per structure: each image's volume (dots, outliers red) beside the population's 2.5–97.5 % band and mean,
    per population and eye."""
    figure, axes = _structure_grid()
    populations = sorted({r["population"] for r in rows})
    rng = np.random.default_rng(0)
    for ax, structure in zip(axes, STRUCTURES):
        ticks = []
        for position, (population, eye) in enumerate((p, e) for p in populations for e in EYES):
            norm = population_norm(eye, _SEX_OF_POPULATION[population], structure.key)
            ax.fill_between([position - 0.35, position + 0.35], norm.p2_5, norm.p97_5, color="#dddddd")
            ax.plot([position - 0.35, position + 0.35], [norm.mean] * 2, color="#888888")
            mine = [r for r in rows if (r["population"], r["eye"], r["structure"]) == (population, eye, structure.key)
                    and _number(r["volume_mm3"]) is not None]
            x = position + rng.uniform(-0.2, 0.2, len(mine))
            ax.scatter(x, [float(r["volume_mm3"]) for r in mine], s=12, zorder=3,
                       c=[_OUTLIER_COLOUR if r["outlier"] else _EYE_COLOURS[eye] for r in mine])
            ticks.append(f"{population}\n{eye}")
        ax.set_xticks(range(len(ticks)), ticks, fontsize=8)
        ax.set_title(structure.name, fontsize=10)
        ax.set_ylabel("mm³", fontsize=8)
    figure.suptitle("Volumes against the population (grey: 2.5–97.5 % and mean; red: outlier)")
    return figure


def snr_cnr_figure(rows: Sequence[Mapping[str, str]]):
    """Per image: the globe's SNR, and the lens's CNR against the globe, each eye."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 4.5), layout="constrained")
    images = sorted({r["image"] for r in rows})
    index = {key: i for i, key in enumerate(images)}
    for ax, (structure, column, title) in zip(figure.subplots(1, 2), (("globe", "snr", "globe SNR"),
                                                                         ("lens", "cnr", "lens–globe CNR"))):
        for eye in EYES:
            points = [(index[r["image"]], _number(r[column])) for r in rows
                      if r["structure"] == structure and r["eye"] == eye and _number(r[column]) is not None]
            if points:
                ax.scatter(*zip(*points), s=14, label=eye, color=_EYE_COLOURS[eye])
        ax.set_title(f"{title} per image ({len(images)} images)", fontsize=10)
        ax.set_xlabel("image (sorted by name; see the cards below)", fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    return figure


def left_right_figure(rows: Sequence[Mapping[str, str]]):
    """Per structure: left against right volume of each image, with the identity line."""
    figure, axes = _structure_grid()
    by_image: dict[tuple[str, str], dict[str, float]] = {}
    for r in rows:
        volume = _number(r["volume_mm3"])
        if volume is not None:
            by_image.setdefault((r["image"], r["structure"]), {})[r["eye"]] = volume
    for ax, structure in zip(axes, STRUCTURES):
        pairs = [(v["right"], v["left"]) for (_, s), v in by_image.items() if s == structure.key and len(v) == 2]
        if pairs:
            right, left = zip(*pairs)
            ax.scatter(right, left, s=12, color="#444444")
            low, high = min(right + left), max(right + left)
            ax.plot([low, high], [low, high], color="#aaaaaa", lw=1)
        ax.set_title(structure.name, fontsize=10)
        ax.set_xlabel("right mm³", fontsize=8)
        ax.set_ylabel("left mm³", fontsize=8)
    figure.suptitle("Left against right (grey line: equal)")
    return figure


def _plots(rows: Sequence[Mapping[str, str]]) -> str:
    if not rows:
        return "<p>No image was segmented: nothing to plot.</p>"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "<p>Plots need matplotlib: pip install \"eye-atlas-segment[cohort]\".</p>"
    sections = (("Volumes", volume_figure), ("SNR and CNR", snr_cnr_figure), ("Left and right", left_right_figure))
    return "\n".join(f'<h2>{title}</h2>\n<img class="plot" alt="{title}" src="{_png(make(rows))}">'
                     for title, make in sections)


def _card(entry: ImageEntry) -> str:
    name = html.escape(entry.image.key)
    if entry.status == "failed":
        return (f'<div class="card failed"><b>{name}</b><br>failed<br><span class="reason">'
                f'{html.escape(entry.reason)}</span><br><small>{html.escape(str(entry.image.path))}</small></div>')
    picture = (f'<img loading="lazy" alt="QC picture of {name}" src="{html.escape(entry.qc_picture)}">'
               if entry.qc_picture else "<i>no QC picture</i>")
    kind = " outlier" if entry.outliers else ""
    notes = "<br>".join(html.escape(o) for o in entry.outliers)
    return (f'<div class="card{kind}"><a href="{html.escape(entry.report)}">{picture}</a><br>'
            f'<a href="{html.escape(entry.report)}"><b>{name}</b></a> · {html.escape(entry.image.sex)} atlas'
            f'{"<br><span class=reason>outlier: " + notes + "</span>" if notes else ""}</div>')


def order_for_review(entries: Sequence[ImageEntry]) -> list[ImageEntry]:
    """Failed images first, then outliers (most flags first), then the rest, each by name."""
    return sorted(entries, key=lambda e: (e.status != "failed", not e.outliers, -len(e.outliers), e.image.key))


def write_cohort_report(path: Path, rows: Sequence[Mapping[str, str]], entries: Sequence[ImageEntry],
                        summary: str, command: str) -> Path:
    """Write the cohort report (links relative to ``path``'s folder, which must be OUT)."""
    cards = "\n".join(_card(e) for e in order_for_review(entries))
    done = sum(e.status == "done" for e in entries)
    state = (f"{done} of {len(entries)} images segmented, {len(entries) - done} failed, "
             f"{sum(bool(e.outliers) for e in entries)} with an outlier volume.")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Eye atlas cohort report</title><style>{_STYLE}</style></head>
<body>
<h1>Eye atlas cohort report</h1>
<p class="summary"><b>{html.escape(state)}</b><br>This run: {html.escape(summary)}</p>
<p class="command">{html.escape(command)} · {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>
<p>Tables: <a href="cohort_stats.tsv">cohort_stats.tsv</a> (one row per image × eye × structure, with z-scores
against the MR-Eye population of the atlas sex and Tukey-fence outlier flags) and
<a href="cohort_failures.tsv">cohort_failures.tsv</a>.</p>
{_plots(rows)}
<h2>Images ({len(entries)}; failed and outliers first)</h2>
<div class="cards">
{cards}
</div>
</body></html>
"""
    atomic_write_text(path, page)
    return path
