"""Accuracy of the eye biometry on eyes of known geometry: tables of errors per measure and grid.

1. Analytic eyes (``synthetic/analytic_eye.py``): each trial draws both eyes (sizes within the adult range, axis
   turned up to 15°, nerve and recti sizes).
2. The project's realistic synthetic eye (``synthetic/eye_model.py``: sclera with corneal bulge, lids, S-shaped
   nerve, tapered recti from the apex), in T1 and T2, both eyes turned up to 15°.

Each is sampled on each grid: 1 mm axis-aligned, 1 mm rotated, 0.8 × 1.0 × 1.5 mm rotated, and the orbit protocol
0.5 × 0.5 × 3 mm rotated, with a PSF and noise. The labels are the true shapes at the voxel centres (no
registration), so the error is that of the measures on binary labels. Lengths in mm, areas in % of the true area.

    .venv/bin/python benchmarks/bench_biometry.py [--trials N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from EyeAtlasSegmentLib.biometry import MEASURES, measure_biometry
from EyeAtlasSegmentLib.synthetic import eye_model
from EyeAtlasSegmentLib.synthetic.analytic_eye import AnalyticEye, Muscle, analytic_eyes_image, eyes_on_grid
from EyeAtlasSegmentLib.synthetic.tissues import intensity_lut

GRIDS = {"1 mm, axis-aligned": ((1.0, 1.0, 1.0), False), "1 mm, rotated": ((1.0, 1.0, 1.0), True),
         "0.8 × 1.0 × 1.5 mm, rotated": ((0.8, 1.0, 1.5), True), "0.5 × 0.5 × 3 mm, rotated": ((0.5, 0.5, 3.0), True)}


def random_eye(rng: np.random.Generator) -> AnalyticEye:
    """An eye within the adult range (chamber 20-23.5 mm, lens 3.4-4.6 mm thick and 8-9.6 mm wide)."""
    default = AnalyticEye()
    muscles = tuple(Muscle(m.label, m.centre_mm, m.direction, m.half_length_mm * rng.uniform(0.9, 1.1),
                           m.half_width_mm * rng.uniform(0.8, 1.2), m.half_thickness_mm * rng.uniform(0.8, 1.3))
                    for m in default.muscles)
    return AnalyticEye(yaw_deg=rng.uniform(-15, 15), pitch_deg=rng.uniform(-15, 15),
                       globe_semi_mm=tuple(rng.uniform(10.0, 11.75, 3)), lens_centre_t_mm=rng.uniform(6.2, 7.0),
                       lens_semi_mm=(*rng.uniform(4.0, 4.8, 2), rng.uniform(1.7, 2.3)),
                       cornea_apex_t_mm=rng.uniform(11.0, 12.2), nerve_radius_mm=rng.uniform(1.6, 2.4),
                       muscles=muscles)


def model_eye_truth() -> dict[str, float]:
    """The realistic eye's measures, from its constants (globe label = inside the sclera, behind the lens equator)."""
    m = eye_model
    lens_front = m.LENS_CENTRE_EYE_MM[1] + m.LENS_SEMI_AXES_MM[1]
    inner = m.GLOBE_SEMI_AXES_MM - m.SCLERA_THICKNESS_MM
    truth = {"axial_length": lens_front + inner[1],
             "anterior_offset": m.CORNEA_CENTRE_Y_MM + m.CORNEA_RADIUS_MM - lens_front,
             "lens_thickness": 2 * m.LENS_SEMI_AXES_MM[1],
             "lens_diameter": 2 * float(np.sqrt(m.LENS_SEMI_AXES_MM[0] * m.LENS_SEMI_AXES_MM[2])),
             "globe_horizontal_diameter": 2 * inner[0], "globe_vertical_diameter": 2 * inner[2],
             "optic_nerve_mean_diameter": 2 * m.OPTIC_NERVE_RADIUS_MM}
    truth["axial_length_with_cornea"] = truth["axial_length"] + truth["anterior_offset"]
    # No recti: the model's band has its thickness along a fixed direction, not perpendicular to its centreline, so
    # its true cross-section is not the ellipse of its half-thickness and half-width (the analytic eyes' recti are).
    return truth


def model_eyes_image(rng: np.random.Generator, contrast: str, spacing, rotation, seed: int):
    """Both realistic eyes (the left mirrored), turned up to 15°, on a grid; labels, image."""
    lut = intensity_lut(contrast) * 1000.0

    def draw(points_abt: np.ndarray, lateral_sign: float) -> tuple[np.ndarray, np.ndarray]:
        model = np.column_stack([lateral_sign * points_abt[:, 0], points_abt[:, 2], points_abt[:, 1]])
        labels, tissue = eye_model.right_eye_labels_and_tissues(model)
        return labels, lut[tissue]

    eyes = {}
    for eye, sign in (("right", 1.0), ("left", -1.0)):
        pose = AnalyticEye(yaw_deg=rng.uniform(-15, 15), pitch_deg=rng.uniform(-15, 15))
        eyes[eye] = ((32.0 * sign, 58.0, 0.0), pose.frame_ras(mirror=eye == "left"), draw)
    return eyes_on_grid(eyes, spacing, rotation, noise_sigma=20.0, seed=seed,
                        box_ras_mm=((-64.0, -2.0, -32.0), (64.0, 76.0, 32.0)), background=lut[eye_model.NONE])


def print_table(title: str, errors, fallbacks, seconds, n_eyes: int) -> None:
    print(f"{title}\n")
    print("| measure | " + " | ".join(GRIDS) + " |")
    print("|---|" + "---|" * len(GRIDS))
    for measure in MEASURES:
        cells = []
        for grid in GRIDS:
            e = np.array(errors[grid][measure])
            unit = " %" if measure.endswith("_area") else ""
            cells.append(f"{e.mean():+.2f} ± {e.std():.2f} ({np.abs(e).max():.2f}){unit}" if e.size else "n/a")
        print(f"| {measure.replace('_', ' ')} | " + " | ".join(cells) + " |")
    print("| cornea found (of eyes) | " + " | ".join(f"{n_eyes - fallbacks[g]}/{n_eyes}" for g in GRIDS) + " |")
    print("| seconds per image (both eyes) | " + " | ".join(f"{np.mean(seconds[g]):.1f}" for g in GRIDS) + " |\n")


def run(trials: int, rng: np.random.Generator, draw_trial) -> tuple[dict, dict, dict]:
    """Errors per grid and measure, cornea fallbacks and timings over ``trials`` drawn by ``draw_trial``."""
    errors = {grid: {m: [] for m in MEASURES} for grid in GRIDS}
    fallbacks = dict.fromkeys(GRIDS, 0)
    seconds = {grid: [] for grid in GRIDS}
    for trial in range(trials):
        draw_grid = draw_trial(trial)
        for grid, (spacing, rotated) in GRIDS.items():
            rotation = tuple(rng.uniform(-30, 30, 3)) if rotated else (0.0, 0.0, 0.0)
            labels, image, truth = draw_grid(spacing, rotation)
            start = time.perf_counter()
            biometry = measure_biometry(image, labels, ("right", "left"))
            seconds[grid].append(time.perf_counter() - start)
            for eye in ("right", "left"):
                values = biometry[eye].values
                fallbacks[grid] += biometry[eye].anterior_offset_source == "fallback"
                for measure in MEASURES:
                    if values[measure] is None or measure not in truth[eye]:
                        continue
                    error = values[measure] - truth[eye][measure]
                    errors[grid][measure].append(
                        100 * error / truth[eye][measure] if measure.endswith("_area") else error)
        print(f"trial {trial + 1}/{trials} done", file=sys.stderr, flush=True)
    return errors, fallbacks, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    def analytic_trial(trial: int):
        right, left = random_eye(rng), random_eye(rng)

        def on_grid(spacing, rotation):
            phantom = analytic_eyes_image(right, left, spacing, rotation, noise_sigma=15.0, seed=trial)
            return phantom.labels, phantom.image, phantom.truth
        return on_grid

    def model_trial(trial: int):
        contrast = ("T1", "T2")[trial % 2]
        truth = {"right": model_eye_truth(), "left": model_eye_truth()}
        return lambda spacing, rotation: (*model_eyes_image(rng, contrast, spacing, rotation, trial), truth)

    n_eyes = 2 * args.trials
    print_table(f"Analytic eyes: error mean ± SD (max |error|) over {args.trials} trials × 2 eyes (seed {args.seed}); "
                f"lengths in mm, areas in %", *run(args.trials, rng, analytic_trial), n_eyes)
    print_table(f"Realistic synthetic eye (eye_model), T1 and T2 alternately: error mean ± SD (max |error|) over "
                f"{args.trials} trials × 2 eyes (seed {args.seed})", *run(args.trials, rng, model_trial), n_eyes)


if __name__ == "__main__":
    main()
