"""Default registration engine: SimpleITK rigid → affine → B-spline, Mattes mutual information.

Pure SimpleITK (no extra dependency); runs in-process.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import SimpleITK as sitk

from ..registration import ProgressCallback


@dataclass
class SimpleITKSettings:
    """Tunable parameters (all lengths in mm)."""

    histogram_bins: int = 32
    sampling_fraction: float = 0.25
    rigid_iterations: int = 200
    affine_iterations: int = 200
    bspline_mesh_size: tuple[int, int, int] = (6, 6, 6)
    bspline_iterations: int = 60
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_mm: tuple[float, ...] = (2.0, 1.0, 0.0)
    seed: int = 1


class SimpleITKEngine:
    """Rigid, affine and B-spline stages with multi-resolution Mattes MI, masked to the orbit."""

    name = "simpleitk"

    def __init__(self, settings: SimpleITKSettings | None = None) -> None:
        self.settings = settings or SimpleITKSettings()

    def parameters(self) -> dict:
        return {"stages": ["rigid", "affine", "bspline"], "metric": "MattesMutualInformation",
                **asdict(self.settings)}

    def _method(self, fixed_mask: sitk.Image, iterations: int) -> sitk.ImageRegistrationMethod:
        s = self.settings
        method = sitk.ImageRegistrationMethod()
        method.SetMetricAsMattesMutualInformation(s.histogram_bins)
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(s.sampling_fraction, s.seed)
        method.SetMetricFixedMask(fixed_mask)
        method.SetInterpolator(sitk.sitkLinear)
        method.SetShrinkFactorsPerLevel(list(s.shrink_factors))
        method.SetSmoothingSigmasPerLevel(list(s.smoothing_sigmas_mm))
        method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
        return method

    def _run(self, name: str, method: sitk.ImageRegistrationMethod, fixed: sitk.Image, moving: sitk.Image,
             stages: list[dict], progress: Optional[ProgressCallback], fraction: float) -> None:
        start = time.perf_counter()
        if progress:
            progress(fraction, f"{name} registration")
        method.Execute(fixed, moving)
        stages.append({"stage": name, "metric": float(method.GetMetricValue()),
                       "iterations": int(method.GetOptimizerIteration()),
                       "stop": method.GetOptimizerStopConditionDescription(),
                       "seconds": round(time.perf_counter() - start, 2)})

    def register(self, fixed: sitk.Image, fixed_mask: sitk.Image, moving: sitk.Image, initial: sitk.Transform,
                 progress: Optional[ProgressCallback] = None) -> tuple[sitk.Transform, list[dict]]:
        s = self.settings
        stages: list[dict] = []
        centre = fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed.GetSize()])
        offset = np.asarray(initial.TransformPoint(centre)) - np.asarray(centre)

        rigid = sitk.Euler3DTransform()
        rigid.SetCenter(centre)
        rigid.SetTranslation(tuple(offset))
        method = self._method(fixed_mask, s.rigid_iterations)
        method.SetOptimizerAsRegularStepGradientDescent(2.0, 0.01, s.rigid_iterations, relaxationFactor=0.7)
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetInitialTransform(rigid, inPlace=True)
        self._run("rigid", method, fixed, moving, stages, progress, 0.0)

        affine = sitk.AffineTransform(3)
        affine.SetCenter(centre)
        affine.SetMatrix(rigid.GetMatrix())
        affine.SetTranslation(rigid.GetTranslation())
        method = self._method(fixed_mask, s.affine_iterations)
        method.SetOptimizerAsRegularStepGradientDescent(1.0, 0.005, s.affine_iterations, relaxationFactor=0.7)
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetInitialTransform(affine, inPlace=True)
        self._run("affine", method, fixed, moving, stages, progress, 0.3)

        bspline = sitk.BSplineTransformInitializer(fixed, list(s.bspline_mesh_size), order=3)
        method = self._method(fixed_mask, s.bspline_iterations)
        method.SetShrinkFactorsPerLevel(list(s.shrink_factors[-2:]))
        method.SetSmoothingSigmasPerLevel(list(s.smoothing_sigmas_mm[-2:]))
        method.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=s.bspline_iterations,
                                    maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=4 * s.bspline_iterations)
        method.SetMovingInitialTransform(affine)
        method.SetInitialTransform(bspline, inPlace=True)
        self._run("bspline", method, fixed, moving, stages, progress, 0.6)
        return sitk.CompositeTransform([affine, bspline]), stages
