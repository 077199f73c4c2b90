"""The per-image HTML report (``report.html`` in OUT_DIR): the page a cohort report links to.

One self-contained page (no script, no external file but the QC figure beside it): the eyes and their quality
control, the QC figure, the volumes and biometry against the population with a band for each, SNR with the noise
method, the warnings, and the input and software. It is rendered from the same data as ``report.json``,
``stats.csv`` and ``biometry.csv`` (rows as their ``as_row()`` dictionaries), so it says nothing those files do not.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1650px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.92em; } th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; }
th { text-align: left; background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.flag-low, .flag-high { color: #b00020; font-weight: bold; } .synthetic { background: #fff3cd; padding: 0.6em; }
.pass { color: #1b5e20; } .doubtful { color: #8a6d00; } .not_segmented { color: #b00020; }
img.qc { max-width: 100%; border: 1px solid #ccc; } .note { color: #666; font-size: 0.9em; }
"""
BAND_WIDTH_PX = 180


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """An HTML table; cells are already escaped HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if n else f"<td>{c}</td>"
                                    for c, n in zip(row, numeric)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def population_band_svg(value: float | None, p2_5: float, p50: float, p97_5: float, flag: str) -> str:
    """An inline SVG: the population's 2.5-97.5 % range (shaded), its median (tick) and the value (dot)."""
    low, high = min(p2_5, value if value is not None else p2_5), max(p97_5, value if value is not None else p97_5)
    pad = 0.1 * (high - low or 1.0)
    low, high = low - pad, high + pad

    def x(v: float) -> float:
        return BAND_WIDTH_PX * (v - low) / (high - low)

    parts = [f'<rect x="{x(p2_5):.1f}" y="4" width="{x(p97_5) - x(p2_5):.1f}" height="10" fill="#c8e6c9"/>',
             f'<line x1="{x(p50):.1f}" y1="2" x2="{x(p50):.1f}" y2="16" stroke="#2e7d32" stroke-width="2"/>']
    if value is not None:
        colour = "#b00020" if flag else "#0d47a1"
        parts.append(f'<circle cx="{x(value):.1f}" cy="9" r="4.5" fill="{colour}"/>')
    title = f"2.5-97.5 %: {_number(p2_5)}-{_number(p97_5)}, median {_number(p50)}"
    return (f'<svg width="{BAND_WIDTH_PX}" height="18" role="img" aria-label="{_e(title)}"><title>{_e(title)}</title>'
            + "".join(parts) + "</svg>")


def _measure_rows(rows: Sequence[Mapping]) -> list[list[str]]:
    table = []
    for r in rows:
        has_norm = r["population_p50"] is not None
        band = population_band_svg(r["value"], r["population_p2_5"], r["population_p50"], r["population_p97_5"],
                                   r["flag"]) if has_norm else ""
        norm = f"{_number(r['population_mean'])} ± {_number(r['population_sd'])} ({_e(r['population'])}, " \
               f"n={r['population_n']})" if has_norm else ""
        flag = f'<span class="flag-{_e(r["flag"])}">{_e(r["flag"])}</span>' if r["flag"] else ""
        table.append([_e(r["eye"]), _e(r["measure"].replace("_", " ")), _number(r["value"], 4), _e(r["unit"]), norm,
                      f"{_number(r['population_p2_5'])}-{_number(r['population_p97_5'])}" if has_norm else "",
                      _number(r["z_score"], 2), _number(r["percentile"], 2), flag, band, _e(r["note"])])
    return table


_MEASURE_HEADER = ("eye", "measure", "value", "unit", "population mean ± SD", "2.5-97.5 %", "z", "percentile",
                   "flag", "band", "note")
_MEASURE_NUMERIC = (False, False, True, False, False, False, True, True, False, False, False)


def render_report_html(report: Mapping, stats: Sequence[Mapping], biometry: Sequence[Mapping],
                       qc_figure: str | None, qc_figure_note: str = "") -> str:
    """The report page. ``report`` is report.json's content; ``stats`` and ``biometry`` the rows of stats.csv and
    biometry.csv; ``qc_figure`` the figure's file name beside the page, or None (``qc_figure_note`` says why)."""
    source = report["input"]["path"]
    name = source.replace("\\", "/").rstrip("/").split("/")[-1]
    atlas = report["atlas"]
    sections = [f"<h1>EyeAtlasSegment report: {_e(name)}</h1>"]
    if atlas.get("synthetic"):
        sections.append('<p class="synthetic">The atlas is SYNTHETIC (generated for demonstration and testing), '
                        "not the MR-Eye atlas: the labels and measures are not clinical.</p>")
    eye_rows = []
    for eye in report["eyes_requested"]:
        if eye in report["eyes"]:
            r = report["eyes"][eye]
            verdict = r["qc"]["verdict"]
            caveats = "; ".join(c["message"] for c in r["qc"]["checks"] if c["verdict"] != "pass")
            eye_rows.append([_e(eye), f'<span class="{_e(verdict)}">{_e(verdict)}</span>', _e(r["engine"]),
                             _e(", ".join(f"{v:.1f}" for v in r["centre_ras_mm"])), _e(r["centre_source"]),
                             _e(caveats)])
        else:
            eye_rows.append([_e(eye), '<span class="not_segmented">not segmented</span>', "", "", "",
                             _e(report["missing_eyes"].get(eye, ""))])
    biometry_section = report.get("biometry") or {}
    population = f"{biometry_section.get('population', '')} ({biometry_section.get('population_source', '')})"
    sections += ["<h2>Eyes</h2>",
                 f"<p>Atlas sex: {_e(atlas['sex'])}; population compared with: {_e(population)}.</p>",
                 _table(("eye", "QC", "engine", "globe centre (RAS mm)", "centre", "caveat or reason"), eye_rows,
                        (False,) * 6)]
    sections.append("<h2>Quality-control figure</h2>")
    if qc_figure:
        sections.append(f'<p><img class="qc" src="{_e(qc_figure)}" alt="labels over the image through each globe, '
                        f'three planes per eye"></p>')
    else:
        sections.append(f'<p class="note">No QC figure: {_e(qc_figure_note)}</p>')
    volumes = [r for r in biometry if r["unit"] == "mm3"]
    lengths = [r for r in biometry if r["unit"] != "mm3"]
    sections += ["<h2>Volumes against the population</h2>",
                 _table(_MEASURE_HEADER, _measure_rows(volumes), _MEASURE_NUMERIC),
                 "<h2>Biometry</h2>", _table(_MEASURE_HEADER, _measure_rows(lengths), _MEASURE_NUMERIC),
                 f'<p class="note">{_e(biometry_section.get("percentile_method", ""))}</p>']
    definitions = biometry_section.get("definitions", {})
    if definitions:
        sections.append(_table(("measure", "unit", "definition"),
                               [[_e(k.replace("_", " ")), _e(d["unit"]), _e(d["definition"])]
                                for k, d in definitions.items()], (False, False, False)))
        offsets = [[_e(eye), _e(e.get("anterior_offset_source", "")), _e(e["notes"].get("anterior_offset", ""))]
                   for eye, e in biometry_section.get("eyes", {}).items()]
        sections.append(_table(("eye", "anterior offset from", "note"), offsets, (False,) * 3))
    noise = report["noise"]
    sigma_ci = noise.get("sigma_ci95")
    sigma = (f"{_number(noise['sigma'], 4)} [{_number(sigma_ci[0], 4)}, {_number(sigma_ci[1], 4)}]" if sigma_ci
             else _number(noise["sigma"], 4)) if noise.get("sigma") is not None else "undefined"
    sections += ["<h2>Noise and SNR</h2>",
                 _table(("method", "model", "σ [95 % CI]", "voxels", "definition", "note"),
                        [[_e(noise["method"]), _e(noise["model"]), sigma, _e(noise["voxels"]),
                          _e(" ".join(filter(None, [noise.get("definition"), noise.get("model_definition")]))),
                          _e(noise.get("note"))]], (False, False, True, True, False, False)),
                 f'<p class="note">{_e(report["snr"]["definition"])}</p>',
                 _table(("eye", "structure", "volume (mm³)", "mean", "SNR", "95 % CI", "ROI voxels", "note"),
                        [[_e(r["eye"]), _e(r["structure"].replace("_", " ")), _number(r["volume_mm3"], 5),
                          _number(r["mean"], 4), _number(r["snr"], 3),
                          f"{_number(r['snr_ci_low'], 3)}-{_number(r['snr_ci_high'], 3)}"
                          if r["snr_ci_low"] is not None else "", _e(r["roi_voxels"]),
                          _e("; ".join(filter(None, [r["snr_note"], r["qc_note"]])))] for r in stats],
                        (False, False, True, True, True, True, True, False))]
    warnings = report.get("warnings", [])
    sections.append("<h2>Warnings</h2>")
    sections.append("<ul>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>" if warnings else "<p>None.</p>")
    software = ", ".join(f"{k} {v}" for k, v in report["software"].items())
    grid = f"{report['input']['size_ijk']} voxels of {[round(s, 3) for s in report['input']['spacing_mm']]} mm"
    sections += ["<h2>Input and software</h2>",
                 _table(("", ""), [["input", _e(source)], ["format", _e(report["input"]["format"])],
                                   ["grid", _e(grid)], ["atlas", _e(atlas["folder"])], ["software", _e(software)]],
                        (False, False))]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>EyeAtlasSegment: {_e(name)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(sections) + "\n</body></html>\n")
