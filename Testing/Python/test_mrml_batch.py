"""The Slicer batch script and the module logic's console entry point (``run_in_scene``), run here on Slicer's own
MRML (slicer-core); the parts of the Slicer CLI engines that do not need the application: parameters, the shipped
elastix files, the CLI wait loop on a real CLI node, the engine registry; Python requirements; the atlas sample
data entry."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core is part of the [test] extras")

from EyeAtlasSegmentLib.errors import Cancelled, EyeAtlasError, RegistrationError  # noqa: E402
from EyeAtlasSegmentLib.pipeline import PipelineOptions  # noqa: E402
from EyeAtlasSegmentMRML.batch import find_images, output_name  # noqa: E402
from EyeAtlasSegmentMRML.slicer_cli_engines import (  # noqa: E402
    ELASTIX_PARAMETER_FILES,
    brainsfit_parameters,
    read_elastix_parameters,
    wait_for_cli,
)

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
    (images / "broken.nii.gz").write_text("not an image", encoding="utf-8")
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
    entries = read_elastix_parameters(ELASTIX_PARAMETER_FILES[stage])
    assert entries["AutomaticTransformInitialization"] == '"false"'  # the start is the found globe (-t0)
    resolutions = int(entries["NumberOfResolutions"])
    if stage == "bspline":  # a schedule not matching the resolutions crashes elastix (engineering notes)
        assert entries["Transform"] == '"BSplineTransform"'
        assert len(entries["GridSpacingSchedule"].split()) == 3 * resolutions
    else:
        assert entries["Transform"] == '"SimilarityTransform"'


@pytest.mark.parametrize("stage", ["linear", "bspline"])
def test_elastix_parameter_files_write_an_itk_composite_transform_as_slicer_elastix_presets_do(stage):
    """Without these two lines SlicerElastix cannot load a linear result and falls back to a displacement field."""
    entries = read_elastix_parameters(ELASTIX_PARAMETER_FILES[stage])
    assert entries["ITKTransformOutputFileNameExtension"] == '"h5"'
    assert entries["WriteITKCompositeTransform"] == '"true"'


def test_an_elastix_parameter_file_with_a_malformed_line_is_refused(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text('// comment\n(Transform "SimilarityTransform") // trailing comment\nTransform Euler\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match="not an elastix parameter line"):
        read_elastix_parameters(path)


class ScriptedCliLogic:
    """Plays the part of Slicer's CLI logic for a real ``vtkMRMLCommandLineModuleNode``: after ``polls`` event loops
    the run ends with ``outcome``; a cancel request (status Cancelling) ends it as Cancelled at the next loop."""

    def __init__(self, node, polls: int, outcome: int, error_text: str = "") -> None:
        self.node, self.polls, self.outcome, self.error_text = node, polls, outcome, error_text
        node.SetStatus(node.Running)

    def process_events(self) -> None:
        self.polls -= 1
        if self.node.GetStatus() == self.node.Cancelling:
            self.node.SetStatus(self.node.Cancelled)
        elif self.polls <= 0 and self.node.IsBusy():
            self.node.SetErrorText(self.error_text)
            self.node.SetStatus(self.outcome)


def test_cancelling_a_running_cli_stage_cancels_the_cli_node_and_raises_cancelled():
    node = slicer.vtkMRMLCommandLineModuleNode()
    cli = ScriptedCliLogic(node, polls=1000, outcome=node.Completed)
    reports = []

    def report(fraction: float) -> None:
        reports.append(fraction)
        if len(reports) == 3:
            raise Cancelled("cancelled by the user")

    with pytest.raises(Cancelled):
        wait_for_cli(node, report, "BRAINSFit linear stage", cli.process_events)
    assert node.GetStatus() == node.Cancelled and not node.IsBusy()
    assert len(reports) == 3 and cli.polls > 990  # stopped at once, not after the run


def test_a_cli_stage_that_ends_with_errors_raises_its_last_error_line():
    node = slicer.vtkMRMLCommandLineModuleNode()
    cli = ScriptedCliLogic(node, polls=3, outcome=node.CompletedWithErrors,
                           error_text="itk::ExceptionObject\nAll samples map outside moving image buffer\n")
    with pytest.raises(RegistrationError, match="^BRAINSFit linear stage failed: All samples map outside"):
        wait_for_cli(node, lambda fraction: None, "BRAINSFit linear stage", cli.process_events)


def test_a_cli_stage_that_completes_returns_and_one_cancelled_elsewhere_raises_cancelled():
    node = slicer.vtkMRMLCommandLineModuleNode()
    cli = ScriptedCliLogic(node, polls=3, outcome=node.Completed)
    wait_for_cli(node, lambda fraction: None, "BRAINSFit B-spline stage", cli.process_events)
    assert node.GetStatus() == node.Completed
    cli = ScriptedCliLogic(node, polls=2, outcome=node.Cancelled)  # e.g. the CLI module's own Cancel button
    with pytest.raises(Cancelled):
        wait_for_cli(node, lambda fraction: None, "BRAINSFit B-spline stage", cli.process_events)


def test_slicer_engines_extend_the_one_engine_registry(monkeypatch):
    from EyeAtlasSegmentLib import engines
    from EyeAtlasSegmentMRML.slicer_cli_engines import SLICER_ENGINES, BRAINSFitEngine, register_slicer_engines

    monkeypatch.setattr(engines, "_FACTORIES", dict(engines._FACTORIES))
    monkeypatch.setattr(engines, "ENGINE_MODULES", dict(engines.ENGINE_MODULES))
    register_slicer_engines()  # outside the Slicer application: they cannot run, so they are not offered
    assert engines.engine_names() == engines.ENGINES
    with pytest.raises(EyeAtlasError, match="unknown registration engine 'brainsfit'; choose one of simpleitk, ants"):
        engines.get_engine("brainsfit")
    for name, (factory, module) in SLICER_ENGINES.items():  # what register_slicer_engines does inside Slicer
        engines.register_engine(name, factory, module)
    assert engines.engine_names() == ("simpleitk", "ants", "brainsfit", "elastix")
    assert isinstance(engines.get_engine("brainsfit"), BRAINSFitEngine)
    assert engines.ENGINE_MODULES["elastix"] == "Elastix"


def test_missing_requirements_are_those_not_installed_or_too_old(tmp_path):
    from EyeAtlasSegmentMRML.python_requirements import missing_requirements, requirement_files

    path = tmp_path / "requirements.txt"
    path.write_text("# comment\nnumpy>=1.0  # installed\nnumpy<1.0\n--index-url https://example.invalid\n"
                    "no-such-package-eyeatlas>=1\nSimpleITK; sys_platform == 'nonexistent'\n", encoding="utf-8")
    assert missing_requirements([path]) == ["numpy<1.0", "no-such-package-eyeatlas>=1"]
    files = requirement_files("ants")
    assert [f.name for f in files] == ["requirements.txt", "requirements-ants.txt"]
    assert [f.name for f in requirement_files("brainsfit")] == ["requirements.txt"]


def test_declared_requirements_match_the_package_metadata():
    """Resources/requirements*.txt (what the Slicer module installs) say what pyproject.toml says."""
    import tomllib

    from EyeAtlasSegmentMRML.python_requirements import read_requirements, requirement_files

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    core, ants = requirement_files("ants")
    slicer_bundled = {"numpy", "simpleitk"}
    assert read_requirements(core) == [r for r in project["dependencies"]
                                       if re.split(r"[<>=!~ ;\[]", r)[0].lower() not in slicer_bundled]
    assert read_requirements(ants) == project["optional-dependencies"]["ants"]


def test_the_atlas_sample_data_entry_is_the_pinned_release_and_waits_for_its_sha256(tmp_path):
    import json

    from EyeAtlasSegmentLib.atlas_fetch import RELEASE_FILE, Release
    from EyeAtlasSegmentMRML.atlas_sample_data import atlas_sample_data_source

    pinned = json.loads(RELEASE_FILE.read_text(encoding="utf-8"))
    assert pinned["concept_doi"] == "10.5281/zenodo.13325369"
    if pinned["sha256"] is None:  # not yet copied from the record: nothing registered, rather than an unchecked file
        assert atlas_sample_data_source() is None
    filled = dict(pinned, sha256="AB" * 32)
    path = tmp_path / "release.json"
    path.write_text(json.dumps(filled), encoding="utf-8")
    source = atlas_sample_data_source(path)
    assert source["checksums"] == "SHA256:" + "ab" * 32 and source["loadFileTypes"] == "ZipFile"
    assert source["uris"] == Release.pinned().url and source["fileNames"] == Release.pinned().archive
    assert source["sampleName"] == "MR-Eye atlas" and Path(source["thumbnailFileName"]).is_file()
    path.write_text(json.dumps(dict(filled, url="http://example.org/atlas.zip")), encoding="utf-8")
    with pytest.raises(ValueError, match="https"):
        atlas_sample_data_source(path)


def test_an_atlas_folder_is_usable_only_when_it_has_the_release_layout(tmp_path, synthetic_atlas_dir, monkeypatch):
    from EyeAtlasSegmentMRML.scene_pipeline import atlas_folder_problem

    monkeypatch.chdir(synthetic_atlas_dir)  # even where "." is an atlas, "." means "not chosen"
    assert atlas_folder_problem(Path("."), "combined") == "not chosen"
    assert atlas_folder_problem(Path(""), "combined") == "not chosen"
    # The reasons are the engine's own (AtlasError), one line each.
    for folder, sex in ((tmp_path / "nothing", "combined"), (tmp_path, "combined"), (synthetic_atlas_dir, "female")):
        problem = atlas_folder_problem(folder, sex)  # no folder; an empty one; a sex this atlas lacks
        assert problem and "\n" not in problem, (folder, sex)
    assert atlas_folder_problem(synthetic_atlas_dir, "combined") is None


@pytest.fixture(scope="module")
def eye_subject():
    from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

    return make_subject(SubjectSpec(seed=5, fov_mm=(150.0, 200.0, 150.0), spacing_mm=(1.5, 1.5, 1.5)))


@pytest.fixture()
def subject_volume(eye_subject):
    from EyeAtlasSegmentMRML.headless import ensure_scene, node_ids, remove_nodes_except
    from EyeAtlasSegmentMRML.volume_nodes import add_volume_node

    scene = ensure_scene()
    before = node_ids(scene)
    yield add_volume_node(scene, eye_subject.image, "subject")
    remove_nodes_except(scene, before)


def test_the_console_entry_point_takes_pipeline_options_with_nodes_and_fills_the_output_segmentation(
        eye_subject, subject_volume, synthetic_atlas_dir):
    from EyeAtlasSegmentMRML.scene_pipeline import run_in_scene
    from EyeAtlasSegmentMRML.segmentation_nodes import labels_from_segmentation
    from helpers import FixedScaleEngine, air_corner_segmentation  # the engine: fast, known volumes

    scene = subject_volume.GetScene()
    air, air_kji = air_corner_segmentation(scene, eye_subject.image, subject_volume)
    air_voxels = int(air_kji.sum())
    centres = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "eye centres")
    centres.AddControlPoint(*eye_subject.globe_centres_ras_mm["right"], "right")
    output = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "my eyes")
    options = PipelineOptions(engine=FixedScaleEngine({"right": 1.0, "left": 1.0}), retry_engines=(),
                              noise_roi=air, centres_ras_mm=centres)
    segmentations_before = scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems()
    first = run_in_scene(subject_volume, synthetic_atlas_dir, options, output_segmentation=output)
    segmentations_after_first = scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems()
    second = run_in_scene(subject_volume, synthetic_atlas_dir, options, output_segmentation=output)
    assert first.segmentation is output and second.segmentation is output and output.GetName() == "my eyes"
    segmentations_after_second = scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems()
    assert segmentations_before == segmentations_after_first == segmentations_after_second  # filled, not added
    assert output.GetSegmentation().GetNumberOfSegments() == 18
    np.testing.assert_array_equal(labels_from_segmentation(output, subject_volume),
                                  sitk.GetArrayFromImage(second.pipeline.labels))
    assert second.pipeline.noise.method == "roi" and second.pipeline.noise.voxels == air_voxels
    assert second.pipeline.eyes["right"].centre_source == "user_refined"
    assert second.pipeline.eyes["left"].centre_source == "detected"
    biometry = second.biometry_table
    assert " biometry" in biometry.GetName() and biometry.GetScene() is scene
    assert biometry.GetNumberOfRows() == len(second.pipeline.biometry.rows) > 0
    assert biometry.GetTable().GetColumnByName("z_score") is not None


def test_cancel_during_a_registration_stops_at_the_next_step_and_leaves_no_node(subject_volume, synthetic_atlas_dir):
    """The run stops at the first progress report after the request (here: the first SimpleITK stage's), not at the
    end of the eye's registration attempt."""
    from EyeAtlasSegmentMRML.scene_pipeline import run_in_scene

    scene = subject_volume.GetScene()
    output = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "kept as it was")
    messages, requested = [], []

    def progress(fraction: float, message: str) -> None:
        messages.append(message)
        if "registration" in message and not requested:  # the user clicks Cancel as the first stage starts
            requested.append(time.perf_counter())

    nodes = scene.GetNumberOfNodes()
    with pytest.raises(Cancelled):
        run_in_scene(subject_volume, synthetic_atlas_dir, PipelineOptions(eyes=("right",)), output_segmentation=output,
                     progress=progress, is_cancelled=lambda: bool(requested))
    assert time.perf_counter() - requested[0] < 1.0
    assert "registration" in messages[-1] and sum("registration" in m for m in messages) == 1
    assert scene.GetNumberOfNodes() == nodes and output.GetSegmentation().GetNumberOfSegments() == 0
