"""Optional engine: the default engine's linear stages, then ANTs SyN through antspyx
(``pip install "eye-atlas-segment[ants]"``).

The linear part is SimpleITK's globe-anchored rigid → similarity → orbit rotation
(``SimpleITKEngine.linear_stages``), so both engines find the eye the same way; the deformable part is ANTs SyN
(``SyNOnly``, Mattes MI), masked to the orbit, started from that linear transform. ANTs writes its warp to a file;
it is read back as a SimpleITK displacement field so that label transfer is the same for every engine.

Measured (README, "Deformable stage"): SyN follows the thin structures of an anatomy unlike the template's far
better than the default's B-spline; ANTs' own rigid → affine start was not robust to rotated eyes or T2.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import SimpleITK as sitk

from ..callbacks import ProgressCallback
from ..errors import EyeAtlasError
from ..registration import EngineOutput, RegistrationMasks
from .simpleitk_engine import SimpleITKEngine, SimpleITKSettings, linear_stage_names


@dataclass
class AntsSettings:
    """SyN stage parameters (ANTsPy's names) and the linear stages' settings."""

    syn_metric: str = "mattes"
    reg_iterations: tuple[int, ...] = (40, 20, 10)
    random_seed: int = 1
    linear: SimpleITKSettings = field(default_factory=SimpleITKSettings)


class AntsEngine:
    """Globe-anchored linear stages, then ANTs SyN; antspyx is imported lazily so the default install does not
    need it."""

    name = "ants"

    def __init__(self, settings: AntsSettings | None = None) -> None:
        self.settings = settings or AntsSettings()
        try:
            import ants  # noqa: F401
        except ImportError as exc:
            raise EyeAtlasError('the "ants" engine needs antspyx: pip install "eye-atlas-segment[ants]"') from exc

    def parameters(self) -> dict:
        return {"stages": [*linear_stage_names(self.settings.linear), "syn"], "metric": "MattesMutualInformation",
                **asdict(self.settings)}

    def register(self, fixed: sitk.Image, masks: RegistrationMasks, moving: sitk.Image, initial: sitk.Transform,
                 anchor_lps_mm: Sequence[float], progress: ProgressCallback | None = None) -> EngineOutput:
        import ants

        linear, stages = SimpleITKEngine(self.settings.linear).linear_stages(fixed, masks, moving, initial,
                                                                             anchor_lps_mm, progress)
        start = time.perf_counter()
        if progress:
            progress(0.6, "ANTs SyN registration")
        with tempfile.TemporaryDirectory(prefix="eyeatlas-ants-") as tmp:
            folder = Path(tmp)
            for name, image in (("fixed", fixed), ("mask", masks.orbit), ("moving", moving)):
                sitk.WriteImage(image, str(folder / f"{name}.nii.gz"))
            sitk.WriteTransform(linear, str(folder / "linear.mat"))
            result = ants.registration(
                ants.image_read(str(folder / "fixed.nii.gz")), ants.image_read(str(folder / "moving.nii.gz")),
                type_of_transform="SyNOnly", initial_transform=[str(folder / "linear.mat")],
                mask=ants.image_read(str(folder / "mask.nii.gz")), syn_metric=self.settings.syn_metric,
                reg_iterations=self.settings.reg_iterations, random_seed=self.settings.random_seed,
                outprefix=str(folder / "out_"))
            warp = sitk.DisplacementFieldTransform(
                sitk.Cast(sitk.ReadImage(result["fwdtransforms"][0]), sitk.sitkVectorFloat64))
        # As for the B-spline: a fixed point is warped first, then mapped by the linear transform.
        stages.append({"stage": "syn", "metric": self.settings.syn_metric,
                       "seconds": round(time.perf_counter() - start, 2)})
        return EngineOutput(linear, sitk.CompositeTransform([linear, warp]), stages)
