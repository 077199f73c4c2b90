"""Noise level σ of a magnitude MR image: from air, a user ROI or a noise-only scan, under a chosen noise model.

σ is the Gaussian noise SD of each quadrature channel (the σ of SNR = signal / σ). In air a magnitude image holds
no signal, only noise, whose distribution depends on the coil combination:

- single channel: Rayleigh, SD_air = 0.655 σ and mean_air = 1.253 σ (models ``rayleigh_sd``, ``rayleigh_mean``);
- n-channel sum of squares: central chi with 2n degrees of freedom, E[M²] = 2nσ² (model ``sos``);
- ``none``: σ = raw SD of the background, no correction (for comparison with naive recipes; biased low).

Background that scanners zero-fill, clip or quantise carries no noise information: such voxels are excluded, and
when too few real noise voxels remain σ is undefined and SNR is refused with the reason. So is automatic air
that is not pure noise of the model: its mean/SD ratio and kurtosis disagree with the model's distribution
(tissue or ghosts in it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .choices import DEFAULT_NOISE_MODEL, NOISE_MODEL_CHOICES, choice_keys
from .errors import GridMismatchError
from .geometry import same_grid
from .head_mask import head_from_foreground

#: SD of Rayleigh-distributed background / σ: √((4−π)/2) = 0.655 (Henkelman 1985; Gudbjartsson & Patz 1995).
RAYLEIGH_SD_FACTOR = float(np.sqrt((4.0 - np.pi) / 2.0))
#: Mean of Rayleigh-distributed background / σ: √(π/2) = 1.253 (Henkelman 1985; Gudbjartsson & Patz 1995).
RAYLEIGH_MEAN_FACTOR = float(np.sqrt(np.pi / 2.0))
NOISE_MODELS = choice_keys(NOISE_MODEL_CHOICES)
MIN_NOISE_VOXELS = 1000
#: Air is at least this far from the head (mm), to stay clear of partial volume and skin.
AIR_DISTANCE_FROM_HEAD_MM = 10.0
#: Air within this distance (mm) of a line through an eye centre along any voxel axis is not used: eye and blink
#: motion ghosts run through the eyes along the phase-encode axis, which image files rarely record.
GHOST_BAND_HALF_WIDTH_MM = 20.0
#: More than this fraction of exact zeros among the air candidates: the background was zero-filled.
MAX_ZERO_FRACTION = 0.5
MAX_DISTINCT_VALUE_FRACTION = 0.002  # fewer distinct values than this × voxels means quantised/clipped
#: Pure noise follows the model's distribution (``chi_shape``). Background whose mean/SD ratio is off by more than
#: this fraction, or whose kurtosis is off by more than ``MAX_KURTOSIS_DEVIATION``, holds something else.
#: Pure Rayleigh air passes with margin: 1,000 samples (99.9 % of draws within ±8 %, kurtosis 2.6–4.6), integer
#: storage of σ ≥ 1.5 (ratio −5 to +10 %, kurtosis ≤ 3.9), the cleanest air of the real T2 (+6 %, 4.0).
MAX_MEAN_TO_SD_DEVIATION = 0.2
MAX_KURTOSIS_DEVIATION = 1.5
Z_95 = 1.959964


@dataclass
class NoiseEstimate:
    """σ of the Gaussian noise per quadrature channel, or the reason it is undefined.

    ``method`` says where the noise samples came from ("air_background", "roi", "noise_scan", "difference",
    "naive_outside_mask", "undefined"); ``model`` how σ was derived from them (``NOISE_MODELS``).
    ``sigma_rel_se`` is the relative standard error of σ, assuming independent voxels.
    """

    method: str
    sigma: float | None
    voxels: int
    reason: str = ""  # why sigma is undefined, or caveats
    details: dict = field(default_factory=dict)
    model: str = DEFAULT_NOISE_MODEL
    channels: int = 1
    sigma_rel_se: float | None = None
    #: The naive method only: the mean of the same voxels, the background of the naive CNR.
    background_mean: float | None = None

    @property
    def defined(self) -> bool:
        return self.sigma is not None

    def ci95(self) -> tuple[float, float] | None:
        """95 % confidence interval of σ (normal approximation), or None."""
        if self.sigma is None or self.sigma_rel_se is None:
            return None
        return interval95(self.sigma, self.sigma_rel_se)


@dataclass
class DifferenceNoise(NoiseEstimate):
    """The difference method: no image-wide σ, but σ in each structure's own ROI from ``repeat``, a second identical
    acquisition on the same grid: σ = SD_ROI(I1 − I2)/√2 (NEMA MS 1-2008; Dietrich O et al., J Magn Reson Imaging
    2007;26:375, on why it holds with multichannel coils and parallel imaging where background methods fail)."""

    method: str = "difference"
    sigma: float | None = None
    voxels: int = 0
    model: str = "none"
    repeat: sitk.Image | None = None

    @staticmethod
    def region_sigma(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
        """σ = SD(I1−I2)/√2 of paired samples and its relative standard error ½·√((κ−1)/n)."""
        difference = np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)
        sigma = float(np.std(difference, ddof=1) / np.sqrt(2.0))
        return sigma, sd_relative_se(sample_kurtosis(difference), difference.size)


def interval95(value: float, rel_se: float) -> tuple[float, float]:
    """95 % interval value·(1 ± 1.96·rel_se) of a non-negative quantity (lower end clipped at 0)."""
    return max(0.0, value * (1 - Z_95 * rel_se)), value * (1 + Z_95 * rel_se)


def sample_kurtosis(values: np.ndarray) -> float:
    """κ = m4 / m2² of the samples (3 for Gaussian); 3 for constant samples."""
    centred = np.asarray(values, dtype=np.float64) - np.mean(values)
    variance = float(np.mean(centred ** 2))
    return float(np.mean(centred ** 4) / variance ** 2) if variance > 0 else 3.0


def sd_relative_se(kurtosis: float, n: int) -> float:
    """Relative standard error of a sample SD by the delta method: ½·√((κ−1)/n) (independent samples)."""
    return float(0.5 * np.sqrt(max(kurtosis - 1.0, 0.0) / n))


HEAD_MASK_SPACING_MM = 4.0
HEAD_MASK_CLOSING_MM = 12.0
#: Maurer distances (float32) of voxels exactly ``AIR_DISTANCE_FROM_HEAD_MM`` away vary by ~1e-5 mm with the
#: storage order of the axes: the air starts this much further out, so every orientation selects the same voxels.
DISTANCE_RESOLUTION_MM = 1e-3


def head_mask(image: sitk.Image) -> sitk.Image:
    """Binary mask (uint8, on ``image``'s grid) of the head, openings such as eye sockets and nostrils closed.

    Computed on a ~4 mm copy: foreground above the Otsu threshold, made a head by ``head_from_foreground`` with a
    12 mm closing (dark skull and air cavities open to the outside through the orbits and nose would otherwise
    count as background). The 4 mm bins start at voxel 0: flipping an axis whose size is not a multiple of the bin
    moves the mask edge by < 4 mm, which the 10 mm margin of the air absorbs (σ within 0.1 % over the 48 axis
    orientations).
    """
    factors = [max(1, int(round(HEAD_MASK_SPACING_MM / s))) for s in image.GetSpacing()]
    coarse = sitk.BinShrink(image, factors)
    head = head_from_foreground(sitk.OtsuThreshold(coarse, 0, 1), HEAD_MASK_CLOSING_MM)
    return sitk.Resample(head, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def ghost_band_mask(image: sitk.Image, centres_lps_mm: Sequence[Sequence[float]],
                    half_width_mm: float = GHOST_BAND_HALF_WIDTH_MM) -> np.ndarray:
    """Boolean (k, j, i) mask of voxels near a line through any centre along any voxel axis (ghost lines)."""
    shape = image.GetSize()[::-1]
    band = np.zeros(shape, dtype=bool)
    spacing_kji = np.asarray(image.GetSpacing()[::-1])
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij", sparse=True)
    for centre in centres_lps_mm:
        centre_kji = np.asarray(image.TransformPhysicalPointToContinuousIndex(tuple(map(float, centre))))[::-1]
        offsets_mm = [(g - c) * s for g, c, s in zip(grids, centre_kji, spacing_kji)]
        for along in range(3):  # the line runs along this axis: distance in the other two
            across = [offsets_mm[a] ** 2 for a in range(3) if a != along]
            band |= (across[0] + across[1]) <= half_width_mm ** 2
    return band


def air_region(image: sitk.Image, eye_centres_lps_mm: Sequence[Sequence[float]] = ()) -> tuple[np.ndarray, dict]:
    """Air voxels (k, j, i boolean) for the noise estimate, and what was excluded.

    Air is further than ``AIR_DISTANCE_FROM_HEAD_MM`` from the head, outside the ghost bands through the eyes, and
    neither exactly zero (zero-filled) nor at the image maximum (clipped).
    """
    distance = sitk.SignedMaurerDistanceMap(head_mask(image), insideIsPositive=False, squaredDistance=False,
                                            useImageSpacing=True)
    candidates = sitk.GetArrayFromImage(distance) > AIR_DISTANCE_FROM_HEAD_MM + DISTANCE_RESOLUTION_MM
    values = sitk.GetArrayViewFromImage(image)
    in_band = ghost_band_mask(image, eye_centres_lps_mm) & candidates
    outside_band = candidates & ~in_band
    zero = outside_band & (values == 0)
    clipped = outside_band & (values >= values.max())
    details = {"air_candidates": int(candidates.sum()), "ghost_band_excluded": int(in_band.sum()),
               "zero_excluded": int(zero.sum()), "clipped_excluded": int(clipped.sum()),
               "zero_fraction": float(zero.sum() / max(1, outside_band.sum()))}
    return outside_band & ~zero & ~clipped, details


def _check_samples(values: np.ndarray) -> str:
    """Why these background samples cannot give σ ('' when they can)."""
    n = int(values.size)
    if n < MIN_NOISE_VOXELS:
        return f"only {n} background voxels (need {MIN_NOISE_VOXELS}); SNR undefined for this image"
    distinct = np.unique(values).size
    if distinct < max(8, MAX_DISTINCT_VALUE_FRACTION * n) and distinct < 16:
        return f"background has only {distinct} distinct values (clipped or quantised): SNR undefined for this image"
    if np.std(values) <= 0:
        return "background is constant: SNR undefined for this image"
    return ""


def chi_shape(channels: int) -> tuple[float, float]:
    """Mean/SD ratio and kurtosis of pure magnitude noise: central chi with 2·``channels`` degrees of freedom.

    One channel is Rayleigh: ratio √(π/(4−π)) = 1.913, kurtosis 3.245. From the raw moments of chi with k degrees
    of freedom (unit σ): E[M] = √2·Γ((k+1)/2)/Γ(k/2), E[M²] = k, E[M³] = (k+1)·E[M], E[M⁴] = k(k+2).
    """
    k = 2 * channels
    mean = math.sqrt(2.0) * math.exp(math.lgamma((k + 1) / 2) - math.lgamma(k / 2))
    variance = k - mean ** 2
    fourth_central = k * (k + 2) + (2 * k - 4) * mean ** 2 - 3 * mean ** 4
    return mean / math.sqrt(variance), fourth_central / variance ** 2


def model_noise_shape(model: str, channels: int) -> tuple[float, float]:
    """``chi_shape`` of the air that ``model`` assumes: ``channels`` for "sos", else one channel (Rayleigh)."""
    return chi_shape(channels if model == "sos" else 1)


def noise_model_mismatch(mean_to_sd: float, kurtosis: float, model: str, channels: int) -> str:
    """How background samples with these moments fail to be pure noise of ``model`` ('' when they are).

    The check compares the mean/SD ratio and the kurtosis with those of the model's own distribution
    (``model_noise_shape``; the "none" model is checked against Rayleigh air). Tissue or ghosts in the background
    raise the kurtosis and shift the ratio; a multi-channel image under a Rayleigh model raises the ratio.
    """
    expected_ratio, expected_kurtosis = model_noise_shape(model, channels)
    if (abs(mean_to_sd / expected_ratio - 1.0) <= MAX_MEAN_TO_SD_DEVIATION
            and abs(kurtosis - expected_kurtosis) <= MAX_KURTOSIS_DEVIATION):
        return ""
    noise = f"{channels}-channel sum-of-squares" if model == "sos" else "single-channel Rayleigh"
    return (f"not pure {noise} noise (mean/SD {mean_to_sd:.2f}, expected {expected_ratio:.2f}; "
            f"kurtosis {kurtosis:.1f}, expected {expected_kurtosis:.2f})")


def sigma_from_background_samples(values: np.ndarray, method: str, model: str = DEFAULT_NOISE_MODEL,
                                  channels: int = 1) -> NoiseEstimate:
    """σ from pure-noise magnitude samples under ``model``; refuses quantised, constant or too few samples.

    - ``rayleigh_sd``: σ = SD / 0.655; ``rayleigh_mean``: σ = mean / 1.253 (single-channel magnitude: Rayleigh;
      Henkelman RM, Med Phys 1985;12:232; Gudbjartsson H, Patz S, Magn Reson Med 1995;34:910).
    - ``sos``: σ² = mean(M²) / 2n, since n-channel sum-of-squares noise is central χ with 2n degrees of freedom
      (Constantinides CD et al., Magn Reson Med 1997;38:852).
    - ``none``: σ = SD, uncorrected (for comparison).

    Samples that fail ``noise_model_mismatch`` still give σ, with a note (``details['noise_model_mismatch']``).
    Relative standard errors (independent samples, delta method): SD-based ½·√((κ−1)/n) with κ the sample
    kurtosis; mean-based SD/(mean·√n); sum of squares ½·SD(M²)/(mean(M²)·√n).
    """
    if model not in NOISE_MODELS:
        raise ValueError(f"noise model must be one of {', '.join(NOISE_MODELS)}, not {model!r}")
    if channels < 1 or (channels != 1 and model != "sos"):
        raise ValueError("a channel count other than 1 needs the sum-of-squares model ('sos')")
    values = np.asarray(values, dtype=np.float64)
    n = int(values.size)
    problem = _check_samples(values)
    if problem:
        return NoiseEstimate("undefined", None, n, problem, model=model, channels=channels)
    sd, mean = float(np.std(values, ddof=1)), float(np.mean(values))
    kurtosis = sample_kurtosis(values)
    sd_rel_se = sd_relative_se(kurtosis, n)
    expected_ratio, expected_kurtosis = model_noise_shape(model, channels)
    mismatch = noise_model_mismatch(mean / sd, kurtosis, model, channels)
    details = {"background_sd": sd, "background_mean": mean, "background_kurtosis": kurtosis,
               "mean_to_sd_ratio": mean / sd, "model_mean_to_sd_ratio": expected_ratio,
               "model_kurtosis": expected_kurtosis, "noise_model_mismatch": mismatch}
    if model == "rayleigh_sd":
        sigma, rel_se = sd / RAYLEIGH_SD_FACTOR, sd_rel_se
    elif model == "rayleigh_mean":
        sigma, rel_se = mean / RAYLEIGH_MEAN_FACTOR, sd / (mean * np.sqrt(n))
    elif model == "sos":
        power = values ** 2
        sigma = float(np.sqrt(power.mean() / (2 * channels)))
        rel_se = 0.5 * float(power.std(ddof=1) / (power.mean() * np.sqrt(n)))
    else:
        sigma, rel_se = sd, sd_rel_se
    reason = f"background is {mismatch}: ghosting, tissue, filtering or coil combination may bias SNR" if mismatch \
        else ""
    return NoiseEstimate(method, float(sigma), n, reason, details, model, channels, float(rel_se))


def _zero_filled(voxels: int, zero_fraction: float, model: str, channels: int) -> NoiseEstimate:
    return NoiseEstimate("undefined", None, int(voxels),
                         f"background is zero-filled ({zero_fraction:.0%} of background voxels are exactly 0): the "
                         f"scanner or export removed the noise, so SNR is undefined for this image",
                         {"zero_fraction": zero_fraction}, model, channels)


def _impure_air(estimate: NoiseEstimate) -> NoiseEstimate:
    """The refusal of an automatic air background that fails its noise model's own check, with what to do.

    A ratio too high at the model's kurtosis is the signature of more coil channels than the model assumes.
    """
    d = estimate.details
    more_channels = (d["mean_to_sd_ratio"] > d["model_mean_to_sd_ratio"] and not noise_model_mismatch(
        d["model_mean_to_sd_ratio"], d["background_kurtosis"], estimate.model, estimate.channels))
    remedy = "give an air ROI with --noise-roi"
    if estimate.model == "sos":
        remedy += ", or check --channels"
    elif more_channels:
        remedy = "use --noise-model sos --channels N if the coils are combined by sum of squares, or " + remedy
    reason = f"the automatic air background is {d['noise_model_mismatch']}: SNR is not reported; {remedy}"
    return NoiseEstimate("undefined", None, estimate.voxels, reason, d, estimate.model, estimate.channels)


def estimate_noise_from_air(image: sitk.Image, model: str = DEFAULT_NOISE_MODEL, channels: int = 1,
                            eye_centres_lps_mm: Sequence[Sequence[float]] = ()) -> NoiseEstimate:
    """σ from the automatically found air background (away from the head and from ghost lines through the eyes).

    Refused (σ undefined, with the reason) when the air is zero-filled, or is not pure noise of ``model``
    (``noise_model_mismatch``): tissue or ghosts in it would lower every SNR.
    """
    mask, details = air_region(image, eye_centres_lps_mm)
    if details["zero_fraction"] > MAX_ZERO_FRACTION:
        estimate = _zero_filled(details["air_candidates"], details["zero_fraction"], model, channels)
    else:
        estimate = sigma_from_background_samples(sitk.GetArrayViewFromImage(image)[mask], "air_background", model,
                                                 channels)
        if estimate.details.get("noise_model_mismatch"):
            estimate = _impure_air(estimate)
        elif details["zero_excluded"] and estimate.defined:
            estimate.reason = "; ".join(filter(None, [estimate.reason, (
                f"{details['zero_excluded']} zero-valued air voxels (partly zero-filled background) were excluded")]))
    estimate.details.update(details)
    return estimate


def require_same_grid(image: sitk.Image, other: sitk.Image, what: str) -> None:
    """Raise ``GridMismatchError`` naming both grids when ``other`` is not on ``image``'s voxel grid."""
    if not same_grid(other, image, direction=1e-4):
        raise GridMismatchError(
            f"the {what} must be on the image's voxel grid (same size, spacing, origin and direction): "
            f"image {image.GetSize()} voxels of {np.round(image.GetSpacing(), 3).tolist()} mm, "
            f"{what} {other.GetSize()} voxels of {np.round(other.GetSpacing(), 3).tolist()} mm")


def _sigma_from_nonzero_samples(values: np.ndarray, method: str, model: str, channels: int) -> NoiseEstimate:
    """Exact zeros carry no noise: refused as zero-filled when they are the majority of ≥ ``MIN_NOISE_VOXELS``
    samples, else dropped before ``sigma_from_background_samples``."""
    values = np.asarray(values, dtype=np.float64).ravel()
    zero_fraction = float(np.mean(values == 0)) if values.size else 0.0
    if zero_fraction > MAX_ZERO_FRACTION and values.size >= MIN_NOISE_VOXELS:
        return _zero_filled(values.size, zero_fraction, model, channels)
    return sigma_from_background_samples(values[values != 0], method, model, channels)


def estimate_noise_from_roi(image: sitk.Image, roi: sitk.Image, model: str = DEFAULT_NOISE_MODEL,
                            channels: int = 1) -> NoiseEstimate:
    """σ from a user-given air ROI (non-zero voxels of ``roi``, same grid); zero-valued voxels are excluded."""
    require_same_grid(image, roi, "noise ROI")
    values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(roi) != 0]
    return _sigma_from_nonzero_samples(values, "roi", model, channels)


def estimate_noise_from_noise_scan(noise_scan: sitk.Image, model: str = DEFAULT_NOISE_MODEL,
                                   channels: int = 1) -> NoiseEstimate:
    """σ from a noise-only acquisition (same protocol, no RF excitation): every non-zero voxel is noise (Kellman P,
    McVeigh ER, Magn Reson Med 2005;54:1439)."""
    return _sigma_from_nonzero_samples(sitk.GetArrayViewFromImage(noise_scan), "noise_scan", model, channels)


def naive_outside_mask_noise(image: sitk.Image, labels: sitk.Image) -> NoiseEstimate:
    """The naive recipe's "noise": SD of every voxel outside the structures (tissue and air alike), uncorrected.

    Biased by anatomy (head tissue counts as noise) and by magnitude statistics; kept for comparison only.
    ``background_mean`` is the mean of the same voxels (the naive CNR formula's background).
    """
    require_same_grid(image, labels, "label map")
    values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(labels) == 0].astype(np.float64)
    if values.size < 2:
        return NoiseEstimate("undefined", None, int(values.size), "no voxels outside the structures", model="none")
    sd, mean = float(np.std(values, ddof=1)), float(np.mean(values))
    return NoiseEstimate("naive_outside_mask", sd, int(values.size),
                         "naive recipe (SD of everything outside the structures, tissue included): biased, for "
                         "comparison only", {"background_mean": mean, "background_sd": sd}, "none", 1,
                         sd_relative_se(sample_kurtosis(values), values.size), background_mean=mean)
