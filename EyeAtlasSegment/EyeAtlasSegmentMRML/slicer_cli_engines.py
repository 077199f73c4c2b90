"""Registration engines that run Slicer's own registration tools: BRAINSFit (built in) and Elastix (SlicerElastix).

They plug into the engine's ``RegistrationEngine`` protocol, so globe finding, cropping around the found globe,
the deformable-result safeguard and label transfer are the same as with the default engine. Both need the
Slicer application (CLI modules do not exist in ``slicer-core``); the parameter builders below are pure
functions and unit-tested, the runs themselves are covered by the module's self-test inside Slicer.

Initialisation is always the found globe centre (the engine's ``initial`` translation): BRAINSFit's moments/
geometry/centre-of-head initialisers and elastix's automatic initialisation align a small eye crop to the
wrong things on a whole head.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import SimpleITK as sitk
import slicer

from EyeAtlasSegmentLib.errors import EyeAtlasError, RegistrationError
from EyeAtlasSegmentLib.registration import EngineOutput, ProgressCallback, RegistrationMasks

from .headless import node_ids, remove_nodes_except
from .transform_nodes import sitk_from_transform_node, transform_node_from_sitk
from .volume_nodes import add_volume_node

SLICER_ENGINES = ("brainsfit", "elastix")
#: BRAINSFit's default sampling (0.2 %) leaves ~500 samples in an eye crop; 10 % is ~8,000 in the globe mask.
BRAINSFIT_SAMPLING_FRACTION = 0.1
BSPLINE_GRID_NODES = 6
ELASTIX_BSPLINE_SPACING_MM = 8.0


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


def elastix_parameter_text(stage: str) -> str:
    """An elastix parameter file for the "linear" (similarity) or "bspline" stage, masks honoured."""
    resolutions = 2
    lines = {
        "FixedInternalImagePixelType": '"float"', "MovingInternalImagePixelType": '"float"',
        "Registration": '"MultiResolutionRegistration"', "Metric": '"AdvancedMattesMutualInformation"',
        "Optimizer": '"AdaptiveStochasticGradientDescent"', "ImageSampler": '"RandomCoordinate"',
        "NumberOfSpatialSamples": "4000", "NewSamplesEveryIteration": '"true"', "ErodeMask": '"false"',
        "Interpolator": '"LinearInterpolator"', "ResampleInterpolator": '"FinalLinearInterpolator"',
        "Resampler": '"DefaultResampler"', "FixedImagePyramid": '"FixedSmoothingImagePyramid"',
        "MovingImagePyramid": '"MovingSmoothingImagePyramid"', "NumberOfResolutions": str(resolutions),
        "AutomaticTransformInitialization": '"false"', "HowToCombineTransforms": '"Compose"',
        "WriteResultImage": '"false"', "DefaultPixelValue": "0",
    }
    if stage == "linear":
        lines.update({"Transform": '"SimilarityTransform"', "AutomaticScalesEstimation": '"true"',
                      "MaximumNumberOfIterations": "300"})
    elif stage == "bspline":
        lines.update({"Transform": '"BSplineTransform"',
                      "FinalGridSpacingInPhysicalUnits": str(ELASTIX_BSPLINE_SPACING_MM),
                      "GridSpacingSchedule": " ".join(["2.0"] * 3 + ["1.0"] * 3),
                      "MaximumNumberOfIterations": "300"})
    else:
        raise ValueError(f"unknown elastix stage {stage!r}")
    return "\n".join(f"({key} {value})" for key, value in lines.items()) + "\n"


class _SlicerEngine:
    """Common part: temporary nodes for the crop, template, masks and transforms; two stages; clean-up."""

    name = ""

    def register(self, fixed: sitk.Image, masks: RegistrationMasks, moving: sitk.Image, initial: sitk.Transform,
                 anchor_lps_mm: Sequence[float], progress: Optional[ProgressCallback]) -> EngineOutput:
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
            for fraction, stage, title in ((0.1, "linear", "linear"), (0.5, "bspline", "B-spline")):
                report(fraction, f"{self.name}: {title} stage")
                start = time.perf_counter()
                previous = results[stage] = self._run_stage(stage, fixed_node, moving_node, stage_masks[stage],
                                                            previous)
                stages.append({"stage": stage, "seconds": round(time.perf_counter() - start, 2)})
            return EngineOutput(sitk_from_transform_node(results["linear"]),
                                sitk_from_transform_node(results["bspline"]), stages)
        finally:
            remove_nodes_except(scene, before)  # every temporary node, including a failed stage's

    def _run_stage(self, stage, fixed_node, moving_node, mask_node, initial_node):
        """Run one stage; return its output transform node. Nodes it adds are removed by ``register``."""
        raise NotImplementedError


class BRAINSFitEngine(_SlicerEngine):
    """Slicer's BRAINSFit CLI: rigid → scale-versor, then B-spline, both masked, started from the found globe."""

    name = "brainsfit"

    def parameters(self) -> dict:
        return {"linear": brainsfit_parameters("linear", "", "", "", "", ""),
                "bspline": brainsfit_parameters("bspline", "", "", "", "", "")}

    def _run_stage(self, stage, fixed_node, moving_node, mask_node, initial_node):
        scene = slicer.mrmlScene
        output_class = "vtkMRMLLinearTransformNode" if stage == "linear" else "vtkMRMLBSplineTransformNode"
        output = scene.AddNewNodeByClass(output_class, f"brainsfit {stage}")
        parameters = brainsfit_parameters(stage, fixed_node.GetID(), moving_node.GetID(), mask_node.GetID(),
                                          initial_node.GetID(), output.GetID())
        cli_node = slicer.cli.runSync(slicer.modules.brainsfit, None, parameters)
        if cli_node.GetStatus() & cli_node.ErrorsMask:  # runSync does not raise on failure
            raise RegistrationError(f"BRAINSFit {stage} stage failed: {cli_node.GetErrorText().strip()}")
        return output


class ElastixEngine(_SlicerEngine):
    """SlicerElastix: similarity, then B-spline, with our parameter files, masks and the found-globe start."""

    name = "elastix"

    def __init__(self) -> None:
        try:
            from Elastix import ElastixLogic
        except ImportError as exc:
            raise EyeAtlasError("the Elastix engine needs the SlicerElastix extension: install it from the "
                                "Extensions Manager, or choose another engine") from exc
        self._logic = ElastixLogic()
        self._folder = Path(tempfile.mkdtemp(prefix="eyeatlas-elastix-"))

    def parameters(self) -> dict:
        return {"linear": elastix_parameter_text("linear"), "bspline": elastix_parameter_text("bspline")}

    def _run_stage(self, stage, fixed_node, moving_node, mask_node, initial_node):
        parameter_file = self._folder / f"{stage}.txt"
        parameter_file.write_text(elastix_parameter_text(stage))
        output = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTransformNode", f"elastix {stage}")
        try:
            self._logic.registerVolumes(fixed_node, moving_node, parameterFilenames=[str(parameter_file)],
                                        outputTransformNode=output, fixedVolumeMaskNode=mask_node,
                                        forceDisplacementFieldOutputTransform=stage == "bspline",
                                        initialTransformNode=initial_node)
        except Exception as exc:
            raise RegistrationError(f"Elastix {stage} stage failed: {exc}") from exc
        return output


def get_slicer_engine(name: str):
    """An engine by name: Slicer's ("brainsfit", "elastix") or the engine package's ("simpleitk", "ants")."""
    if name == "brainsfit":
        return BRAINSFitEngine()
    if name == "elastix":
        return ElastixEngine()
    from EyeAtlasSegmentLib.engines import get_engine

    return get_engine(name)
