"""Which noise method a run uses, the input it needs, and the estimate it gives; each method's and noise model's
definition as ``report.json`` states it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import SimpleITK as sitk

from .choices import AUTO_PREFERENCE, NOISE_METHOD_CHOICES, NOISE_MODEL_CHOICES, choice_keys
from .errors import EyeAtlasError
from .image_io import load_image
from .noise import (
    DifferenceNoise,
    NoiseEstimate,
    estimate_noise_from_air,
    estimate_noise_from_noise_scan,
    estimate_noise_from_roi,
    naive_outside_mask_noise,
    require_same_grid,
)

if TYPE_CHECKING:
    from .pipeline import PipelineOptions

NOISE_METHODS = choice_keys(NOISE_METHOD_CHOICES)
#: ``noise_method`` as recorded in stats.csv and report.json → what it measured.
NOISE_DEFINITIONS = {c.recorded_as: c.definition for c in NOISE_METHOD_CHOICES if c.recorded_as}
MODEL_DEFINITIONS = {c.key: c.definition for c in NOISE_MODEL_CHOICES}
#: Noise methods that need an input image → the ``PipelineOptions`` field holding it and how to ask for it.
_NOISE_INPUTS = {c.key: (c.input_field, c.input_help) for c in NOISE_METHOD_CHOICES if c.input_field}


def resolve_noise_method(options: PipelineOptions) -> str:
    """The noise method to use: the one asked for (checking its input is given), or "auto"'s choice."""
    if options.noise_method not in NOISE_METHODS:
        raise EyeAtlasError(f"noise method must be one of {', '.join(NOISE_METHODS)}, not {options.noise_method!r}")
    if options.noise_method == "auto":
        return next((m for m in AUTO_PREFERENCE if getattr(options, _NOISE_INPUTS[m][0]) is not None), "air")
    if options.noise_method in _NOISE_INPUTS:
        field_name, what = _NOISE_INPUTS[options.noise_method]
        if getattr(options, field_name) is None:
            raise EyeAtlasError(f"the {options.noise_method} noise method needs {what}")
    return options.noise_method


def load_noise_input(method: str, image: sitk.Image, options: PipelineOptions) -> sitk.Image | None:
    """The ROI mask, noise scan or repeat image the method needs, loaded and (ROI, repeat) grid-checked up front."""
    source = getattr(options, _NOISE_INPUTS[method][0]) if method in _NOISE_INPUTS else None
    if source is None:
        return None
    kind = "mask" if method == "roi" else "intensity"
    loaded = source if isinstance(source, sitk.Image) else load_image(source, kind=kind).image
    if method in ("roi", "difference"):
        require_same_grid(image, loaded, "noise ROI" if method == "roi" else "repeat image")
    return loaded


def estimate_noise(method: str, image: sitk.Image, labels: sitk.Image, options: PipelineOptions,
                   eye_centres_lps_mm: Sequence[Sequence[float]], noise_input: sitk.Image | None) -> NoiseEstimate:
    """The image's noise estimate for ``method`` (``DifferenceNoise`` for the difference method: σ per structure)."""
    model, channels = options.noise_model, options.channels
    if method == "air":
        return estimate_noise_from_air(image, model, channels, eye_centres_lps_mm)
    if method == "roi":
        return estimate_noise_from_roi(image, noise_input, model, channels)
    if method == "noise_scan":
        return estimate_noise_from_noise_scan(noise_input, model, channels)
    if method == "naive":
        return naive_outside_mask_noise(image, labels)
    return DifferenceNoise(repeat=noise_input)
