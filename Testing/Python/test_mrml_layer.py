"""The Qt-free MRML layer, run for real on Slicer's MRML (PyPI ``slicer-core``, installed with the test extras).

Ground truth is synthetic: a subject with known labels and noise σ, and transforms with known point mappings.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core is part of the [test] extras")
import vtk  # noqa: E402

from EyeAtlasSegmentLib.atlas import load_atlas  # noqa: E402
from EyeAtlasSegmentLib.columns import STATS_TABLE  # noqa: E402
from EyeAtlasSegmentLib.errors import InputImageError  # noqa: E402
from EyeAtlasSegmentLib.geometry import same_grid  # noqa: E402
from EyeAtlasSegmentLib.label_transfer import warp_labels  # noqa: E402
from EyeAtlasSegmentLib.noise import NoiseEstimate  # noqa: E402
from EyeAtlasSegmentLib.orbit_crop import template_footprint_region  # noqa: E402
from EyeAtlasSegmentLib.pipeline import PipelineOptions  # noqa: E402
from EyeAtlasSegmentLib.statistics import CSV_COLUMNS, structure_statistics  # noqa: E402
from EyeAtlasSegmentLib.structures import EYES, STRUCTURES, Code, output_label, segment_name  # noqa: E402
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject  # noqa: E402
from EyeAtlasSegmentMRML.headless import ensure_scene  # noqa: E402
from EyeAtlasSegmentMRML.noise_segments import is_noise_segment, noise_for_segmentation, noise_from_segments  # noqa: E402
from EyeAtlasSegmentMRML.plot_nodes import snr_plot  # noqa: E402
from EyeAtlasSegmentMRML.segment_statistics import all_segment_statistics  # noqa: E402
from EyeAtlasSegmentMRML.segment_terminology import (  # noqa: E402
    segment_terminology,
    set_segment_terminology,
    set_segment_terminology_tag,
    terminology_entry,
)
from EyeAtlasSegmentMRML.segmentation_nodes import (  # noqa: E402
    labels_from_segmentation,
    segmentation_from_labels,
    structure_terminology,
)
from EyeAtlasSegmentMRML.table_nodes import statistics_table  # noqa: E402
from EyeAtlasSegmentMRML.transform_nodes import sitk_from_transform_node, transform_node_from_sitk  # noqa: E402
from EyeAtlasSegmentMRML.volume_nodes import add_volume_node, image_from_volume_node, loaded_image_from_volume_node  # noqa: E402
from helpers import FixedScaleEngine, air_corner_segmentation  # noqa: E402

SIGMA = 20.0


@pytest.fixture(scope="module")
def scene():
    return ensure_scene()


@pytest.fixture(scope="module")
def subject():
    """An oblique-free but non-RAS (PIR, anisotropic) synthetic head with known labels and σ."""
    return make_subject(SubjectSpec(seed=11, spacing_mm=(1.2, 1.0, 1.1), orientation="PIR", noise_sigma=SIGMA))


@pytest.fixture(scope="module")
def subject_node(scene, subject):
    return add_volume_node(scene, subject.image, "synthetic subject")


def _oblique_image() -> sitk.Image:
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.normal(100, 10, (9, 10, 11)).astype(np.float32))
    image.SetSpacing((0.9, 1.1, 2.0))
    image.SetOrigin((10.0, -20.0, 30.0))
    image.SetDirection(sitk.VersorRigid3DTransform((0.1, 0.2, 0.3, 0.9)).GetMatrix())
    return image


def test_volume_node_round_trip_keeps_grid_and_voxels(scene):
    image = _oblique_image()
    node = add_volume_node(scene, image, "oblique")
    back = image_from_volume_node(node)
    assert same_grid(image, back, spacing_mm=1e-5, origin_mm=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    # Slicer's IJK→RAS is the LPS geometry with x and y negated.
    import vtk  # noqa: PLC0415
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    ras = matrix.MultiplyPoint((1.0, 2.0, 3.0, 1.0))[:3]
    lps = image.TransformIndexToPhysicalPoint((1, 2, 3))
    np.testing.assert_allclose(ras, (-lps[0], -lps[1], lps[2]), atol=1e-9)


def test_volume_node_written_by_slicer_reads_back_with_the_same_geometry(scene, tmp_path):
    image = _oblique_image()
    node = add_volume_node(scene, image, "oblique for file")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(tmp_path / "v.nrrd"))
    assert storage.WriteData(node)
    assert same_grid(sitk.ReadImage(str(tmp_path / "v.nrrd")), image, spacing_mm=1e-5, origin_mm=1e-5)


def test_loaded_image_from_volume_node_refuses_tiny_and_vector_volumes(scene):
    tiny = add_volume_node(scene, sitk.Image([4, 30, 30], sitk.sitkFloat32), "tiny")
    with pytest.raises(InputImageError, match="too small"):
        loaded_image_from_volume_node(tiny)
    vector = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "rgb")
    slicer.util.updateVolumeFromArray(vector, np.zeros((10, 10, 10, 3), np.uint8))
    with pytest.raises(InputImageError, match="several components"):
        loaded_image_from_volume_node(vector)
    loaded = loaded_image_from_volume_node(add_volume_node(scene, _oblique_image(), "ok"))
    assert loaded.source_format == "mrml" and not loaded.geometry_assumed


def test_segmentation_has_named_coloured_coded_segments_and_survives_seg_nrrd(scene, subject, subject_node,
                                                                                 tmp_path):
    segmentation = segmentation_from_labels(scene, subject.truth_labels, subject_node, EYES, "truth")
    segments = segmentation.GetSegmentation()
    assert segments.GetNumberOfSegments() == 18
    right_lens = segments.GetSegment(segments.GetSegmentIdBySegmentName("Right lens"))
    assert right_lens.GetColor() == pytest.approx([c / 255 for c in STRUCTURES[0].colour_rgb])
    assert "SCT^78076003^Lens structure" in right_lens.GetTerminology()
    assert "SCT^24028007^Right" in right_lens.GetTerminology()
    left_lateral = segments.GetSegment(segments.GetSegmentIdBySegmentName("Left lateral rectus"))
    assert "SCT^71616004^Muscle" in left_lateral.GetTerminology()
    assert "SCT^363654007^Orbital structure~SCT^7771000^Left" in left_lateral.GetTerminology()

    truth = sitk.GetArrayFromImage(subject.truth_labels)
    np.testing.assert_array_equal(labels_from_segmentation(segmentation, subject_node), truth)

    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(tmp_path / "eyes.seg.nrrd"))
    assert storage.WriteData(segmentation)
    reread = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "reread")
    reader = slicer.vtkMRMLSegmentationStorageNode()
    reader.SetFileName(str(tmp_path / "eyes.seg.nrrd"))
    assert reader.ReadData(reread)
    np.testing.assert_array_equal(labels_from_segmentation(reread, subject_node), truth)
    reread_lens = reread.GetSegmentation().GetSegment(reread.GetSegmentation().GetSegmentIdBySegmentName("Right lens"))
    assert reread_lens.GetTerminology() == right_lens.GetTerminology()


def test_terminology_written_through_the_5_10_api_or_the_5_8_tag_is_the_same_and_slicer_parses_it():
    entry = structure_terminology("left", 6)  # left lateral rectus: muscle in the left orbital region
    fields = entry.split("~")
    assert len(fields) == 7 and fields[0] and fields[4]  # what Slicer 5.8's DeserializeTerminologyEntry requires
    with_api, with_tag = slicer.vtkSegment(), slicer.vtkSegment()
    set_segment_terminology(with_api, entry)  # slicer-core has SetTerminology, as Slicer 5.10 does
    set_segment_terminology_tag(with_tag, entry)  # the path taken where it is missing (Slicer 5.8)
    assert with_api.GetTerminology() == with_tag.GetTerminology() == segment_terminology(with_tag) == entry
    parsed = slicer.vtkSlicerTerminologyEntry()
    assert slicer.vtkSlicerTerminologiesModuleLogic.DeserializeTerminologyEntry(entry, parsed)
    assert parsed.GetTypeObject().GetCodeMeaning() == "Muscle"
    assert parsed.GetTerminologyContextName() == "Segmentation category and type - DICOM master list"


@pytest.mark.parametrize("name, is_noise", [
    ("Air", True), ("air ROI", True), ("Noise", True), ("noise_roi", True), ("Background air", True),
    ("Air (noise ROI)", True), ("Hair", False), ("Airway", False), ("Stairs", False), ("Noisette", False),
    ("Background", False), ("Background tissue", False), ("Segment_1", False)])
def test_a_noise_segment_has_the_whole_word_air_or_noise_in_its_name(name, is_noise):
    segment = slicer.vtkSegment()
    segment.SetName(name)
    assert is_noise_segment(segment) is is_noise


def test_a_segment_coded_as_gas_is_a_noise_segment_whatever_its_name():
    segment = slicer.vtkSegment()
    segment.SetName("Segment_1")
    body_substance = Code("SCT", "91720002", "Body Substance")
    set_segment_terminology(segment, terminology_entry(body_substance, Code("SCT", "74947009", "Gas")))
    assert is_noise_segment(segment)
    spatial = Code("SCT", "309825002", "Spatial and Relational Concept")
    set_segment_terminology(segment, terminology_entry(spatial, Code("DCM", "125040", "Background")))
    assert not is_noise_segment(segment)  # "Background" is also what Grow from seeds calls surrounding tissue


def test_only_present_structures_become_segments(scene, subject, subject_node):
    right_only = sitk.GetArrayFromImage(subject.truth_labels)
    right_only[right_only > 10] = 0
    right_only[right_only == output_label("right", 3)] = 0  # optic nerve outside the field of view
    image = sitk.GetImageFromArray(right_only)
    image.CopyInformation(subject.truth_labels)
    segmentation = segmentation_from_labels(scene, image, subject_node, ["right"], "right only")
    names = {segmentation.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(segmentation.GetSegmentation().GetNumberOfSegments())}
    assert names == {segment_name("right", s.label) for s in STRUCTURES} - {"Right optic nerve"}


def _truth_stats(subject):
    noise = NoiseEstimate("known", SIGMA, 0)
    return structure_statistics(subject.image, subject.truth_labels, EYES, noise), noise


def test_statistics_table_has_every_column_with_units_and_the_engine_values(scene, subject):
    stats, _ = _truth_stats(subject)
    stats[0].snr = None  # an undefined value becomes NaN, not 0
    table_node = statistics_table(scene, stats, "stats")
    table = table_node.GetTable()
    assert [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())] == list(CSV_COLUMNS)
    assert table.GetNumberOfRows() == len(stats) == 18
    assert table_node.GetColumnUnitLabel("volume_mm3") == "mm3"
    for column in STATS_TABLE:
        assert table_node.GetColumnDescription(column.key) == column.description
        assert table_node.GetColumnUnitLabel(column.key) == column.unit
    for r, row in enumerate(stats):
        assert table.GetValueByName(r, "structure").ToString() == row.structure
        assert table.GetValueByName(r, "voxels").ToInt() == row.voxels
        assert table.GetValueByName(r, "mean").ToDouble() == pytest.approx(row.mean)
    assert math.isnan(table.GetValueByName(0, "snr").ToDouble())


def test_snr_plot_has_a_bar_series_per_eye_with_the_engine_values(scene, subject):
    stats, _ = _truth_stats(subject)
    chart = snr_plot(scene, stats, "snr")
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    for eye, index in zip(EYES, range(2)):
        series = chart.GetNthPlotSeriesNode(index)
        assert series.GetPlotType() == series.PlotTypeBar
        values = slicer.util.arrayFromTableColumn(series.GetTableNode(), "value")
        expected = [row.snr for row in stats if row.eye == eye]
        np.testing.assert_allclose(values, expected)


def test_segment_statistics_follow_a_volume_moved_by_its_parent_transform(scene):
    """On a volume whose value is its i index (1 mm voxels), a segment stays put in the world while the volume moves
    5 mm to the right under a transform: the segment then covers voxels 5 further along i, as Segment Statistics
    resamples it."""
    ramp_kji = np.broadcast_to(np.arange(40, dtype=np.float32), (40, 40, 40)).copy()
    image = sitk.GetImageFromArray(ramp_kji)
    box_kji = np.zeros((40, 40, 40), np.uint8)
    box_kji[10:20, 12:25, 8:30] = output_label("right", 2)
    labels = sitk.GetImageFromArray(box_kji)
    volume = add_volume_node(scene, image, "index ramp")
    segmentation = segmentation_from_labels(scene, labels, volume, ["right"], "box")
    (before,) = all_segment_statistics(segmentation, volume)
    assert before.voxel_count == 10 * 13 * 22 and before.mean == pytest.approx(18.5)
    shift = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "5 mm right")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 3, 5.0)  # RAS: +x is right; the volume's i axis runs to the left (LPS grid)
    shift.SetMatrixTransformToParent(matrix)
    volume.SetAndObserveTransformNodeID(shift.GetID())
    (after,) = all_segment_statistics(segmentation, volume)
    assert after.voxel_count == before.voxel_count and after.mean == pytest.approx(before.mean + 5.0)
    segmentation.SetAndObserveTransformNodeID(shift.GetID())
    assert all_segment_statistics(segmentation, volume)[0].mean == pytest.approx(before.mean)


def test_statistics_computed_like_segment_statistics_match_the_engine(scene, subject, subject_node):
    stats, noise = _truth_stats(subject)
    segmentation = segmentation_from_labels(scene, subject.truth_labels, subject_node, EYES, "truth for stats")
    by_name = {s.name: s for s in all_segment_statistics(segmentation, subject_node, noise)}
    voxel_mm3 = float(np.prod(subject.image.GetSpacing()))
    low, high = subject_node.GetImageData().GetScalarRange()
    histogram_bin = (high - low) / 256  # vtkImageHistogramStatistics bins the whole volume's range
    for row in stats:
        mrml = by_name[segment_name(row.eye, row.atlas_label)]
        assert mrml.voxel_count == row.voxels
        assert mrml.volume_mm3 == pytest.approx(row.voxels * voxel_mm3)
        assert mrml.mean == pytest.approx(row.mean, rel=1e-6)
        assert mrml.stdev == pytest.approx(row.sd, rel=1e-5)
        assert mrml.snr == pytest.approx(row.mean / SIGMA, rel=1e-6)
        assert abs(mrml.median - row.median) <= histogram_bin


def test_noise_from_an_air_segment_recovers_the_known_sigma_and_refuses_zeros(scene, subject, subject_node):
    segmentation, air = air_corner_segmentation(scene, subject.image, subject_node)
    assert np.all(sitk.GetArrayViewFromImage(subject.noiseless)[air > 0] < 1e-3), "the ROI must be pure air"
    estimate = noise_from_segments(segmentation, subject_node)
    assert estimate.voxels == int(air.sum())
    assert estimate.sigma == pytest.approx(SIGMA, rel=0.03)  # ~10^4 Rayleigh samples: SE of SD ≈ 1 %

    zeroed = sitk.GetArrayFromImage(subject.image)
    zeroed[air > 0] = 0
    zero_image = sitk.GetImageFromArray(zeroed)
    zero_image.CopyInformation(subject.image)
    zero_node = add_volume_node(scene, zero_image, "zero-filled")
    refused = noise_from_segments(segmentation, zero_node)
    assert not refused.defined and "zero-filled" in refused.reason


def _known_transform() -> sitk.Transform:
    """Similarity about a point plus a smooth B-spline, patient → atlas (LPS)."""
    similarity = sitk.Similarity3DTransform()
    similarity.SetCenter((30.0, -50.0, 20.0))
    similarity.SetRotation((0.3, 0.2, 1.0), 0.12)
    similarity.SetScale(1.05)
    similarity.SetTranslation((2.0, -1.5, 3.0))
    domain = sitk.Image([80, 80, 80], sitk.sitkFloat32)
    domain.SetOrigin((-10.0, -90.0, -20.0))
    bspline = sitk.BSplineTransformInitializer(domain, [4, 4, 4])
    bspline.SetParameters((np.random.default_rng(3).normal(0, 1.5, len(bspline.GetParameters()))).tolist())
    return sitk.CompositeTransform([similarity, bspline])


def test_transform_node_maps_points_like_the_engine_in_ras(scene):
    transform = _known_transform()
    node = transform_node_from_sitk(scene, transform, "known")
    from_parent = node.GetTransformFromParent()
    rng = np.random.default_rng(4)
    for point_lps in rng.uniform((-5, -85, -15), (65, -15, 55), size=(200, 3)):
        expected_lps = transform.TransformPoint(tuple(point_lps))
        got_ras = from_parent.TransformPoint((-point_lps[0], -point_lps[1], point_lps[2]))
        np.testing.assert_allclose((-got_ras[0], -got_ras[1], got_ras[2]), expected_lps, atol=1e-4)


def test_labels_through_the_transform_node_match_the_engine_voxel_for_voxel(scene, synthetic_atlas_dir):
    atlas = load_atlas(synthetic_atlas_dir, "combined")
    patient = sitk.Image([70, 64, 60], sitk.sitkFloat32)
    patient.SetSpacing((0.8, 0.9, 1.3))
    patient.SetDirection(sitk.VersorRigid3DTransform((0.0, 0.1, 0.05, 0.99)).GetMatrix())
    centre = np.asarray(atlas.labels.TransformContinuousIndexToPhysicalPoint(
        [s / 2 for s in atlas.labels.GetSize()]))
    patient.SetOrigin(tuple(centre - patient.TransformContinuousIndexToPhysicalPoint((35, 32, 30))
                            + np.asarray(patient.GetOrigin())))
    shift = (1.5, -2.0, 0.5)
    transform = sitk.CompositeTransform([sitk.TranslationTransform(3, shift), _known_small_bspline(atlas)])
    region = template_footprint_region(patient, atlas.template, tuple(-np.asarray(shift)))
    engine_labels = warp_labels(atlas.labels, transform, patient, region)
    assert np.count_nonzero(sitk.GetArrayViewFromImage(engine_labels)) > 10000
    node = transform_node_from_sitk(scene, transform, "atlas to patient")
    through_node = warp_labels(atlas.labels, sitk_from_transform_node(node), patient, region)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(through_node), sitk.GetArrayFromImage(engine_labels))


def _known_small_bspline(atlas) -> sitk.Transform:
    bspline = sitk.BSplineTransformInitializer(atlas.template, [5, 5, 5])
    bspline.SetParameters((np.random.default_rng(5).normal(0, 1.0, len(bspline.GetParameters()))).tolist())
    return bspline


@pytest.fixture(scope="module")
def scene_run(scene, subject_node, synthetic_atlas_dir):
    """One run in the scene; the registration itself is tested elsewhere, so the engine is the fixed one."""
    from EyeAtlasSegmentMRML.scene_pipeline import run_in_scene

    return run_in_scene(subject_node, synthetic_atlas_dir, PipelineOptions(engine=FixedScaleEngine(),
                                                                           retry_engines=()))


@pytest.mark.slow
def test_run_in_scene_builds_nodes_that_equal_the_engine_result(scene_run, subject, subject_node):
    result = scene_run.pipeline
    engine_labels = sitk.GetArrayFromImage(result.labels)
    np.testing.assert_array_equal(labels_from_segmentation(scene_run.segmentation, subject_node), engine_labels)
    assert scene_run.segmentation.GetSegmentation().GetNumberOfSegments() == 18
    assert scene_run.table.GetNumberOfRows() == 18
    assert set(scene_run.transforms) == set(EYES)
    for eye, node in scene_run.transforms.items():
        registration = result.eyes[eye].registration
        through_node = warp_labels(load_atlas_for_eye(result, eye).labels, sitk_from_transform_node(node),
                                   result.image.image, registration.region)
        from_engine = warp_labels(load_atlas_for_eye(result, eye).labels, registration.patient_to_atlas,
                                  result.image.image, registration.region)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(through_node), sitk.GetArrayFromImage(from_engine))
    truth = sitk.GetArrayFromImage(subject.truth_labels)
    globe = output_label("right", 2)
    dice = 2 * np.sum((engine_labels == globe) & (truth == globe)) / (np.sum(engine_labels == globe)
                                                                       + np.sum(truth == globe))
    assert dice > 0.9


def load_atlas_for_eye(result, eye):
    from EyeAtlasSegmentLib.atlas import mirror_atlas

    return result.atlas if eye == "right" else mirror_atlas(result.atlas)


@pytest.mark.slow
def test_a_failure_while_building_nodes_leaves_no_node_behind(scene, scene_run, subject_node, synthetic_atlas_dir,
                                                              monkeypatch):
    from EyeAtlasSegmentMRML import scene_pipeline

    def broken_plot(*args, **kwargs):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(scene_pipeline, "run_pipeline", lambda *args, **kwargs: scene_run.pipeline)
    monkeypatch.setattr(scene_pipeline, "snr_plot", broken_plot)
    before = scene.GetNumberOfNodes()
    with pytest.raises(RuntimeError, match="plot failed"):
        scene_pipeline.run_in_scene(subject_node, synthetic_atlas_dir)
    assert scene.GetNumberOfNodes() == before


@pytest.mark.slow
def test_noise_segment_drives_the_snr(scene, scene_run, subject, subject_node, synthetic_atlas_dir, monkeypatch):
    from EyeAtlasSegmentMRML import scene_pipeline

    captured = {}

    def capture(image, atlas_dir, options, *args):
        captured["roi"] = options.noise_roi
        return scene_run.pipeline

    segmentation, air = air_corner_segmentation(scene, subject.image, subject_node, name="air for run")
    monkeypatch.setattr(scene_pipeline, "run_pipeline", capture)
    scene_pipeline.run_in_scene(subject_node, synthetic_atlas_dir, PipelineOptions(noise_roi=segmentation))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(captured["roi"]), air)
    assert same_grid(captured["roi"], subject.image, spacing_mm=1e-5)


def _air_corner_segmentation(scene, subject, subject_node, segment_name_: str):
    eyes = segmentation_from_labels(scene, subject.truth_labels, subject_node, EYES, "eyes with air")
    segmentation, air = air_corner_segmentation(scene, subject.image, subject_node, eyes, "air corner")
    segments = segmentation.GetSegmentation()
    segments.GetNthSegment(segments.GetNumberOfSegments() - 1).SetName(segment_name_)
    return segmentation, int(air.sum())


def test_segment_statistics_noise_comes_from_air_named_segments_else_automatic_air(scene, subject, subject_node):
    with_air, air_voxels = _air_corner_segmentation(scene, subject, subject_node, "Air (noise ROI)")
    estimate, ids = noise_for_segmentation(with_air, subject_node)
    assert len(ids) == 1 and estimate.method == "roi" and estimate.voxels == air_voxels
    assert estimate.sigma == pytest.approx(SIGMA, rel=0.03)

    without_air = segmentation_from_labels(scene, subject.truth_labels, subject_node, EYES, "eyes only")
    automatic, ids = noise_for_segmentation(without_air, subject_node)
    assert ids == [] and automatic.method == "air_background"
    assert automatic.sigma == pytest.approx(SIGMA, rel=0.03)
    assert automatic.details["ghost_band_excluded"] > 0  # bands through both globes' centroids
    from EyeAtlasSegmentMRML.noise_segments import globe_centres_lps

    centres = globe_centres_lps(without_air, subject_node, subject.image)
    expected = [np.array([-r, -a, s]) for r, a, s in subject.globe_centres_ras_mm.values()]
    assert len(centres) == 2
    for centre in centres:
        assert min(np.linalg.norm(centre - e) for e in expected) < 2.0


def test_eye_centres_from_markups_by_label_or_side(scene, subject_node):
    from EyeAtlasSegmentLib.errors import EyeAtlasError
    from EyeAtlasSegmentMRML.markups import eye_centres_from_markups

    bounds = [0.0] * 6
    subject_node.GetRASBounds(bounds)
    middle_x = 0.5 * (bounds[0] + bounds[1])
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "centres")
    points.AddControlPoint(middle_x + 30, 60, -30)  # unlabelled, subject's right side
    points.AddControlPoint(middle_x + 5, 61, -31, "left")  # labelled wins over the side
    assert eye_centres_from_markups(points, subject_node) == {"right": (middle_x + 30, 60.0, -30.0),
                                                              "left": (middle_x + 5, 61.0, -31.0)}
    points.AddControlPoint(middle_x - 30, 60, -30, "L")
    with pytest.raises(EyeAtlasError, match="two points for the left eye"):
        eye_centres_from_markups(points, subject_node)
    assert eye_centres_from_markups(None, subject_node) == {}


@pytest.mark.slow
def test_repeat_volume_selects_the_difference_method_and_cnr_table_is_built(scene, scene_run, subject, subject_node,
                                                                             synthetic_atlas_dir, monkeypatch):
    from EyeAtlasSegmentLib.cnr import CNR_COLUMNS
    from EyeAtlasSegmentLib.noise_methods import resolve_noise_method
    from EyeAtlasSegmentMRML import scene_pipeline

    captured = {}

    def capture(image, atlas_dir, options, *args):
        captured["method"] = resolve_noise_method(options)
        captured["repeat"] = options.repeat
        return scene_run.pipeline

    monkeypatch.setattr(scene_pipeline, "run_pipeline", capture)
    result = scene_pipeline.run_in_scene(subject_node, synthetic_atlas_dir, PipelineOptions(repeat=subject_node))
    assert captured["method"] == "difference" and same_grid(captured["repeat"], subject.image, spacing_mm=1e-5)
    table = result.cnr_table.GetTable()
    assert [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())] == list(CNR_COLUMNS)
    assert table.GetNumberOfRows() == len(scene_run.pipeline.cnr) == 22
    assert result.cnr_table.GetColumnDescription("cnr_pooled").startswith("|mean_a - mean_b|")
    assert result.cnr_chart.GetNumberOfPlotSeriesNodes() == 2
    right = result.cnr_chart.GetNthPlotSeriesNode(0).GetTableNode()
    expected = [row.cnr for row in scene_run.pipeline.cnr if row.eye == "right"]
    np.testing.assert_allclose(slicer.util.arrayFromTableColumn(right, "value"), expected)
    assert right.GetTable().GetValueByName(0, "label").ToString() == "lens – globe"
