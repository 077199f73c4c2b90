"""The command-line contract other tools depend on: files, columns, label values, exit status, no partial output."""

from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib import outputs
from EyeAtlasSegmentLib.errors import OutputError
from EyeAtlasSegmentLib.globe_finder import DEFAULT_SETTINGS
from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject
from helpers import FixedScaleEngine

ENGINE_DIR = Path(__file__).resolve().parents[2] / "EyeAtlasSegment"
REQUIRED_COLUMNS = ["eye", "label", "structure", "voxels", "volume_mm3", "mean", "sd", "median", "snr", "noise_sd",
                    "noise_method"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ENGINE_DIR))
    return subprocess.run([sys.executable, "-m", "EyeAtlasSegmentLib.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def subject_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subject")
    subject = make_subject(SubjectSpec(seed=21, orientation="LAS", spacing_mm=(1.0, 1.0, 1.2),
                                       fov_mm=(160.0, 220.0, 170.0)))
    path = folder / "subject.nii.gz"
    sitk.WriteImage(subject.image, str(path))
    return path


@pytest.fixture(scope="module")
def cli_run(subject_file, synthetic_atlas_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "out"
    completed = run_cli("run", subject_file, "--atlas", synthetic_atlas_dir, "--out", out, "--quiet")
    return completed, out


@pytest.mark.slow
def test_run_writes_the_files_on_the_input_grid(cli_run, subject_file):
    completed, out = cli_run
    assert completed.returncode == 0, completed.stderr
    assert sorted(p.name for p in out.iterdir()) == ["biometry.csv", "cnr.csv", "labels.nii.gz", "qc.png",
                                                   "report.html",
                                                   "report.json", "stats.csv"]
    source, labels = nib.load(subject_file), nib.load(out / "labels.nii.gz")
    assert labels.shape == source.shape
    np.testing.assert_allclose(labels.affine, source.affine, atol=1e-4)
    values = np.asarray(labels.dataobj)
    assert np.issubdtype(values.dtype, np.integer)
    assert set(np.unique(values)) == {0, *range(1, 10), *range(11, 20)}


def _read_csv(path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


@pytest.mark.slow
def test_stats_csv_has_one_row_per_eye_and_structure(cli_run):
    _, out = cli_run
    columns, rows = _read_csv(out / "stats.csv")
    assert set(REQUIRED_COLUMNS) <= set(columns)
    assert len(rows) == 18
    assert {(r["eye"], int(r["label"])) for r in rows} == {("right", n) for n in range(1, 10)} | {
        ("left", n) for n in range(11, 20)}
    globe = next(r for r in rows if r["eye"] == "right" and r["structure"] == "globe")
    assert float(globe["volume_mm3"]) > 3000 and float(globe["snr"]) > 0
    assert (globe["noise_method"], globe["noise_model"]) == ("air_background", "rayleigh_sd")
    assert float(globe["snr_ci_low"]) < float(globe["snr"]) < float(globe["snr_ci_high"])
    assert int(globe["roi_voxels"]) == int(globe["voxels"])  # no erosion by default


@pytest.mark.slow
def test_cnr_csv_has_the_default_pairs_for_both_eyes(cli_run):
    from EyeAtlasSegmentLib.cnr import CNR_COLUMNS, DEFAULT_CNR_PAIRS

    _, out = cli_run
    columns, rows = _read_csv(out / "cnr.csv")
    assert columns == list(CNR_COLUMNS)
    assert {(r["eye"], r["structure_a"], r["structure_b"]) for r in rows} == {
        (eye, a, b) for eye in ("right", "left") for a, b in DEFAULT_CNR_PAIRS}
    lens_globe = next(r for r in rows if r["eye"] == "right" and r["structure_a"] == "lens")
    assert float(lens_globe["cnr"]) > 0 and float(lens_globe["cnr_pooled"]) > 0


@pytest.mark.slow
def test_report_and_qc_png(cli_run):
    _, out = cli_run
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in ("input", "atlas", "eyes", "noise", "snr", "cnr", "timings_s", "software", "warnings"):
        assert key in report
    assert report["noise"]["method"] == "air_background" and report["noise"]["model"] == "rayleigh_sd"
    low, high = report["noise"]["sigma_ci95"]
    assert low < report["noise"]["sigma"] < high and report["noise"]["details"]["ghost_band_excluded"] > 0
    assert report["snr"]["roi"]["erosion_mm"] == 0 and len(report["snr"]["roi"]["voxels_per_structure"]) == 18
    assert report["atlas"]["sex"] == "combined" and report["atlas"]["synthetic"] is True
    assert set(report["eyes"]) == {"right", "left"}
    assert report["eyes"]["right"]["engine"] == "simpleitk"
    assert report["eyes"]["right"]["centre_source"] == "detected"
    search = report["globe_search"]
    assert search["settings"]["high_confidence"] == DEFAULT_SETTINGS.high_confidence
    assert search["search"]["inverted_contrast"] is False
    assert {d["confidence"] for d in search["detections"].values()} == {"high"}
    png = (out / "qc.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 1200 and height > 800
    assert report["biometry"]["population"] == "all" and set(report["biometry"]["eyes"]) == {"right", "left"}
    assert '<img class="qc" src="qc.png"' in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_biometry_csv_has_every_volume_and_length_of_both_eyes(cli_run):
    from EyeAtlasSegmentLib.biometry import MEASURES
    from EyeAtlasSegmentLib.population import BIOMETRY_COLUMNS

    _, out = cli_run
    columns, rows = _read_csv(out / "biometry.csv")
    assert columns == list(BIOMETRY_COLUMNS) and len(rows) == 2 * (10 + len(MEASURES))
    axial = {r["eye"]: r for r in rows if r["measure"] == "axial_length"}
    for eye in ("right", "left"):  # the synthetic eye's lens-to-retina length is 18.95 mm before its random scaling
        assert 15.0 < float(axial[eye]["value"]) < 23.0 and axial[eye]["population"] == "all"
        assert axial[eye]["z_score"] and axial[eye]["percentile"]


def test_missing_image_fails_with_one_line_and_writes_nothing(synthetic_atlas_dir, tmp_path):
    out = tmp_path / "out"
    completed = run_cli("run", tmp_path / "missing.nii.gz", "--atlas", synthetic_atlas_dir, "--out", out, "--quiet")
    assert completed.returncode == 1
    assert completed.stderr.startswith("error:") and len(completed.stderr.strip().splitlines()) == 1
    assert "missing.nii.gz" in completed.stderr
    assert not out.exists()
    with_progress = run_cli("run", tmp_path / "missing.nii.gz", "--atlas", synthetic_atlas_dir, "--out", out)
    assert with_progress.returncode == 1
    assert with_progress.stderr.strip().splitlines()[-1] == completed.stderr.strip()


def test_bad_atlas_fails_and_leaves_existing_out_dir_untouched(subject_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("kept", encoding="utf-8")
    completed = run_cli("run", subject_file, "--atlas", tmp_path, "--out", out, "--quiet")
    assert completed.returncode == 1 and "atlas" in completed.stderr
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    assert list(tmp_path.glob(".out.partial-*")) == []


def test_wrong_arguments_exit_2(tmp_path):
    completed = run_cli("run", tmp_path / "x.nii.gz", "--out", tmp_path)  # --atlas missing
    assert completed.returncode == 2


def test_version_prints_the_package_version_and_exits_0():
    completed = run_cli("--version")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"eye-atlas-segment {importlib.metadata.version('eye-atlas-segment')}"


def test_python_dash_m_package_is_the_same_command_with_a_one_sentence_help():
    env = dict(os.environ, PYTHONPATH=str(ENGINE_DIR))
    completed = subprocess.run([sys.executable, "-m", "EyeAtlasSegmentLib", "--help"], capture_output=True, text=True,
                               env=env, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: eye-atlas-segment ")
    assert "Segment the eyes and orbits of a 3D MRI with the MR-Eye atlas" in " ".join(completed.stdout.split())
    assert "``" not in completed.stdout
    for command in ("run", "cohort", "demo", "make-synthetic", "fetch-atlas"):
        assert command in completed.stdout


def test_failure_while_writing_leaves_nothing_half_written(subject_file, synthetic_atlas_dir, tmp_path, monkeypatch):
    result = run_pipeline(subject_file, synthetic_atlas_dir, PipelineOptions(engine=FixedScaleEngine(),
                                                                             retry_engines=()))

    def broken_qc(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(outputs, "write_qc_figure", broken_qc)
    out = tmp_path / "out"
    with pytest.raises(OutputError, match=rf"could not write the results into {out} \(OSError\); nothing was written"):
        outputs.write_outputs(result, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_unexpected_exception_is_one_line_not_a_traceback(subject_file, synthetic_atlas_dir, tmp_path, monkeypatch,
                                                          capsys):
    from EyeAtlasSegmentLib import cli

    def crash(*args, **kwargs):
        raise RuntimeError("ITK ERROR: something deep\nwith a second line")

    monkeypatch.setattr(cli, "run_pipeline", crash)
    status = cli.main(["run", str(subject_file), "--atlas", str(synthetic_atlas_dir), "--out", str(tmp_path / "out"),
                       "--quiet"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.strip().splitlines() == ["error: internal error (RuntimeError): with a second line"]
    assert not (tmp_path / "out").exists()
