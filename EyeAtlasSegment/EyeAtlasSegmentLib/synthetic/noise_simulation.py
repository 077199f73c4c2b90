"""Magnitude MR noise on a noiseless image: single-channel Rician, n-channel sum of squares, spatially varying σ.

σ is the Gaussian noise SD of each quadrature channel of each coil (the σ of SNR = signal / σ). With n channels of
uniform sensitivity, each channel carries signal / √n, so the sum-of-squares magnitude has signal ≈ A and noise
SD ≈ σ in tissue, while air follows a central chi distribution with 2n degrees of freedom.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def magnitude_with_noise(noiseless: np.ndarray, sigma: float | np.ndarray, rng: np.random.Generator,
                         channels: int = 1) -> np.ndarray:
    """Noisy magnitude: sqrt(Σ_c (A/√n + σ z_re)² + (σ z_im)²) over ``channels`` coils (Rician for one coil)."""
    if channels < 1:
        raise ValueError("channels must be ≥ 1")
    noiseless = np.asarray(noiseless, dtype=np.float64)
    power = np.zeros_like(noiseless)
    per_channel = noiseless / np.sqrt(channels)
    for _ in range(channels):
        real = per_channel + rng.normal(0.0, 1.0, noiseless.shape) * sigma
        imag = rng.normal(0.0, 1.0, noiseless.shape) * sigma
        power += real ** 2 + imag ** 2
    return np.sqrt(power)


def g_factor_map(image: sitk.Image, peak: float = 1.6) -> np.ndarray:
    """A smooth parallel-imaging-like noise amplification map (k, j, i): 1 at the field-of-view edges, ``peak`` at
    its centre (g-factors are highest in the middle of the object)."""
    size = np.asarray(image.GetSize()[::-1], dtype=float)
    axes = [np.linspace(-1.0, 1.0, int(n)) for n in size]
    k, j, i = np.meshgrid(*axes, indexing="ij")
    return 1.0 + (peak - 1.0) * np.exp(-(i ** 2 + j ** 2 + k ** 2) / 0.5)


def noisy_image_like(noiseless: sitk.Image, sigma: float, rng: np.random.Generator, channels: int = 1,
                     sigma_map: np.ndarray | None = None) -> sitk.Image:
    """``magnitude_with_noise`` of a SimpleITK image (σ × ``sigma_map`` when given), same grid."""
    local_sigma = sigma if sigma_map is None else sigma * sigma_map
    array = magnitude_with_noise(sitk.GetArrayViewFromImage(noiseless), local_sigma, rng, channels)
    out = sitk.GetImageFromArray(array.astype(np.float32))
    out.CopyInformation(noiseless)
    return out
