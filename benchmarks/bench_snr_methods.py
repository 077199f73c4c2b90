"""Benchmark: accuracy of every SNR/CNR method on synthetic eyes with known signal and σ, and what they give on
the real heads.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/bench_snr_methods.py [--real-heads ../shared/data]

Synthetic part: one SYNTHETIC head (T1, 1.5 mm) with its true labels, so segmentation error is left out. The true
SNR of a measured region is the mean of the noise-free image over that region divided by the local σ (the mean of
the σ map over it). Noise conditions: single-channel Rician; 8-channel sum of squares; single channel with a
parallel-imaging-like g-factor map (σ up to 1.6× in the middle of the head). The globe's true SNR is set to 3, 5,
10, 20 and 50. The tables print the mean relative error of SNR (both eyes) and of the lens–globe CNR, and
separately the partial-volume bias of the region: its noise-free mean against the structure's tissue intensity
before the PSF blur (what erosion is for).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.cnr import contrast_to_noise
from EyeAtlasSegmentLib.noise import (
    DifferenceNoise,
    air_region,
    naive_outside_mask_noise,
    sigma_from_background_samples,
)
from EyeAtlasSegmentLib.statistics import RoiOptions, erode_mask, structure_statistics
from EyeAtlasSegmentLib.structures import EYES, STRUCTURES, output_label
from EyeAtlasSegmentLib.synthetic.noise_simulation import g_factor_map, noisy_image_like
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

SNR_LEVELS = (3, 5, 10, 20, 50)
CONDITIONS = {"Rician, 1 channel": (1, False), "sum of squares, 8 channels": (8, False),
              "Rician + g-factor map": (1, True)}
#: method label → (noise source, model, signal correction)
METHODS = {
    "air, rayleigh_sd": ("air", "rayleigh_sd", "none"),
    "air, rayleigh_sd, power-corrected signal": ("air", "rayleigh_sd", "power"),
    "air, rayleigh_mean": ("air", "rayleigh_mean", "none"),
    "air, sos (n known), power-corrected signal": ("air", "sos", "power"),
    "air, none (raw SD)": ("air", "none", "none"),
    "difference": ("difference", "none", "none"),
    "difference, power-corrected signal": ("difference", "none", "power"),
    "naive (SD outside mask)": ("naive", "none", "none"),
}
EROSIONS_MM = (0.0, 1.5)
STRUCTURES_SHOWN = ("lens", "optic_nerve", "globe")


def _tissue_means(subject) -> dict:
    """Noise-free tissue intensity (before the PSF) per (eye, structure key), over the true label."""
    tissue = sitk.GetArrayViewFromImage(subject.tissue_signal)
    labels = sitk.GetArrayViewFromImage(subject.truth_labels)
    return {(eye, s.key): float(tissue[labels == output_label(eye, s.label)].mean())
            for eye in EYES for s in STRUCTURES}


def _region_truth(subject, sigma_map, erosion_mm: float) -> dict:
    """(noise-free mean, mean σ factor) over each structure's measured region (the eroded true label)."""
    noiseless = sitk.GetArrayViewFromImage(subject.noiseless)
    labels = sitk.GetArrayViewFromImage(subject.truth_labels)
    truth = {}
    for eye in EYES:
        for s in STRUCTURES:
            region = erode_mask(labels == output_label(eye, s.label), subject.noiseless.GetSpacing(), erosion_mm)
            if region.sum() >= 2:
                g = float(sigma_map[region].mean()) if sigma_map is not None else 1.0
                truth[(eye, s.key)] = (float(noiseless[region].mean()), g)
    return truth


def _rows(method: str, image, repeat, labels, air_values, channels, erosion_mm):
    source, model, correction = METHODS[method]
    roi = RoiOptions(erosion_mm=erosion_mm, signal_correction=correction)
    if source == "difference":
        noise = DifferenceNoise(repeat=repeat)
        return structure_statistics(image, labels, EYES, noise, roi), noise
    if source == "naive":
        noise = naive_outside_mask_noise(image, labels)
    else:
        noise = sigma_from_background_samples(air_values, "air_background", model, channels if model == "sos" else 1)
    return structure_statistics(image, labels, EYES, noise, roi), noise


def _mean_error(values: list) -> float:
    return float(np.mean(values)) if values else np.nan


def synthetic_tables(seed: int, repeats: int) -> str:
    subject = make_subject(SubjectSpec(seed=seed, spacing_mm=(1.5, 1.5, 1.5), bias_amplitude=0.0))
    rng = np.random.default_rng(seed)
    labels = subject.truth_labels
    tissue = _tissue_means(subject)
    lines = ["\n**Partial-volume bias of the measured region** (noise-free region mean vs tissue intensity before "
             "the PSF, true labels, 1.5 mm voxels)\n",
             "| erosion | " + " | ".join(k.replace("_", " ") for k in STRUCTURES_SHOWN) + " |", "|---|---|---|---|"]
    for erosion in EROSIONS_MM:
        truth = _region_truth(subject, None, erosion)
        cells = [_percent(_mean_error([truth[(e, k)][0] / tissue[(e, k)] - 1 for e in EYES if (e, k) in truth]))
                 for k in STRUCTURES_SHOWN]
        lines.append(f"| {erosion:g} mm | " + " | ".join(cells) + " |")
    for condition, (channels, varying) in CONDITIONS.items():
        sigma_map = g_factor_map(subject.noiseless) if varying else None
        truths = {erosion: _region_truth(subject, sigma_map, erosion) for erosion in EROSIONS_MM}
        globe_signal = np.mean([truths[0.0][(eye, "globe")][0] / truths[0.0][(eye, "globe")][1] for eye in EYES])
        errors = {(m, e): {} for m in METHODS for e in EROSIONS_MM}
        for level, _ in [(level, r) for level in SNR_LEVELS for r in range(repeats)]:
            sigma = globe_signal / level
            image = noisy_image_like(subject.noiseless, sigma, rng, channels, sigma_map)
            repeat = noisy_image_like(subject.noiseless, sigma, rng, channels, sigma_map)
            air_mask, _ = air_region(image, [_lps(p) for p in subject.globe_centres_ras_mm.values()])
            air_values = sitk.GetArrayViewFromImage(image)[air_mask]
            for method in METHODS:
                for erosion in EROSIONS_MM:
                    truth = truths[erosion]
                    rows, noise = _rows(method, image, repeat, labels, air_values, channels, erosion)
                    by_key = {(r.eye, r.structure): r for r in rows}
                    cell = errors[(method, erosion)]
                    for key in STRUCTURES_SHOWN:
                        cell.setdefault((key, level), []).extend([
                            by_key[(e, key)].snr / (truth[(e, key)][0] / (sigma * truth[(e, key)][1])) - 1
                            for e in EYES if by_key[(e, key)].snr is not None and (e, key) in truth])
                    cell.setdefault(("cnr", level), [])
                    for c in contrast_to_noise(rows, noise, [("lens", "globe")]):
                        if c.cnr is None or (c.eye, "lens") not in truth:
                            continue
                        (lens, g_lens), (globe, g_globe) = truth[(c.eye, "lens")], truth[(c.eye, "globe")]
                        true_cnr = abs(lens - globe) / (sigma * 0.5 * (g_lens + g_globe))
                        cell[("cnr", level)].append(c.cnr / true_cnr - 1)
        lines += [f"\n**{condition}**: mean relative error of SNR (both eyes) against the true SNR of the measured "
                  f"region, {repeats} noise draws × 2 eyes; globe at true SNR {', '.join(map(str, SNR_LEVELS))}; "
                  f"lens, optic nerve and lens–globe "
                  f"CNR at globe SNR 10\n",
                  "| method | erosion | " + " | ".join(f"globe @{level}" for level in SNR_LEVELS) +
                  " | lens @10 | optic nerve @10 | CNR lens–globe @10 |",
                  "|---|---|" + "---|" * (len(SNR_LEVELS) + 3)]
        for (method, erosion), cell in errors.items():
            cells = [cell[("globe", level)] for level in SNR_LEVELS] + [cell[("lens", 10)], cell[("optic_nerve", 10)],
                                                                          cell[("cnr", 10)]]
            lines.append(f"| {method} | {erosion:g} mm | " + " | ".join(_percent(_mean_error(v)) for v in cells) + " |")
    return "\n".join(lines)


def _lps(point_ras):
    return (-point_ras[0], -point_ras[1], point_ras[2])


def _percent(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{100 * value:+.1f} %"


def real_head_table(shared: Path) -> str:
    from EyeAtlasSegmentLib.noise import estimate_noise_from_air
    from EyeAtlasSegmentLib.pipeline import PipelineOptions, run_pipeline
    from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas

    atlas = make_synthetic_atlas(Path(tempfile.mkdtemp()), sexes=("combined",))
    lines = ["\n**Real heads** (labels from the synthetic atlas; no repeat or noise scan exists for these files, so "
             "the difference and noise-scan methods cannot be run)\n",
             "| file | air, rayleigh_sd: σ (voxels) | right globe SNR [95 % CI] | air, rayleigh_mean: σ | "
             "naive: σ, right globe SNR |", "|---|---|---|---|---|"]
    for name in ("chris_t1.nii.gz", "seg3D_MR.nii.gz", "niivue_register_T2w.nii.gz", "MNI152_T1_2mm.nii.gz",
                 "vsseg001_t1c_defaced.nii.gz"):
        result = run_pipeline(shared / name, atlas, PipelineOptions())
        image, labels = result.image.image, result.labels
        centres = [_lps(e.centre_ras_mm) for e in result.eyes.values()]
        air = estimate_noise_from_air(image, "rayleigh_sd", 1, centres)
        mean_model = estimate_noise_from_air(image, "rayleigh_mean", 1, centres)
        naive = naive_outside_mask_noise(image, labels)
        globe = next((r for r in result.stats if r.eye == "right" and r.structure == "globe"), None)
        naive_globe = globe.roi_mean / naive.sigma if globe and globe.roi_mean else None
        air_cell = f"{air.sigma:.3g} ({air.voxels})" if air.defined else f"refused: {air.reason.split(':')[0]}"
        snr_cell = (f"{globe.snr:.1f} [{globe.snr_ci_low:.1f}–{globe.snr_ci_high:.1f}]" if globe and globe.snr
                    else "refused")
        mean_cell = f"{mean_model.sigma:.3g}" if mean_model.defined else "refused"
        naive_cell = f"{naive.sigma:.3g}, {naive_globe:.2f}" if naive_globe else "n/a"
        lines.append(f"| {name} | {air_cell} | {snr_cell} | {mean_cell} | {naive_cell} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="noise draws per SNR level")
    parser.add_argument("--real-heads", type=Path, help="folder with the real head MRIs (../shared/data)")
    args = parser.parse_args()
    print(synthetic_tables(args.seed, args.repeats))
    if args.real_heads:
        print(real_head_table(args.real_heads))


if __name__ == "__main__":
    main()
