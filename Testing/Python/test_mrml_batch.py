"""The Slicer batch script (run here with slicer-core) and the pure parts of the Slicer CLI engines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core is part of the [test] extras")

from EyeAtlasSegmentMRML.batch import find_images, output_name  # noqa: E402
from EyeAtlasSegmentMRML.slicer_cli_engines import brainsfit_parameters, elastix_parameter_text  # noqa: E402

BATCH = Path(__file__).resolve().parents[2] / "EyeAtlasSegment" / "EyeAtlasSegmentMRML" / "batch.py"


def _run_batch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BATCH), *args], capture_output=True, text=True, timeout=600)


def test_find_images_lists_image_files_and_dicom_folders(tmp_path):
    for name in ("a.nii.gz", "b.nrrd", "c.pkl", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "0001.dcm").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    assert [p.name for p in find_images(tmp_path)] == ["a.nii.gz", "b.nrrd", "c.pkl", "series"]
    assert find_images(tmp_path / "series") == [tmp_path / "series"]
    assert [output_name(p) for p in find_images(tmp_path)] == ["a", "b", "c", "series"]


def test_batch_refuses_wrong_arguments_and_missing_input(tmp_path):
    assert _run_batch("--atlas", str(tmp_path)).returncode == 2
    missing = _run_batch(str(tmp_path / "nothing"), "--atlas", str(tmp_path), "--out", str(tmp_path / "o"))
    assert missing.returncode == 1 and "input not found" in missing.stderr


@pytest.mark.slow
def test_batch_segments_a_folder_and_reports_the_bad_image(tmp_path, synthetic_atlas_dir):
    from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

    images = tmp_path / "in"
    images.mkdir()
    subject = make_subject(SubjectSpec(seed=4, spacing_mm=(1.5, 1.5, 1.5)))
    sitk.WriteImage(sitk.Cast(sitk.Round(subject.image), sitk.sitkInt16), str(images / "subject.nrrd"))
    (images / "broken.nii.gz").write_text("not an image")
    done = _run_batch(str(images), "--atlas", str(synthetic_atlas_dir), "--out", str(tmp_path / "out"), "--quiet")
    assert done.returncode == 1
    assert re.search(r"error: .*broken\.nii\.gz: .*NIfTI", done.stderr)
    assert "1 of 2 images segmented" in done.stdout
    assert not (tmp_path / "out" / "broken").exists()
    out = tmp_path / "out" / "subject"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["labels.nii.gz", "stats.csv", "cnr.csv", "biometry.csv", "report.json", "report.html", "qc.png",
         "segmentation.seg.nrrd"])
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labels.nii.gz")))
    from EyeAtlasSegmentMRML.headless import ensure_scene
    from EyeAtlasSegmentMRML.segmentation_nodes import labels_from_segmentation
    from EyeAtlasSegmentMRML.volume_nodes import add_volume_node

    scene = ensure_scene()
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "batch result")
    reader = slicer.vtkMRMLSegmentationStorageNode()
    reader.SetFileName(str(out / "segmentation.seg.nrrd"))
    assert reader.ReadData(segmentation)
    reference = add_volume_node(scene, sitk.ReadImage(str(images / "subject.nrrd"), sitk.sitkFloat32), "ref")
    np.testing.assert_array_equal(labels_from_segmentation(segmentation, reference), labels)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 18


def test_brainsfit_parameters_start_from_the_found_globe_with_masks_and_enough_samples():
    linear = brainsfit_parameters("linear", "F", "M", "K", "I", "O")
    assert linear["initializeTransformMode"] == "Off" and linear["initialTransform"] == "I"
    assert linear["maskProcessingMode"] == "ROI" and linear["fixedBinaryVolume"] == "K"
    assert linear["samplingPercentage"] >= 0.05 and linear["linearTransform"] == "O"
    assert "bsplineTransform" not in linear  # BRAINSFit writes one output transform per run
    bspline = brainsfit_parameters("bspline", "F", "M", "K", "L", "B")
    assert bspline["bsplineTransform"] == "B" and "linearTransform" not in bspline
    assert [int(n) for n in bspline["splineGridSize"].split(",")] == [6, 6, 6]
    with pytest.raises(ValueError):
        brainsfit_parameters("syn", "F", "M", "K", "I", "O")


@pytest.mark.parametrize("stage", ["linear", "bspline"])
def test_elastix_parameter_files_are_consistent(stage):
    text = elastix_parameter_text(stage)
    entries = dict(re.findall(r"^\((\w+) (.+)\)$", text, flags=re.M))
    assert len(entries) == text.count("\n")
    assert entries["AutomaticTransformInitialization"] == '"false"'
    resolutions = int(entries["NumberOfResolutions"])
    if stage == "bspline":  # a schedule not matching the resolutions crashes elastix (engineering notes)
        assert len(entries["GridSpacingSchedule"].split()) == 3 * resolutions
    else:
        assert entries["Transform"] == '"SimilarityTransform"'
