"""The engine run on a volume node, with its results as MRML nodes: segmentation, table, plot, transforms.

This is what the Slicer module's logic and the Slicer batch script call; it needs MRML only (no Qt), so it
runs in the Slicer application and in plain Python with ``slicer-core``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from EyeAtlasSegmentLib.atlas import resolve_atlas_folder
from EyeAtlasSegmentLib.callbacks import CancelCheck, ProgressCallback
from EyeAtlasSegmentLib.errors import AtlasError, Cancelled, EyeAtlasError
from EyeAtlasSegmentLib.pipeline import PipelineOptions, PipelineResult, run_pipeline
from EyeAtlasSegmentLib.structures import EYES

from .headless import node_ids, remove_nodes_except
from .markups import eye_centres_from_markups
from .noise_segments import noise_mask_from_segments
from .plot_nodes import cnr_plot, snr_plot
from .segmentation_nodes import segmentation_from_labels
from .slicer_cli_engines import register_slicer_engines
from .table_nodes import biometry_table, cnr_table, statistics_table
from .transform_nodes import transform_node_from_sitk
from .volume_nodes import image_from_volume_node, loaded_image_from_volume_node

if TYPE_CHECKING:  # annotations only: the node classes
    import slicer


@dataclass
class SceneResult:
    """The nodes one run filled or created, and the engine's full result (report, statistics, noise estimate)."""

    segmentation: slicer.vtkMRMLSegmentationNode  # on the input volume's grid
    table: slicer.vtkMRMLTableNode  # one row per eye × structure
    cnr_table: slicer.vtkMRMLTableNode  # one row per eye × structure pair
    plot_chart: slicer.vtkMRMLPlotChartNode  # SNR per structure
    cnr_chart: slicer.vtkMRMLPlotChartNode  # CNR per structure pair
    transforms: dict[str, slicer.vtkMRMLTransformNode]  # per eye: atlas → patient (place atlas volumes under it)
    pipeline: PipelineResult
    biometry_table: slicer.vtkMRMLTableNode | None = None  # one row per eye × measure, with population z-scores


def atlas_folder_problem(atlas_folder: str | Path, sex: str) -> str | None:
    """Why ``atlas_folder`` cannot be used for the ``sex`` template (one line), or None when it can.

    "." and "" mean "not chosen": they are what Slicer's parameter node gives for an unset or empty path.
    """
    if str(atlas_folder).strip() in ("", "."):
        return "not chosen"
    try:
        resolve_atlas_folder(atlas_folder, sex)
    except AtlasError as exc:
        return str(exc)
    return None


def _is_node(value, class_name: str) -> bool:
    return hasattr(value, "IsA") and value.IsA(class_name)


def engine_options(options: PipelineOptions, volume_node: slicer.vtkMRMLScalarVolumeNode) -> PipelineOptions:
    """``options`` with the MRML nodes it may hold turned into what the engine takes.

    ``noise_roi``: a segmentation node (all its segments, on the volume's grid) or a labelmap volume node;
    ``repeat`` and ``noise_scan``: scalar volume nodes; ``centres_ras_mm``: a markups point list (one point per
    eye, see ``eye_centres_from_markups``). Other values are passed on as they are.
    """
    def image_of(value, field_name: str):
        if _is_node(value, "vtkMRMLSegmentationNode"):
            if field_name != "noise_roi":
                raise EyeAtlasError(f"{field_name} must be a volume, not the segmentation {value.GetName()!r}")
            return noise_mask_from_segments(value, volume_node)
        if _is_node(value, "vtkMRMLVolumeNode"):
            return image_from_volume_node(value)
        return value

    changes = {name: image_of(getattr(options, name), name) for name in ("noise_roi", "repeat", "noise_scan")}
    if _is_node(options.centres_ras_mm, "vtkMRMLMarkupsNode"):
        changes["centres_ras_mm"] = eye_centres_from_markups(options.centres_ras_mm, volume_node)
    return dataclasses.replace(options, **changes)


def cancellable(progress: ProgressCallback | None, is_cancelled: CancelCheck) -> ProgressCallback:
    """A progress callback that raises ``Cancelled`` once ``is_cancelled()``: every engine step that reports
    progress (each registration stage; each poll of a running BRAINSFit or elastix) is a point where a run stops."""
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)
        if is_cancelled():
            raise Cancelled("cancelled by the user")

    return report


def move_segments(source_node: slicer.vtkMRMLSegmentationNode, output_node: slicer.vtkMRMLSegmentationNode,
                  reference_volume_node: slicer.vtkMRMLScalarVolumeNode) -> None:
    """Put the segments of ``source_node`` into ``output_node`` (replacing its own; it keeps its name and ID), then
    remove ``source_node`` and its display nodes from the scene."""
    output_node.CopyContent(source_node, True)
    output_node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
    if output_node.GetDisplayNode() is None:
        output_node.CreateDefaultDisplayNodes()
    scene = source_node.GetScene()
    display_nodes = [source_node.GetNthDisplayNode(i) for i in range(source_node.GetNumberOfDisplayNodes())]
    for node in [source_node, *display_nodes]:
        scene.RemoveNode(node)


def run_in_scene(volume_node: slicer.vtkMRMLScalarVolumeNode, atlas_dir: str | Path,
                 options: PipelineOptions = PipelineOptions(),
                 output_segmentation: slicer.vtkMRMLSegmentationNode | None = None,
                 progress: ProgressCallback | None = None,
                 is_cancelled: CancelCheck = lambda: False, name: str | None = None) -> SceneResult:
    """Segment the eyes of ``volume_node`` and add the results to its scene.

    ``options`` are the engine's; they may hold MRML nodes (``engine_options``) and any registered engine name
    (inside Slicer also "brainsfit" and "elastix"). The segments go into ``output_segmentation`` when given (its
    previous segments are replaced), else into a new segmentation node. The volume's voxels are never resampled.
    On failure or cancel no new node is left behind and ``output_segmentation`` is unchanged.
    """
    register_slicer_engines()
    scene = volume_node.GetScene()
    existing = node_ids(scene)  # the Slicer engines (BRAINSFit, elastix) add nodes while they run
    try:
        result = run_pipeline(loaded_image_from_volume_node(volume_node), atlas_dir,
                              engine_options(options, volume_node), cancellable(progress, is_cancelled), is_cancelled)
        return publish_nodes(result, volume_node, output_segmentation, name)
    except Exception:
        remove_nodes_except(scene, existing)
        raise


def publish_nodes(result: PipelineResult, volume_node: slicer.vtkMRMLScalarVolumeNode,
                  output_segmentation: slicer.vtkMRMLSegmentationNode | None = None,
                  name: str | None = None) -> SceneResult:
    """The engine's ``result`` for ``volume_node`` (on its grid) as nodes in the volume's scene: segmentation,
    statistics, CNR and biometry tables, charts and per-eye transforms.

    The segments go into ``output_segmentation`` when given (its previous segments are replaced), else into a new
    segmentation node named after ``name`` (default: the volume's name + " eyes"). On failure no new node is left
    behind and ``output_segmentation`` is unchanged.
    """
    scene = volume_node.GetScene()
    name = name or f"{volume_node.GetName()} eyes"
    existing = node_ids(scene)
    try:
        eyes = [eye for eye in EYES if eye in result.eyes]
        segmentation = segmentation_from_labels(scene, result.labels, volume_node, eyes, name)
        table = statistics_table(scene, result.stats, f"{name} statistics")
        contrast = cnr_table(scene, result.cnr, f"{name} CNR")
        biometry = biometry_table(scene, result.biometry.rows, f"{name} biometry") if result.biometry else None
        chart = snr_plot(scene, result.stats, f"{name} SNR")
        contrast_chart = cnr_plot(scene, result.cnr, f"{name} CNR chart")
        transforms = {eye: transform_node_from_sitk(scene, result.eyes[eye].registration.patient_to_atlas,
                                                    f"{name} {eye} atlas to patient") for eye in eyes}
        if output_segmentation is not None:
            move_segments(segmentation, output_segmentation, volume_node)
            segmentation = output_segmentation
    except Exception:
        remove_nodes_except(scene, existing)
        raise
    return SceneResult(segmentation, table, contrast, chart, contrast_chart, transforms, result, biometry)
