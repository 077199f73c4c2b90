"""The QC figure and the per-image HTML report, written by ``write_outputs`` from a result assembled on analytic
eyes (labels known exactly, no registration): size, planes, contours, legend, orientation, scale bar, header,
tables with population bands, and the run without matplotlib."""

from __future__ import annotations

import csv
import json
import math
import struct
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.atlas import Atlas
from EyeAtlasSegmentLib.biometry import measure_biometry
from EyeAtlasSegmentLib.cnr import contrast_to_noise
from EyeAtlasSegmentLib.eye_qc import QcCheck
from EyeAtlasSegmentLib.geometry import ijk_to_ras_affine
from EyeAtlasSegmentLib.image_io import LoadedImage
from EyeAtlasSegmentLib.noise import NoiseEstimate
from EyeAtlasSegmentLib.orbit_crop import VoxelRegion
from EyeAtlasSegmentLib.outputs import OUTPUT_FILES, QC_FIGURE, write_outputs
from EyeAtlasSegmentLib.pipeline import EyeResult, PipelineOptions, PipelineResult
from EyeAtlasSegmentLib.population import compare_with_population
from EyeAtlasSegmentLib.qc import qc_figure, qc_views
from EyeAtlasSegmentLib.registration import RegistrationResult
from EyeAtlasSegmentLib.statistics import structure_statistics
from EyeAtlasSegmentLib.structures import STRUCTURES
from EyeAtlasSegmentLib.synthetic.analytic_eye import AnalyticEye, analytic_eyes_image

RIGHT, LEFT = AnalyticEye(), AnalyticEye(closed_lids=False)


@pytest.fixture(scope="module")
def result() -> PipelineResult:
    phantom = analytic_eyes_image(RIGHT, LEFT, (0.9, 0.9, 1.2), (8.0, -6.0, 12.0), noise_sigma=10.0)
    image, labels = phantom.image, phantom.labels
    loaded = LoadedImage(image, ijk_to_ras_affine(image), Path("analytic_eyes.nii.gz"), "nifti", False)
    atlas = Atlas(image, labels, "female", Path("synthetic_atlas"),
                  Path("synthetic_atlas/female/1_max_prob_map.nii.gz"),
                  synthetic=True)
    eyes = {}
    for eye, spec, verdict in (("right", RIGHT, "pass"), ("left", LEFT, "doubtful")):
        centre = tuple(np.array(spec.centre_ras_mm) * ([-1, 1, 1] if eye == "left" else 1))
        registration = RegistrationResult(sitk.Transform(), VoxelRegion((0, 0, 0), labels.GetSize(), 1.0), "simpleitk",
                                          {})
        check = QcCheck("deformable", verdict, None, "kept", "deformable stage kept" if verdict == "pass" else
                        "the deformable stage was rejected (test): thin structures are less accurate")
        eyes[eye] = EyeResult(eye, centre, "detected", 1.0, registration, verdict, [check])
    noise = NoiseEstimate("air_background", 10.0, 20000, sigma_rel_se=0.005)
    stats = structure_statistics(image, labels, ["right", "left"], noise)
    for row in stats:
        row.qc_status = eyes[row.eye].qc_verdict
    biometry = compare_with_population(measure_biometry(image, labels, ["right", "left"]), stats, {},
                                       ["right", "left"], "female")
    return PipelineResult(loaded, labels, eyes, {}, {}, stats, contrast_to_noise(stats, noise), noise, atlas,
                          PipelineOptions(sex="female"), {}, ["a test warning <with markup>"], biometry)


@pytest.fixture(scope="module")
def written(result, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    return write_outputs(result, out), out


def test_the_qc_figure_is_wide_and_shows_both_eyes_in_three_planes(result):
    views, header = qc_views(result)
    figure = qc_figure(result.image.image, result.labels, views, header)
    width, height = (figure.get_size_inches() * figure.dpi).astype(int)
    assert width >= 1200 and height >= 800
    panels = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["axial", "coronal", "sagittal"] * 2
    assert panels[0].get_ylabel().startswith("Right eye") and panels[3].get_ylabel().startswith("Left eye")
    for ax in panels:
        assert ax.collections, "label contours are drawn over the image"
        letters = {t.get_text() for t in ax.texts}
        assert "10 mm" in letters
    letters = [{t.get_text() for t in ax.texts} - {"10 mm"} for ax in panels[:3]]
    assert letters == [{"R", "L", "A", "P"}, {"R", "L", "S", "I"}, {"A", "P", "S", "I"}]
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert all(any(s.name in entry for entry in legend) for s in STRUCTURES)
    assert "atlas sex: female" in header and "engine: simpleitk" in header
    assert "QC: right pass, left doubtful" in header and "SYNTHETIC" in header


def test_the_axial_length_line_is_drawn_where_it_lies_in_the_plane(result):
    views, header = qc_views(result)
    assert all(v.axial_line_ras_mm is not None for v in views)
    figure = qc_figure(result.image.image, result.labels, views, header)
    axial = [ax for ax in figure.axes if ax.get_title() == "axial"][0]
    dashed = [line for line in axial.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1
    xs = dashed[0].get_xdata()
    lens_front, globe_back = views[0].axial_line_ras_mm
    assert abs(xs[1] - xs[0]) <= np.linalg.norm(np.subtract(lens_front, globe_back)) + 1e-6


def test_outputs_hold_the_figure_biometry_and_report_page(written):
    paths, out = written
    assert sorted(paths) == sorted(OUTPUT_FILES + (QC_FIGURE,))
    png = (out / QC_FIGURE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 1200
    import matplotlib.image

    pixels = (matplotlib.image.imread(str(out / QC_FIGURE))[..., :3] * 255).round()
    for structure in (s for s in STRUCTURES if s.key in ("lens", "globe", "optic_nerve")):
        assert np.any(np.all(np.abs(pixels - structure.colour_rgb) <= 12, axis=-1)), structure.name
    with open(out / "biometry.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    axial = next(r for r in rows if r["eye"] == "right" and r["measure"] == "axial_length")
    assert float(axial["value"]) == pytest.approx(RIGHT.truth()["axial_length"], abs=0.4)
    assert axial["population"] == "F" and axial["z_score"] and axial["percentile"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["biometry"]["population"] == "F"
    assert report["biometry"]["eyes"]["left"]["anterior_offset_source"] == "fallback"
    assert set(report["outputs"]) == set(paths)


class _Page(HTMLParser):
    """Tags, image sources, table headers and text of a page; fails on unbalanced tables."""

    def __init__(self):
        super().__init__()
        self.images, self.headers, self.text, self.open_tables = [], [], [], 0
        self._in_header = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self.open_tables += tag == "table"
        self._in_header = tag == "th"

    def handle_endtag(self, tag):
        self.open_tables -= tag == "table"
        self._in_header = False

    def handle_data(self, data):
        (self.headers if self._in_header else self.text).append(data)


def test_the_report_page_has_the_figure_tables_bands_and_warnings(written):
    _, out = written
    source = (out / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(source)
    assert page.open_tables == 0
    assert page.images == [QC_FIGURE]
    text = " ".join(page.text)
    for heading in ("Eyes", "Volumes against the population", "Biometry", "Noise and SNR", "Warnings"):
        assert heading in text
    assert {"population mean ± SD", "2.5-97.5 %", "z", "percentile", "band", "SNR", "σ [95 % CI]"} <= set(page.headers)
    assert source.count("<svg") >= 2 * 11  # a band for every volume and the axial length, both eyes
    assert "SYNTHETIC" in text and "air_background" in text and "doubtful" in text
    assert "a test warning <with markup>" in text and "<with markup>" not in source  # escaped
    assert "axial length" in text and "lens thickness" in text and "2.72" in text


def test_without_matplotlib_no_figure_is_written_and_the_run_says_so(result, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(result, "warnings", list(result.warnings))
    paths = write_outputs(result, tmp_path / "out")
    assert QC_FIGURE not in paths and not (tmp_path / "out" / QC_FIGURE).exists()
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert any("matplotlib" in w and "eye-atlas-segment[report]" in w for w in report["warnings"])
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<img" not in page and "No QC figure" in page


def test_the_slicer_biometry_table_holds_every_row_typed_with_units(result):
    pytest.importorskip("slicer", reason="slicer-core is part of the [test] extras")
    from EyeAtlasSegmentLib.columns import BIOMETRY_TABLE
    from EyeAtlasSegmentLib.population import BIOMETRY_COLUMNS
    from EyeAtlasSegmentMRML.headless import ensure_scene
    from EyeAtlasSegmentMRML.table_nodes import biometry_table

    rows = result.biometry.rows
    node = biometry_table(ensure_scene(), rows, "biometry")
    table = node.GetTable()
    assert [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())] == list(BIOMETRY_COLUMNS)
    assert table.GetNumberOfRows() == len(rows)
    assert node.GetColumnUnitLabel("percentile") == "%"
    assert all(node.GetColumnDescription(c.key) == c.description for c in BIOMETRY_TABLE)
    for r, row in enumerate(rows):
        assert table.GetValueByName(r, "measure").ToString() == row.measure
        assert table.GetValueByName(r, "unit").ToString() == row.unit
        assert table.GetValueByName(r, "flag").ToString() == row.flag
        value = table.GetValueByName(r, "z_score").ToDouble()
        assert math.isnan(value) if row.z_score is None else value == pytest.approx(row.z_score)
    assert table.GetValueByName(0, "value").ToDouble() == pytest.approx(rows[0].value)
