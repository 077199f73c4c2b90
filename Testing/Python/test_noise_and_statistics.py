"""Noise σ from air (Rayleigh-corrected), refusal paths, and per-structure statistics against known values."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from EyeAtlasSegmentLib.noise import estimate_noise_from_air, estimate_noise_from_roi, sigma_from_background_samples
from EyeAtlasSegmentLib.statistics import structure_statistics
from EyeAtlasSegmentLib.structures import output_label


def _head_phantom(sigma: float, seed: int = 0, shape=(96, 96, 96)) -> tuple[sitk.Image, np.ndarray]:
    """A bright ball (signal 500) in air, magnitude (Rician) noise of Gaussian σ per channel."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    signal = np.where((x - 48) ** 2 + (y - 48) ** 2 + (z - 48) ** 2 < 30 ** 2, 500.0, 0.0)
    magnitude = np.hypot(signal + rng.normal(0, sigma, shape), rng.normal(0, sigma, shape))
    return sitk.GetImageFromArray(magnitude.astype(np.float32)), signal


@pytest.mark.parametrize("sigma", [5.0, 20.0])
def test_air_background_sigma_matches_truth(sigma):
    image, _ = _head_phantom(sigma)
    estimate = estimate_noise_from_air(image)
    assert (estimate.method, estimate.model) == ("air_background", "rayleigh_sd")
    assert estimate.sigma == pytest.approx(sigma, rel=0.03)
    assert estimate.reason == ""  # pure Rayleigh: mean and SD agree


def test_zero_filled_background_refuses_snr():
    image, signal = _head_phantom(10.0)
    array = sitk.GetArrayFromImage(image)
    array[signal == 0] = 0.0
    zeroed = sitk.GetImageFromArray(array)
    estimate = estimate_noise_from_air(zeroed)
    assert not estimate.defined and estimate.sigma is None
    assert "zero-filled" in estimate.reason


def test_quantised_background_refuses_snr():
    values = np.random.default_rng(1).integers(1, 4, size=50_000).astype(float)
    estimate = sigma_from_background_samples(values, "test")
    assert not estimate.defined and "distinct values" in estimate.reason


def test_too_few_background_voxels_refuses_snr():
    estimate = sigma_from_background_samples(np.random.default_rng(2).rayleigh(5.0, 500), "test")
    assert not estimate.defined and "only 500" in estimate.reason


def test_noise_roi_uses_only_the_roi():
    image, signal = _head_phantom(8.0)
    roi = np.zeros(signal.shape, dtype=np.uint8)
    roi[:10, :10, :] = 1  # a corner of air
    roi_image = sitk.GetImageFromArray(roi)
    estimate = estimate_noise_from_roi(image, roi_image)
    assert estimate.method == "roi" and estimate.voxels == roi.sum()
    assert estimate.sigma == pytest.approx(8.0, rel=0.05)
    with pytest.raises(ValueError, match="grid"):
        estimate_noise_from_roi(image, sitk.GetImageFromArray(roi[:-1]))


def test_structure_statistics_are_exact_on_known_values():
    values = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.5, 1.0, 2.0))
    labels = np.zeros(values.shape, dtype=np.uint8)
    labels[1, 2, :] = output_label("left", 2)  # left globe: 6 voxels
    label_image = sitk.GetImageFromArray(labels)
    label_image.CopyInformation(image)
    noise = sigma_from_background_samples(np.random.default_rng(3).rayleigh(4.0, 200_000), "test")
    rows = structure_statistics(image, label_image, ["left"], noise)
    globe = next(r for r in rows if r.structure == "globe")
    inside = values[1, 2, :]
    assert (globe.label, globe.atlas_label, globe.voxels) == (12, 2, 6)
    assert globe.volume_mm3 == pytest.approx(6 * 0.5 * 1.0 * 2.0)
    assert globe.mean == pytest.approx(inside.mean())
    assert globe.sd == pytest.approx(inside.std(ddof=1))
    assert globe.median == pytest.approx(np.median(inside))
    assert globe.snr == pytest.approx(inside.mean() / noise.sigma)
    assert noise.sigma == pytest.approx(4.0, rel=0.01)
    lens = next(r for r in rows if r.structure == "lens")
    assert lens.voxels == 0 and lens.snr is None and "no voxels" in lens.snr_note
    assert len(rows) == 9
