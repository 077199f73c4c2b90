"""Each eye, with quality control and recovery: register, bring the labels over, check, and retry when in doubt.

Attempts run in the order of ``attempt_plan``: the engine as chosen; the same engine started from the template
turned by ±10° about the globe (an eye looking elsewhere than the template's); a full affine stage (SimpleITK); and
ANTs SyN when it is installed (engines fail on different eyes). The first attempt that passes every check ends the
search. An attempt that passes but is doubtful (deformable stage rejected) is kept while the others are tried, and
used if none passes cleanly. When every attempt fails, the eye is refused with the reasons.

With both eyes accepted, their globes are compared (``segment_eyes``): when they disagree, the eye further from
the population is searched further for an attempt that agrees, and refused if none does.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import SimpleITK as sitk

from .atlas import Atlas, mirror_atlas
from .callbacks import CancelCheck, ProgressCallback
from .engines import ENGINE_MODULES, get_engine
from .errors import Cancelled, EyeAtlasError, EyeNotFoundError, RegistrationError
from .eye_qc import QcCheck, globe_offset_check, symmetry_check, verdict_of, volumes_check
from .geometry import voxel_volume_mm3
from .globe_centres import LocatedGlobe
from .label_transfer import warp_labels
from .normative import population_norm
from .registration import RegistrationEngine, RegistrationResult, label_centroid_lps, register_eye
from .structures import EYE_LABEL_OFFSET, EYES, STRUCTURES

#: Starting rotations (degrees about the LPS x, y, z axes) tried after the plain start: pitch and yaw of ±10°.
RETRY_ROTATIONS_DEG = ((10.0, 0.0, 0.0), (-10.0, 0.0, 0.0), (0.0, 0.0, 10.0), (0.0, 0.0, -10.0))


@dataclass(frozen=True)
class AttemptPlan:
    """One way of registering an eye: a name for the report, the engine, and the template's starting rotation."""

    name: str
    engine: RegistrationEngine
    start_rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class Attempt:
    """What one plan gave: the labels (0-9, patient grid) and checks, or the reason it could not run."""

    plan: AttemptPlan
    registration: RegistrationResult | None
    labels: sitk.Image | None
    volumes_mm3: dict[str, float] = field(default_factory=dict)
    checks: list[QcCheck] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict_of(self.checks)

    def summary(self) -> dict:
        """The attempt as reported in ``report.json``."""
        return {"attempt": self.plan.name, "engine": self.plan.engine.name,
                "start_rotation_deg": list(self.plan.start_rotation_deg), "verdict": self.verdict,
                "checks": [c.as_dict() for c in self.checks],
                "volumes_mm3": {k: round(v, 1) for k, v in self.volumes_mm3.items()}}


def attempt_plan(engine: RegistrationEngine, retry_engines: Sequence[str] = ("ants",)) -> Iterator[AttemptPlan]:
    """The attempts for one eye, in order; engines for the later ones are built only when they are reached.

    ``retry_engines`` are other engines tried last, each only when it is installed.
    """
    yield AttemptPlan(engine.name, engine)
    for rotation in RETRY_ROTATIONS_DEG:
        yield AttemptPlan(f"{engine.name}, start turned {_rotation_text(rotation)}", engine, rotation)
    settings = getattr(engine, "settings", None)
    if settings is not None and hasattr(settings, "affine_stage") and not settings.affine_stage:
        yield AttemptPlan(f"{engine.name} with an affine stage", type(engine)(replace(settings, affine_stage=True)))
    for name in retry_engines:
        if name != engine.name and importlib.util.find_spec(ENGINE_MODULES.get(name, name)) is not None:
            yield AttemptPlan(name, get_engine(name))


def _rotation_text(rotation_deg: Sequence[float]) -> str:
    return ", ".join(f"{angle:+.0f}° about {axis}" for angle, axis in zip(rotation_deg, "LPS") if angle)


def run_attempt(plan: AttemptPlan, atlas: Atlas, patient: sitk.Image, centre_lps_mm: Sequence[float], sex: str,
                progress: ProgressCallback | None = None) -> Attempt:
    """Register one eye as ``plan`` says, bring its labels to the patient grid and check the result."""
    try:
        registration = register_eye(atlas, patient, centre_lps_mm, plan.engine, progress, plan.start_rotation_deg)
    except RegistrationError as exc:
        return Attempt(plan, None, None, checks=[QcCheck("registration", "fail", None, "runs", str(exc))])
    labels = warp_labels(atlas.labels, registration.patient_to_atlas, patient, registration.region)
    counts = np.bincount(sitk.GetArrayViewFromImage(labels).ravel(), minlength=len(STRUCTURES) + 1)
    voxel_mm3 = voxel_volume_mm3(patient)
    volumes = {s.key: float(counts[s.label]) * voxel_mm3 for s in STRUCTURES}
    try:
        globe_centroid = label_centroid_lps(labels, (2,))
    except RegistrationError:
        globe_centroid = None
    checks = [*registration.checks, globe_offset_check(globe_centroid, centre_lps_mm),
              volumes_check(atlas.side, sex, volumes)]
    return Attempt(plan, registration, labels, volumes, checks)


class EyeSearch:
    """The attempts for one eye, run lazily: ``best()`` runs until one passes cleanly; ``more()`` goes on."""

    def __init__(self, plans: Iterator[AttemptPlan], run: Callable[[AttemptPlan], Attempt],
                 is_cancelled: CancelCheck) -> None:
        self._plans, self._run, self._is_cancelled = plans, run, is_cancelled
        self.attempts: list[Attempt] = []

    def more(self) -> Attempt | None:
        """Run the next planned attempt; None when the plan is exhausted."""
        if self._is_cancelled():
            raise Cancelled("cancelled by the user")
        plan = next(self._plans, None)
        if plan is None:
            return None
        try:
            attempt = self._run(plan)
        except EyeNotFoundError:
            raise
        except EyeAtlasError as exc:  # an optional engine that cannot run here
            attempt = Attempt(plan, None, None, checks=[QcCheck("registration", "fail", None, "runs", str(exc))])
        self.attempts.append(attempt)
        return attempt

    def accepted(self) -> list[Attempt]:
        """Attempts that passed, clean ones first, each group in the order they ran."""
        return ([a for a in self.attempts if a.verdict == "pass"] +
                [a for a in self.attempts if a.verdict == "doubtful"])

    def best(self) -> Attempt | None:
        """The first clean pass (running attempts until one is found), else the first doubtful one, else None."""
        while not any(a.verdict == "pass" for a in self.attempts):
            if self.more() is None:
                break
        accepted = self.accepted()
        return accepted[0] if accepted else None


def segment_eyes(image: sitk.Image, atlas: Atlas, centres: Mapping[str, LocatedGlobe],
                 engine: RegistrationEngine, retry_engines: Sequence[str], missing: dict[str, str],
                 progress: ProgressCallback,
                 is_cancelled: CancelCheck) -> tuple[dict[str, Attempt], dict[str, list[QcCheck]],
                                                            dict[str, list[dict]]]:
    """Register and check each located eye, retrying as ``attempt_plan`` plans; then compare the two globes.

    Returns the attempt used per accepted eye, its checks (with the two-eye comparison), and every attempt per eye.
    Eyes outside the image or refused are added to ``missing`` with the reason.
    """
    searches: dict[str, EyeSearch] = {}
    chosen: dict[str, Attempt] = {}
    located = [e for e in EYES if e in centres]
    for n, eye in enumerate(located):
        centre_lps = centres[eye][0]
        eye_atlas = atlas if eye == "right" else mirror_atlas(atlas)
        base = 0.1 + 0.8 * n / len(located)

        def eye_progress(fraction: float, message: str, eye: str = eye, base: float = base) -> None:
            progress(base + 0.8 * fraction / len(located), f"{eye} eye: {message}")

        def run(plan, eye_atlas=eye_atlas, centre_lps=centre_lps, eye_progress=eye_progress) -> Attempt:
            eye_progress(0.0, f"registering the atlas ({plan.name})")
            return run_attempt(plan, eye_atlas, image, centre_lps, atlas.sex, eye_progress)

        searches[eye] = EyeSearch(attempt_plan(engine, retry_engines), run, is_cancelled)
        try:
            best = searches[eye].best()
        except EyeNotFoundError as exc:
            missing[eye] = str(exc)
            continue
        if best is None:
            missing[eye] = "refused by quality control: " + _refusal_reason(searches[eye].attempts)
        else:
            chosen[eye] = best
    checks = {eye: list(attempt.checks) for eye, attempt in chosen.items()}
    if len(chosen) == 2:
        symmetry = _make_symmetric(chosen, searches, atlas.sex)
        for eye in list(chosen):
            checks[eye].append(symmetry)
        if symmetry.verdict == "fail":
            suspect = _suspect_eye(chosen, atlas.sex)
            del chosen[suspect], checks[suspect]
            missing[suspect] = f"refused by quality control: {symmetry.message}, and this globe is the further " \
                               f"from the population"
    attempts = {eye: [a.summary() for a in search.attempts] for eye, search in searches.items()}
    return chosen, checks, attempts


def _refusal_reason(attempts: Sequence[Attempt]) -> str:
    """Why every attempt failed: the first attempt's failures, and how many alternatives were tried."""
    first = next(a for a in attempts)
    reason = "; ".join(c.message for c in first.checks if c.verdict == "fail")
    return f"{reason} (and in {len(attempts) - 1} other registration attempts)" if len(attempts) > 1 else reason


def _globe_z(eye: str, attempt: Attempt, sex: str) -> float:
    return abs(population_norm(eye, sex, "globe").z_score(attempt.volumes_mm3["globe"]))


def _suspect_eye(chosen: Mapping[str, Attempt], sex: str) -> str:
    """Of two disagreeing eyes, the one whose globe volume is further from the population mean."""
    return max(chosen, key=lambda eye: _globe_z(eye, chosen[eye], sex))


def _make_symmetric(chosen: dict[str, Attempt], searches: Mapping[str, EyeSearch], sex: str) -> QcCheck:
    """Compare the two globes; when they disagree, look for an attempt of the suspect eye that agrees.

    The suspect eye's other accepted attempts are tried first, then its remaining planned ones. ``chosen`` is
    updated in place; the returned check is the final comparison.
    """
    check = symmetry_check({eye: attempt.volumes_mm3["globe"] for eye, attempt in chosen.items()})
    if check.verdict == "pass":
        return check
    suspect = _suspect_eye(chosen, sex)
    search = searches[suspect]
    candidates = iter([a for a in search.accepted() if a is not chosen[suspect]])
    while (candidate := next(candidates, None) or search.more()) is not None:
        if candidate.verdict == "fail":
            continue
        trial = {**chosen, suspect: candidate}
        trial_check = symmetry_check({eye: attempt.volumes_mm3["globe"] for eye, attempt in trial.items()})
        if trial_check.verdict == "pass":
            chosen[suspect] = candidate
            return trial_check
    return check


def combined_labels(patient: sitk.Image, chosen: Mapping[str, Attempt]) -> sitk.Image:
    """Both eyes' labels in one map on the patient grid, each eye's 0-9 shifted by its offset (``structures``);
    where the eyes' labels overlap, the right eye's win."""
    combined = np.zeros(patient.GetSize()[::-1], np.uint8)
    for eye in (e for e in EYES if e in chosen):
        new = sitk.GetArrayViewFromImage(chosen[eye].labels)
        take = (new > 0) & (combined == 0)
        combined[take] = new[take] + EYE_LABEL_OFFSET[eye]
    out = sitk.GetImageFromArray(combined)
    out.CopyInformation(patient)
    return out
