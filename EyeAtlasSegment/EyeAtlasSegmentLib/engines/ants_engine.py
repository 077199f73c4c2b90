"""Optional engine: ANTs SyN through antspyx (``pip install "eye-atlas-segment[ants]"``).

Rigid → affine → SyN (``SyNRA``) with Mattes MI, masked to the orbit. ANTs writes its transforms to files;
they are read back as SimpleITK transforms so that label transfer is the same for every engine.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import SimpleITK as sitk

from ..errors import EyeAtlasError
from ..registration import EngineOutput, ProgressCallback, RegistrationMasks


@dataclass
class AntsSettings:
    type_of_transform: str = "SyNRA"
    reg_iterations: tuple[int, ...] = (40, 20, 10)
    random_seed: int = 1


class AntsEngine:
    """ANTs SyN; imported lazily so the default install does not need antspyx."""

    name = "ants"

    def __init__(self, settings: AntsSettings | None = None) -> None:
        self.settings = settings or AntsSettings()
        try:
            import ants  # noqa: F401
        except ImportError as exc:
            raise EyeAtlasError('the "ants" engine needs antspyx: pip install "eye-atlas-segment[ants]"') from exc

    def parameters(self) -> dict:
        return {"stages": ["rigid", "affine", "syn"], "metric": "MattesMutualInformation", **asdict(self.settings)}

    def register(self, fixed: sitk.Image, masks: RegistrationMasks, moving: sitk.Image, initial: sitk.Transform,
                 anchor_lps_mm: Sequence[float], progress: Optional[ProgressCallback] = None) -> EngineOutput:
        import ants

        start = time.perf_counter()
        if progress:
            progress(0.0, f"ANTs {self.settings.type_of_transform}")
        with tempfile.TemporaryDirectory(prefix="eyeatlas-ants-") as tmp:
            folder = Path(tmp)
            for name, image in (("fixed", fixed), ("mask", masks.orbit), ("moving", moving)):
                sitk.WriteImage(image, str(folder / f"{name}.nii.gz"))
            sitk.WriteTransform(initial, str(folder / "initial.tfm"))
            result = ants.registration(
                ants.image_read(str(folder / "fixed.nii.gz")), ants.image_read(str(folder / "moving.nii.gz")),
                type_of_transform=self.settings.type_of_transform, initial_transform=[str(folder / "initial.tfm")],
                mask=ants.image_read(str(folder / "mask.nii.gz")), reg_iterations=self.settings.reg_iterations,
                random_seed=self.settings.random_seed, outprefix=str(folder / "out_"))
            warp_file, affine_file = result["fwdtransforms"]
            affine = sitk.ReadTransform(affine_file)
            warp = sitk.DisplacementFieldTransform(sitk.Cast(sitk.ReadImage(warp_file), sitk.sitkVectorFloat64))
        # antsApplyTransforms order [warp, affine]: a fixed point is warped first, then mapped by the affine.
        stages = [{"stage": self.settings.type_of_transform, "seconds": round(time.perf_counter() - start, 2)}]
        return EngineOutput(affine, sitk.CompositeTransform([affine, warp]), stages)
