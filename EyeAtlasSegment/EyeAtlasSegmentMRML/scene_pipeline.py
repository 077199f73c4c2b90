"""The engine run on a volume node, with its results as MRML nodes: segmentation, table, plot, transforms.

This is what the Slicer module's logic and the Slicer batch script call; it needs MRML only (no Qt), so it
runs in the Slicer application and in plain Python with ``slicer-core``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence


from EyeAtlasSegmentLib.pipeline import PipelineOptions, PipelineResult, run_pipeline
from EyeAtlasSegmentLib.registration import ProgressCallback
from EyeAtlasSegmentLib.structures import EYES

from .plot_nodes import cnr_plot, snr_plot
from .headless import node_ids, remove_nodes_except
from .noise_segments import noise_mask_from_segments
from .segmentation_nodes import segmentation_from_labels
from .table_nodes import cnr_table, statistics_table
from .transform_nodes import transform_node_from_sitk
from .volume_nodes import image_from_volume_node, loaded_image_from_volume_node


@dataclass
class SceneResult:
    """The nodes one run created, and the engine's full result (report, statistics, noise estimate)."""

    segmentation: object  # vtkMRMLSegmentationNode on the input volume's grid
    table: object  # vtkMRMLTableNode, one row per eye × structure
    cnr_table: object  # vtkMRMLTableNode, one row per eye × structure pair
    plot_chart: object  # vtkMRMLPlotChartNode, SNR per structure
    cnr_chart: object  # vtkMRMLPlotChartNode, CNR per structure pair
    transforms: dict  # eye → vtkMRMLTransformNode (atlas → patient; place atlas volumes under it)
    pipeline: PipelineResult



def run_in_scene(volume_node, atlas_dir: str | Path, options: PipelineOptions = PipelineOptions(),
                 noise_segmentation=None, noise_segment_ids: Optional[Sequence[str]] = None,
                 repeat_volume=None, noise_scan_volume=None,
                 progress: Optional[ProgressCallback] = None,
                 is_cancelled: Callable[[], bool] = lambda: False, name: Optional[str] = None) -> SceneResult:
    """Segment the eyes of ``volume_node`` and add the results to its scene.

    ``noise_segmentation`` (its ``noise_segment_ids``, or all its segments) marks air for the noise σ;
    ``repeat_volume`` (a second identical acquisition on the same grid) selects the difference method and
    ``noise_scan_volume`` a noise-only acquisition, as the engine's ``repeat`` and ``noise_scan`` options do. The
    volume's voxels are never resampled. On failure no node is left behind.
    """
    scene = volume_node.GetScene()
    name = name or f"{volume_node.GetName()} eyes"
    if noise_segmentation is not None:
        options = dataclasses.replace(
            options, noise_roi=noise_mask_from_segments(noise_segmentation, volume_node, noise_segment_ids))
    if repeat_volume is not None:
        options = dataclasses.replace(options, repeat=image_from_volume_node(repeat_volume))
    if noise_scan_volume is not None:
        options = dataclasses.replace(options, noise_scan=image_from_volume_node(noise_scan_volume))
    result = run_pipeline(loaded_image_from_volume_node(volume_node), atlas_dir, options, progress, is_cancelled)
    eyes = [eye for eye in EYES if eye in result.eyes]
    existing = node_ids(scene)
    try:
        segmentation = segmentation_from_labels(scene, result.labels, volume_node, eyes, name)
        table = statistics_table(scene, result.stats, f"{name} statistics")
        contrast = cnr_table(scene, result.cnr, f"{name} CNR")
        chart = snr_plot(scene, table, f"{name} SNR")
        contrast_chart = cnr_plot(scene, contrast, f"{name} CNR chart")
        transforms = {eye: transform_node_from_sitk(scene, result.eyes[eye].registration.patient_to_atlas,
                                                    f"{name} {eye} atlas to patient") for eye in eyes}
    except Exception:
        remove_nodes_except(scene, existing)
        raise
    return SceneResult(segmentation, table, contrast, chart, contrast_chart, transforms, result)
