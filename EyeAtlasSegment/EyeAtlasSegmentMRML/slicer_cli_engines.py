"""Registration engines that run Slicer's own registration tools: BRAINSFit (built in) and Elastix (SlicerElastix).

They plug into the engine's ``RegistrationEngine`` protocol and its registry (``register_slicer_engines``), so
globe finding, cropping around the found globe, the deformable-result safeguard and label transfer are the same
as with the default engine. Both need the Slicer application (CLI modules do not exist in ``slicer-core``); the
parameter builders and the CLI wait loop below are unit-tested, the runs themselves are covered by the module's
self-test inside Slicer.

Initialisation is always the found globe centre (the engine's ``initial`` translation): BRAINSFit's moments/
geometry/centre-of-head initialisers and elastix's automatic initialisation align a small eye crop to the
wrong things on a whole head.

Cancelling: the progress callback may raise ``Cancelled`` (``scene_pipeline.run_in_scene``'s does once the user
cancels). A running BRAINSFit stage is then stopped with the CLI node's ``Cancel()``, a running elastix with
SlicerElastix's ``cancelRequested``, before ``Cancelled`` goes on up.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import SimpleITK as sitk
import slicer

from EyeAtlasSegmentLib.callbacks import ProgressCallback
from EyeAtlasSegmentLib.engines import register_engine
from EyeAtlasSegmentLib.errors import Cancelled, EyeAtlasError, RegistrationError, library_reason
from EyeAtlasSegmentLib.registration import EngineOutput, RegistrationMasks

from . import RESOURCES
from .headless import inside_slicer_application, node_ids, remove_nodes_except
from .transform_nodes import sitk_from_transform_node, transform_node_from_sitk
from .volume_nodes import add_volume_node

#: BRAINSFit's default sampling (0.2 %) leaves ~500 samples in an eye crop; 10 % is ~8,000 in the globe mask.
BRAINSFIT_SAMPLING_FRACTION = 0.1
BSPLINE_GRID_NODES = 6
#: The elastix parameter files of the two stages, shipped as data (presets) beside the module.
ELASTIX_PARAMETER_FILES = {stage: RESOURCES / "RegistrationParameters" / f"Elastix-{stage}.txt"
                           for stage in ("linear", "bspline")}
#: How often a running CLI is polled (and the application's events processed), seconds.
CLI_POLL_S = 0.05
#: The two stages: name, title, and the engine's progress fraction at their start and end.
STAGES = (("linear", "linear", 0.1, 0.5), ("bspline", "B-spline", 0.5, 0.9))


def brainsfit_parameters(stage: str, fixed_id: str, moving_id: str, mask_id: str, initial_id: str,
                         output_id: str) -> dict:
    """BRAINSFit CLI parameters for the "linear" (rigid → scale-versor) or "bspline" stage."""
    common = {
        "fixedVolume": fixed_id, "movingVolume": moving_id, "initialTransform": initial_id,
        "initializeTransformMode": "Off", "maskProcessingMode": "ROI", "fixedBinaryVolume": mask_id,
        "samplingPercentage": BRAINSFIT_SAMPLING_FRACTION, "costMetric": "MMI", "interpolationMode": "Linear",
        "numberOfThreads": -1,
    }
    if stage == "linear":
        return {**common, "useRigid": True, "useScaleVersor3D": True, "linearTransform": output_id}
    if stage == "bspline":
        return {**common, "useBSpline": True, "splineGridSize": ",".join([str(BSPLINE_GRID_NODES)] * 3),
                "bsplineTransform": output_id}
    raise ValueError(f"unknown BRAINSFit stage {stage!r}")


def read_elastix_parameters(path: Path) -> dict[str, str]:
    """The ``(Name value ...)`` entries of an elastix parameter file (``//`` comments skipped), in file order."""
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("//", 1)[0].strip()
        if line:
            match = re.fullmatch(r"\((\w+)\s+(.+)\)", line)
            if match is None:
                raise ValueError(f"{path.name}: not an elastix parameter line: {line!r}")
            entries[match.group(1)] = match.group(2).strip()
    return entries


def wait_for_cli(node, report: Callable[[float], None], title: str,
                 process_events: Callable[[], None] | None = None) -> None:
    """Wait for a CLI started with ``slicer.cli.run(..., wait_for_completion=False)``, keeping the application live.

    ``report(fraction)`` is called at every poll with the CLI's own progress (0-1); if it raises ``Cancelled`` the
    CLI is cancelled (``node.Cancel()``), waited for, and ``Cancelled`` is raised. A CLI that ends with errors
    raises ``RegistrationError`` with its error text; one cancelled elsewhere (its module's Cancel) ``Cancelled``.
    """
    process_events = process_events or slicer.app.processEvents
    while node.IsBusy():
        process_events()
        try:
            report(node.GetProgress() / 100.0)
        except Cancelled:
            node.Cancel()
            while node.IsBusy():
                process_events()
                time.sleep(CLI_POLL_S)
            raise
        time.sleep(CLI_POLL_S)
    if node.GetStatus() == node.Cancelled:
        raise Cancelled("cancelled by the user")
    if node.GetStatus() & node.ErrorsMask:
        raise RegistrationError(f"{title} failed: {library_reason(node.GetErrorText() or '')}")


class SlicerEngine:
    """Common part: temporary nodes for the crop, template, masks and transforms; two stages; clean-up."""

    name = ""

    def register(self, fixed: sitk.Image, masks: RegistrationMasks, moving: sitk.Image, initial: sitk.Transform,
                 anchor_lps_mm: Sequence[float], progress: ProgressCallback | None) -> EngineOutput:
        scene = slicer.mrmlScene
        report = progress or (lambda fraction, message: None)
        before = node_ids(scene)
        try:
            fixed_node = add_volume_node(scene, fixed, f"{self.name} fixed")
            moving_node = add_volume_node(scene, moving, f"{self.name} moving")
            stage_masks = {"linear": add_volume_node(scene, masks.globe, f"{self.name} globe mask", labelmap=True),
                           "bspline": add_volume_node(scene, masks.orbit, f"{self.name} orbit mask", labelmap=True)}
            previous = transform_node_from_sitk(scene, initial, f"{self.name} initial")
            stages, results = [], {}
            for stage, title, start, end in STAGES:
                message = f"{self.name}: {title} stage"

                def stage_report(fraction: float, start=start, end=end, message=message) -> None:
                    report(start + (end - start) * fraction, message)

                stage_report(0.0)
                began = time.perf_counter()
                previous = results[stage] = self._run_stage(stage, fixed_node, moving_node, stage_masks[stage],
                                                            previous, stage_report)
                stages.append({"stage": stage, "seconds": round(time.perf_counter() - began, 2)})
            return EngineOutput(sitk_from_transform_node(results["linear"]),
                                sitk_from_transform_node(results["bspline"]), stages)
        finally:
            remove_nodes_except(scene, before)  # every temporary node, including a failed stage's and CLI nodes

    def _run_stage(self, stage, fixed_node, moving_node, mask_node, initial_node,
                   report: Callable[[float], None]):
        """Run one stage; return its output transform node. Nodes it adds are removed by ``register``.
        ``report(fraction of the stage)`` may raise ``Cancelled``: the stage must then stop what it runs."""
        raise NotImplementedError


class BRAINSFitEngine(SlicerEngine):
    """Slicer's BRAINSFit CLI: rigid → scale-versor, then B-spline, both masked, started from the found globe."""

    name = "brainsfit"

    def parameters(self) -> dict:
        return {"linear": brainsfit_parameters("linear", "", "", "", "", ""),
                "bspline": brainsfit_parameters("bspline", "", "", "", "", "")}

    def _run_stage(self, stage, fixed_node, moving_node, mask_node, initial_node, report):
        scene = slicer.mrmlScene
        output_class = "vtkMRMLLinearTransformNode" if stage == "linear" else "vtkMRMLBSplineTransformNode"
        output = scene.AddNewNodeByClass(output_class, f"brainsfit {stage}")
        parameters = brainsfit_parameters(stage, fixed_node.GetID(), moving_node.GetID(), mask_node.GetID(),
                                          initial_node.GetID(), output.GetID())
        # Asynchronous, so that Cancel is handled while BRAINSFit runs (runSync blocks the application).
        cli_node = slicer.cli.run(slicer.modules.brainsfit, None, parameters, wait_for_completion=False,
                                  update_display=False)
        wait_for_cli(cli_node, report, f"BRAINSFit {stage} stage")
        return output


class ElastixEngine(SlicerEngine):
    """SlicerElastix: similarity, then B-spline, with the shipped parameter files, masks and the found-globe start."""

    name = "elastix"

    def __init__(self) -> None:
        try:
            from Elastix import ElastixLogic
        except ImportError as exc:
            raise EyeAtlasError("the Elastix engine needs the SlicerElastix extension: install it from the "
                                "Extensions Manager, or choose another engine") from exc
        self._logic = ElastixLogic()
        self._logic.deleteTemporaryFiles = True  # SlicerElastix removes its working folder when a run ends
        self._logic.logStandardOutput = True  # every elastix output line goes through logCallback (and the log)

    def parameters(self) -> dict:
        return {stage: read_elastix_parameters(path) for stage, path in ELASTIX_PARAMETER_FILES.items()}

    def _run_stage(self, stage, fixed_node, moving_node, mask_node, initial_node, report):
        output = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTransformNode", f"elastix {stage}")
        cancelled = []

        def on_log_line(text: str) -> None:
            """SlicerElastix calls this for each output line, then checks ``cancelRequested`` and kills elastix."""
            try:
                report(0.0)
            except Cancelled:
                cancelled.append(True)
                self._logic.cancelRequested = True

        self._logic.logCallback = on_log_line
        try:
            self._logic.registerVolumes(fixed_node, moving_node,
                                        parameterFilenames=[str(ELASTIX_PARAMETER_FILES[stage])],
                                        outputTransformNode=output, fixedVolumeMaskNode=mask_node,
                                        forceDisplacementFieldOutputTransform=stage == "bspline",
                                        initialTransformNode=initial_node)
        except Exception as exc:  # SlicerElastix raises CalledProcessError/RuntimeError with elastix's own text
            raise RegistrationError(f"Elastix {stage} stage failed: {library_reason(exc)}") from exc
        finally:
            self._logic.logCallback = None
        if cancelled:  # SlicerElastix returns normally after a cancel, with no output
            raise Cancelled("cancelled by the user")
        return output


#: The Slicer engines, by registry name, with the Python module each needs.
SLICER_ENGINES = {"brainsfit": (BRAINSFitEngine, "slicer"), "elastix": (ElastixEngine, "Elastix")}


def register_slicer_engines() -> None:
    """Add BRAINSFit and Elastix to the engine registry, inside the Slicer application (where they can run)."""
    if inside_slicer_application():
        for name, (factory, module) in SLICER_ENGINES.items():
            register_engine(name, factory, module)
