"""Quality checks of one eye's registered atlas: is the result an eye, in the right place, of a plausible size?

Each check is a small pure function returning a ``QcCheck``. A *failed* check refuses the attempt (the eye is
retried, then listed as not segmented); a *doubtful* one (the deformable stage was rejected and the linear
result kept) is accepted only when no alternative passes cleanly. Every check, passed or not, goes into
``report.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk

from .normative import population_norm
from .structures import STRUCTURES

#: A structure volume further than this many population SDs from the sex-specific mean is not an eye's.
MAX_VOLUME_Z = 3.5
#: The two globes of one head differ by at most this fraction of the larger one.
MAX_GLOBE_ASYMMETRY = 0.25
#: The registered globe's centroid stays this close to the located globe centre (the globe label is the chamber
#: behind the lens, whose centroid lies ≈1 mm behind the eyeball's centre; the sphere fit is good to 1–2 mm).
MAX_GLOBE_OFFSET_MM = 3.5
#: The deformation must keep every orbit voxel's local volume change above this Jacobian (≤ 0 is folding).
MIN_JACOBIAN = 0.05


@dataclass
class QcCheck:
    """One check: its machine name, verdict ("pass", "doubtful" or "fail"), measured value, limit and reason."""

    name: str
    verdict: str
    value: float | None
    limit: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def verdict_of(checks: Sequence[QcCheck]) -> str:
    """The worst verdict of ``checks``: "fail" over "doubtful" over "pass"."""
    verdicts = {c.verdict for c in checks}
    return next((v for v in ("fail", "doubtful") if v in verdicts), "pass")


def failure_reasons(checks: Sequence[QcCheck]) -> str:
    """The messages of the failed checks, one clause each."""
    return "; ".join(c.message for c in checks if c.verdict == "fail")


def volumes_check(eye: str, atlas_sex: str, volumes_mm3: Mapping[str, float]) -> QcCheck:
    """All nine volumes within ``MAX_VOLUME_Z`` SDs of the population of the atlas sex (MR-Eye normative data)."""
    outliers, worst = [], 0.0
    for structure in STRUCTURES:
        norm = population_norm(eye, atlas_sex, structure.key)
        z = norm.z_score(volumes_mm3.get(structure.key, 0.0))
        worst = max(worst, abs(z))
        if abs(z) > MAX_VOLUME_Z:
            outliers.append(f"{structure.name} {volumes_mm3.get(structure.key, 0.0):.0f} mm³ "
                            f"(population {norm.mean:.0f} ± {norm.sd:.0f}, z {z:+.1f})")
    limit = f"|z| <= {MAX_VOLUME_Z} against the {atlas_sex} population"
    if outliers:
        return QcCheck("volumes", "fail", round(worst, 2), limit,
                       "volume outside the population range: " + ", ".join(outliers))
    return QcCheck("volumes", "pass", round(worst, 2), limit, "all nine volumes within the population range")


def globe_offset_check(globe_centroid_lps_mm: Sequence[float] | None,
                       located_centre_lps_mm: Sequence[float]) -> QcCheck:
    """The registered globe lies where the globe was located (a globe pulled onto other tissue moves away)."""
    limit = f"<= {MAX_GLOBE_OFFSET_MM} mm"
    if globe_centroid_lps_mm is None:
        return QcCheck("globe_position", "fail", None, limit, "the registered globe has no voxels in the image")
    offset = float(np.linalg.norm(np.subtract(globe_centroid_lps_mm, located_centre_lps_mm)))
    if offset > MAX_GLOBE_OFFSET_MM:
        return QcCheck("globe_position", "fail", round(offset, 2), limit,
                       f"the registered globe is {offset:.1f} mm from the located globe")
    return QcCheck("globe_position", "pass", round(offset, 2), limit, "globe where it was located")


def folding_check(patient_to_atlas: sitk.Transform, reference: sitk.Image, mask: sitk.Image) -> QcCheck:
    """The transform does not fold inside ``mask``: its Jacobian determinant stays above ``MIN_JACOBIAN``.

    ``reference`` is the registration grid (patient crop, 1 mm) and ``mask`` the orbit mask on it.
    """
    field = sitk.TransformToDisplacementField(patient_to_atlas, sitk.sitkVectorFloat64, reference.GetSize(),
                                              reference.GetOrigin(), reference.GetSpacing(), reference.GetDirection())
    interior = (slice(1, -1),) * 3  # the filter's one-sided differences on the grid's outer shell halve the gradient
    jacobian = sitk.GetArrayFromImage(sitk.DisplacementFieldJacobianDeterminant(field))[interior]
    inside = sitk.GetArrayViewFromImage(mask)[interior] > 0
    lowest = float(jacobian[inside].min()) if inside.any() else 1.0
    limit = f"Jacobian > {MIN_JACOBIAN}"
    if lowest <= MIN_JACOBIAN:
        share = float(np.mean(jacobian[inside] <= MIN_JACOBIAN))
        return QcCheck("folding", "fail", round(lowest, 3), limit,
                       f"the deformation folds the orbit ({share:.1%} of its voxels, lowest Jacobian {lowest:.2f})")
    return QcCheck("folding", "pass", round(lowest, 3), limit, "no folding")


def deformable_check(rejection_reason: str) -> QcCheck:
    """Whether the deformable stage was kept; a rejected one leaves the thin structures doubtful."""
    if rejection_reason:
        return QcCheck("deformable", "doubtful", None, "kept",
                       f"the deformable stage was rejected ({rejection_reason}): thin structures are less accurate")
    return QcCheck("deformable", "pass", None, "kept", "deformable stage kept")


def symmetry_check(globe_mm3: Mapping[str, float]) -> QcCheck:
    """The two globes (right, left) agree within ``MAX_GLOBE_ASYMMETRY`` of the larger one."""
    right, left = globe_mm3["right"], globe_mm3["left"]
    difference = abs(right - left) / max(right, left, 1e-9)
    limit = f"<= {MAX_GLOBE_ASYMMETRY:.0%}"
    if difference > MAX_GLOBE_ASYMMETRY:
        return QcCheck("symmetry", "fail", round(difference, 3), limit,
                       f"the globes differ by {difference:.0%} (right {right:.0f}, left {left:.0f} mm³)")
    return QcCheck("symmetry", "pass", round(difference, 3), limit, "the two globes agree")
