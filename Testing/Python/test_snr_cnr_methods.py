"""SNR and CNR estimators against analytic expectations on synthetic data with known noise and signal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.cnr import DEFAULT_CNR_PAIRS, OUTSIDE_MASK, contrast_to_noise, parse_pairs
from EyeAtlasSegmentLib.errors import EyeAtlasError, GridMismatchError
from EyeAtlasSegmentLib.noise import (
    RAYLEIGH_SD_FACTOR,
    DifferenceNoise,
    NoiseEstimate,
    estimate_noise_from_air,
    estimate_noise_from_noise_scan,
    estimate_noise_from_roi,
    ghost_band_mask,
    naive_outside_mask_noise,
    sigma_from_background_samples,
)
from EyeAtlasSegmentLib.noise_methods import resolve_noise_method
from EyeAtlasSegmentLib.pipeline import PipelineOptions
from EyeAtlasSegmentLib.statistics import RoiOptions, erode_mask, structure_statistics
from EyeAtlasSegmentLib.structures import output_label
from EyeAtlasSegmentLib.synthetic.noise_simulation import magnitude_with_noise

RNG = np.random.default_rng(2026)


def _chi_samples(sigma: float, channels: int, n: int, rng=RNG) -> np.ndarray:
    """Air of an n-channel sum-of-squares image: sqrt of a sum of 2·channels squared Gaussians of SD σ."""
    return np.sqrt(np.sum(rng.normal(0.0, sigma, (n, 2 * channels)) ** 2, axis=1))


def _chi_mean(channels: int) -> float:
    """Mean of a chi variable with 2·channels degrees of freedom and unit σ."""
    return math.sqrt(2) * math.exp(math.lgamma(channels + 0.5) - math.lgamma(channels))


def _chi_sd(channels: int) -> float:
    """SD of a chi variable with 2·channels degrees of freedom and unit σ."""
    return math.sqrt(2 * channels - _chi_mean(channels) ** 2)


@pytest.mark.parametrize("model", ["rayleigh_sd", "rayleigh_mean"])
def test_rayleigh_models_recover_sigma_within_their_standard_error(model):
    estimate = sigma_from_background_samples(RNG.rayleigh(7.0, 50_000), "test", model)
    assert abs(estimate.sigma - 7.0) < 4 * estimate.sigma_rel_se * 7.0
    assert 0.002 < estimate.sigma_rel_se < 0.006  # ≈ 0.5·√((κ−1)/n) or 0.52/√n for 50,000 samples
    assert estimate.reason == ""


def test_no_model_returns_the_raw_sd_which_is_0655_sigma_for_rayleigh_air():
    estimate = sigma_from_background_samples(RNG.rayleigh(7.0, 50_000), "test", "none")
    assert estimate.sigma == pytest.approx(RAYLEIGH_SD_FACTOR * 7.0, rel=0.02)


def test_sum_of_squares_model_is_exact_for_multichannel_air_where_rayleigh_is_biased():
    channels, sigma = 8, 5.0
    air = _chi_samples(sigma, channels, 60_000)
    sos = sigma_from_background_samples(air, "test", "sos", channels)
    assert abs(sos.sigma - sigma) < 4 * sos.sigma_rel_se * sigma
    # The single-channel assumption is biased by the chi/Rayleigh moment ratios: SD +7 %, mean ×3.1 for 8 channels.
    rayleigh = sigma_from_background_samples(air, "test", "rayleigh_sd")
    assert rayleigh.sigma == pytest.approx(sigma * _chi_sd(channels) / RAYLEIGH_SD_FACTOR, rel=0.02)
    from_mean = sigma_from_background_samples(air, "test", "rayleigh_mean")
    assert from_mean.sigma == pytest.approx(sigma * _chi_mean(channels) / math.sqrt(math.pi / 2), rel=0.02)
    assert from_mean.sigma > 3 * sigma
    assert "not pure single-channel Rayleigh" in rayleigh.reason


def test_channels_need_the_sum_of_squares_model():
    with pytest.raises(ValueError, match="sum-of-squares"):
        sigma_from_background_samples(RNG.rayleigh(1.0, 5000), "test", "rayleigh_sd", channels=4)


def test_sigma_confidence_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    covered = 0
    trials = 400
    for _ in range(trials):
        low, high = sigma_from_background_samples(rng.rayleigh(3.0, 2000), "test").ci95()
        covered += low <= 3.0 <= high
    assert 0.91 <= covered / trials <= 0.99


def _phantom(sigma: float, rng, shape=(64, 64, 64), channels: int = 1) -> tuple[sitk.Image, np.ndarray]:
    """A bright ball (500) holding two cubes (300 and 100) in air; magnitude noise; labels 1 and 2 on the cubes."""
    z, y, x = np.indices(shape)
    signal = np.where((x - 32) ** 2 + (y - 32) ** 2 + (z - 32) ** 2 < 20 ** 2, 500.0, 0.0)
    labels = np.zeros(shape, np.uint8)
    signal[22:30, 24:40, 24:40], labels[22:30, 24:40, 24:40] = 300.0, output_label("right", 1)
    signal[34:42, 24:40, 24:40], labels[34:42, 24:40, 24:40] = 100.0, output_label("right", 2)
    image = sitk.GetImageFromArray(magnitude_with_noise(signal, sigma, rng, channels).astype(np.float32))
    label_image = sitk.GetImageFromArray(labels)
    return image, label_image


def _row(rows, structure):
    return next(r for r in rows if r.structure == structure)


def test_background_snr_and_cnr_match_the_known_signal_and_sigma():
    image, labels = _phantom(10.0, np.random.default_rng(1))
    noise = estimate_noise_from_air(image)
    rows = structure_statistics(image, labels, ["right"], noise)
    lens, globe = _row(rows, "lens"), _row(rows, "globe")
    assert lens.snr == pytest.approx(30.0, rel=0.03) and lens.snr_ci_low < 30.0 < lens.snr_ci_high
    assert globe.snr == pytest.approx(10.0, rel=0.03)  # Rician mean at A/σ = 10 is A·(1 + 0.5 %)
    lens_globe = next(c for c in contrast_to_noise(rows, noise, [("lens", "globe")]) if c.eye == "right")
    assert lens_globe.cnr == pytest.approx(20.0, rel=0.03) and lens_globe.cnr_ci_low < 20.0 < lens_globe.cnr_ci_high
    # Homogeneous regions: ROI SDs are σ, so the pooled form is |Δ|/√(2σ²) = 20/√2.
    assert lens_globe.cnr_pooled == pytest.approx(20.0 / math.sqrt(2), rel=0.04)


def test_difference_method_uses_the_two_acquisitions_inside_each_roi():
    rng = np.random.default_rng(2)
    first, labels = _phantom(10.0, rng)
    second, _ = _phantom(10.0, rng)
    noise = DifferenceNoise(repeat=second)
    rows = structure_statistics(first, labels, ["right"], noise)
    lens = _row(rows, "lens")
    assert lens.noise_method == "difference" and lens.noise_voxels == lens.roi_voxels == 8 * 16 * 16
    assert lens.noise_sd == pytest.approx(10.0, rel=0.06)  # 2,048 differences: SE of σ ≈ 1.6 %
    assert lens.snr == pytest.approx(30.0, rel=0.06) and lens.snr_ci_low < 30.0 < lens.snr_ci_high
    cnr = contrast_to_noise(rows, noise, [("lens", "globe")])[0]
    assert cnr.cnr == pytest.approx(20.0, rel=0.06)


def test_repeat_on_another_grid_is_refused_naming_both_grids():
    image, labels = _phantom(10.0, np.random.default_rng(3), shape=(64, 64, 64))
    other = sitk.Image([64, 64, 63], sitk.sitkFloat32)
    with pytest.raises(GridMismatchError, match=r"repeat image must be on the image's voxel grid.*\(64, 64, 63\)"):
        structure_statistics(image, labels, ["right"], DifferenceNoise(repeat=other))


def test_erosion_is_a_ball_in_millimetres_per_axis():
    cube = np.zeros((20, 20, 20), bool)
    cube[5:15, 5:15, 5:15] = True
    assert erode_mask(cube, (1.0, 1.0, 1.0), 1.0).sum() == 8 ** 3
    assert erode_mask(cube, (1.0, 1.0, 3.0), 1.0).sum() == 8 * 8 * 10  # 3 mm slices: no erosion across slices
    assert erode_mask(cube, (1.0, 1.0, 1.0), 0.0).sum() == 10 ** 3


def test_erosion_removes_partial_volume_bias_at_a_dark_structure_next_to_bright_fat():
    """A dark ball (100) in bright surroundings (500), blurred like a PSF: its full-label mean is pulled up."""
    shape = (60, 60, 60)
    z, y, x = np.indices(shape)
    ball = (x - 30) ** 2 + (y - 30) ** 2 + (z - 30) ** 2 < 10 ** 2
    contrast = sitk.GetImageFromArray(np.where(ball, 100.0, 500.0).astype(np.float32))
    signal = sitk.SmoothingRecursiveGaussian(contrast, 1.0)
    labels = sitk.GetImageFromArray(np.where(ball, output_label("right", 2), 0).astype(np.uint8))
    known = NoiseEstimate("known", 10.0, 10_000, sigma_rel_se=0.01)
    whole = _row(structure_statistics(signal, labels, ["right"], known), "globe")
    eroded = _row(structure_statistics(signal, labels, ["right"], known, RoiOptions(erosion_mm=2.0)), "globe")
    assert whole.snr > 10.5 * 1.05  # > 5 % above the tissue's SNR of 10
    assert eroded.snr == pytest.approx(10.0, rel=0.01)
    assert eroded.roi_voxels < whole.roi_voxels == whole.voxels


def test_small_rois_are_flagged_not_hidden():
    image, labels = _phantom(10.0, np.random.default_rng(4))
    rows = structure_statistics(image, labels, ["right"], estimate_noise_from_air(image), RoiOptions(min_voxels=5000))
    lens = _row(rows, "lens")
    assert lens.snr is not None and lens.snr_note.startswith("LOW VOXEL COUNT: ROI has 2048 voxels (< 5000)")


def test_ghost_bands_through_the_eyes_are_kept_out_of_the_air():
    rng = np.random.default_rng(5)
    image, _ = _phantom(5.0, rng, shape=(80, 80, 80))
    array = sitk.GetArrayFromImage(image)
    array[28:36, 28:36, :] += 150.0 * (rng.random((8, 8, 80)) + 0.5)  # a ghost line along i through (k, j) = (32, 32)
    ghosted = sitk.GetImageFromArray(array)
    eye_lps = ghosted.TransformIndexToPhysicalPoint((60, 32, 32))
    band = ghost_band_mask(ghosted, [eye_lps], half_width_mm=10.0)
    assert band[32, 32, :].all() and band[32, :, 60].all() and not band[0, 0, 0]
    unaware = estimate_noise_from_air(ghosted)
    aware = estimate_noise_from_air(ghosted, eye_centres_lps_mm=[eye_lps])
    assert not unaware.defined and "not pure single-channel Rayleigh" in unaware.reason  # refused, not reported
    assert unaware.details["background_sd"] / RAYLEIGH_SD_FACTOR > 1.5 * 5.0  # what it would have reported
    assert aware.sigma == pytest.approx(5.0, rel=0.04) and aware.details["ghost_band_excluded"] > 0


def test_partly_zero_filled_air_is_excluded_with_a_note_and_fully_zero_filled_air_refused():
    image, _ = _phantom(8.0, np.random.default_rng(6), shape=(80, 80, 80))
    array = sitk.GetArrayFromImage(image)
    array[:, :, :12] = 0.0  # e.g. zero padding of a few columns
    partly = estimate_noise_from_air(sitk.GetImageFromArray(array))
    assert partly.sigma == pytest.approx(8.0, rel=0.04) and "zero-valued air voxels" in partly.reason
    roi = np.zeros(array.shape, np.uint8)
    roi[:, :, :10] = 1
    refused = estimate_noise_from_roi(sitk.GetImageFromArray(array), sitk.GetImageFromArray(roi))
    assert not refused.defined and "zero-filled" in refused.reason


def test_noise_scan_gives_sigma_under_the_chosen_model():
    scan = sitk.GetImageFromArray(_chi_samples(4.0, 4, 40 ** 3).reshape(40, 40, 40).astype(np.float32))
    assert estimate_noise_from_noise_scan(scan, "sos", 4).sigma == pytest.approx(4.0, rel=0.02)
    rayleigh_scan = sitk.GetImageFromArray(RNG.rayleigh(4.0, (40, 40, 40)).astype(np.float32))
    assert estimate_noise_from_noise_scan(rayleigh_scan).method == "noise_scan"
    assert estimate_noise_from_noise_scan(rayleigh_scan).sigma == pytest.approx(4.0, rel=0.02)


def test_naive_recipe_is_the_sd_outside_the_structures_and_its_cnr_rows_are_marked():
    image, labels = _phantom(10.0, np.random.default_rng(8))
    naive = naive_outside_mask_noise(image, labels)
    outside = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(labels) == 0]
    assert naive.sigma == pytest.approx(float(np.std(outside, ddof=1)))
    assert naive.sigma > 10 * 10.0  # the head's own signal counts as "noise": SNR is underestimated > 10×
    rows = structure_statistics(image, labels, ["right"], naive)
    seed = [c for c in contrast_to_noise(rows, naive) if c.structure_b == OUTSIDE_MASK]
    assert {c.structure_a for c in seed} >= {"lens", "globe"} and all("naive" in c.note for c in seed)
    lens = next(c for c in seed if c.structure_a == "lens")
    assert lens.cnr == pytest.approx((_row(rows, "lens").roi_mean - float(outside.mean())) / naive.sigma)


def test_cnr_pairs_default_and_user_given():
    assert ("lens", "globe") in DEFAULT_CNR_PAIRS and len(DEFAULT_CNR_PAIRS) == 11
    assert parse_pairs(["lens:optic_nerve"]) == [("lens", "optic_nerve")]
    for bad in ("lens", "lens:lens", "lens:cornea"):
        with pytest.raises(ValueError, match="CNR pair"):
            parse_pairs([bad])


def test_noise_method_auto_and_explicit_choices():
    assert resolve_noise_method(PipelineOptions()) == "air"
    assert resolve_noise_method(PipelineOptions(noise_roi=sitk.Image([8, 8, 8], sitk.sitkUInt8))) == "roi"
    assert resolve_noise_method(PipelineOptions(repeat=sitk.Image([8, 8, 8], sitk.sitkFloat32),
                                                noise_roi=sitk.Image([8, 8, 8], sitk.sitkUInt8))) == "difference"
    assert resolve_noise_method(PipelineOptions(noise_method="naive")) == "naive"
    with pytest.raises(EyeAtlasError, match=r"needs a second identical acquisition.*--repeat IMAGE2"):
        resolve_noise_method(PipelineOptions(noise_method="difference"))


def test_power_signal_correction_removes_the_noise_floor_of_a_dark_noisy_structure():
    """At A/σ = 2 the Rician mean is 2.27σ (+14 %); √(mean(M²) − 2σ²) recovers A."""
    rng = np.random.default_rng(9)
    shape = (40, 40, 40)
    signal = np.full(shape, 20.0)
    labels = sitk.GetImageFromArray(np.full(shape, output_label("right", 2), np.uint8))
    image = sitk.GetImageFromArray(magnitude_with_noise(signal, 10.0, rng).astype(np.float32))
    known = NoiseEstimate("known", 10.0, 10_000, sigma_rel_se=0.0)
    plain = _row(structure_statistics(image, labels, ["right"], known), "globe")
    corrected = _row(structure_statistics(image, labels, ["right"], known, RoiOptions(signal_correction="power")),
                     "globe")
    rician_mean = 10.0 * math.sqrt(math.pi / 2) * _laguerre_half(-(2.0 ** 2) / 2)
    assert plain.snr == pytest.approx(rician_mean / 10.0, rel=0.01)
    assert corrected.snr == pytest.approx(2.0, rel=0.02) and corrected.signal_correction == "power"


def _laguerre_half(x: float) -> float:
    """L_{1/2}(x) = e^{x/2}[(1−x) I0(−x/2) − x I1(−x/2)] (Rician mean = σ√(π/2)·L_{1/2}(−A²/2σ²))."""
    from numpy import i0

    def i1(z: float) -> float:  # modified Bessel I1 by its series
        return sum((z / 2) ** (2 * k + 1) / (math.factorial(k) * math.factorial(k + 1)) for k in range(30))

    return math.exp(x / 2) * ((1 - x) * float(i0(-x / 2)) - x * i1(-x / 2))


def test_power_correction_in_the_difference_method_uses_the_power_of_each_acquisition():
    rng = np.random.default_rng(10)
    shape = (40, 40, 40)
    signal = np.full(shape, 20.0)
    labels = sitk.GetImageFromArray(np.full(shape, output_label("right", 2), np.uint8))
    first, second = (sitk.GetImageFromArray(magnitude_with_noise(signal, 10.0, rng).astype(np.float32))
                     for _ in range(2))
    rows = structure_statistics(first, labels, ["right"], DifferenceNoise(repeat=second),
                                RoiOptions(signal_correction="power"))
    globe = _row(rows, "globe")
    # At A/σ = 2 magnitude noise is not Gaussian: SD(M1 − M2)/√2 estimates the Rician SD √(A² + 2σ² − E[M]²)
    # (0.92σ here), not σ; the power-corrected signal is then √(A² + 2σ² − 2·Var(M)), 4 % above A.
    rician_mean = 10.0 * math.sqrt(math.pi / 2) * _laguerre_half(-(2.0 ** 2) / 2)
    rician_var = 20.0 ** 2 + 2 * 10.0 ** 2 - rician_mean ** 2
    assert globe.noise_sd == pytest.approx(math.sqrt(rician_var), rel=0.03)
    assert globe.snr_signal == pytest.approx(math.sqrt(20.0 ** 2 + 2 * 10.0 ** 2 - 2 * rician_var), rel=0.03)
