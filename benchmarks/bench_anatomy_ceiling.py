"""Benchmark: how far the synthetic atlas's anatomy is from the evaluation family's, before any image is involved.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/bench_anatomy_ceiling.py [--syn N]

Two ceilings for the evaluation-family Dice that a registration of the SYNTHETIC atlas can reach:

1. **Similarity ceiling** (analytic, a few seconds). The atlas label map is compared with the evaluation family's
   analytic right orbit sampled at the atlas's own voxel centres, with the two globes' centroids aligned, no rotation
   (both models are drawn in the same eye frame: +x lateral, +y anterior, +z superior), and the atlas scaled by the
   factor that maximises the mean Dice. It is what a perfect similarity transform reaches.
2. **Label-to-label SyN ceiling** (``--syn N``, needs antspyx, about 40 s per case). The atlas labels are registered
   onto the truth labels of the first N evaluation cases (right eye) with ANTs SyN on pseudo-intensities (one
   value per label), so no image contrast, noise or field of view is involved. It is what a dense deformable
   registration with perfect image information reaches.

Prints the command, then a Markdown table of Dice per structure.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from EyeAtlasSegmentLib.atlas import load_atlas
from EyeAtlasSegmentLib.geometry import LPS_TO_RAS, voxel_centres_lps
from EyeAtlasSegmentLib.registration import label_centroid_lps
from EyeAtlasSegmentLib.structures import STRUCTURES
from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas
from EyeAtlasSegmentLib.synthetic.evaluation.orbit_anatomy import right_orbit_labels_and_tissues
from EyeAtlasSegmentLib.synthetic.evaluation_family import EVALUATION_CASES, make_evaluation_subject
from EyeAtlasSegmentLib.synthetic.scoring import dice_per_structure

SCALES = np.round(np.arange(0.80, 1.0001, 0.02), 2)
#: Distinct pseudo-intensities for labels 0-9 (label-to-label registration).
PSEUDO_INTENSITY = np.array([0, 200, 120, 60, 90, 160, 30, 40, 50, 70], dtype=np.float32)
CROP_HALF_WIDTH_MM = 40.0


def dice(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Dice of each of the nine structures (right-eye labels) between two label arrays of the same shape."""
    as_image = [sitk.GetImageFromArray(np.asarray(x).reshape(1, -1)) for x in (a, b)]  # any shape, as one row
    return dice_per_structure(*as_image, "right")


def _eye_centre_mm(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return points[np.isin(labels, (1, 2))].mean(axis=0)


def similarity_ceiling(atlas_dir: Path) -> tuple[float, dict[str, float]]:
    """(best scale, Dice per structure) of the atlas against the evaluation orbit, globes aligned, no rotation."""
    atlas = load_atlas(atlas_dir, "combined")
    atlas_labels = sitk.GetArrayFromImage(atlas.labels).ravel()
    points = voxel_centres_lps(atlas.labels).reshape(-1, 3) @ LPS_TO_RAS.T  # RAS mm, in the array's order
    atlas_centre = _eye_centre_mm(points, atlas_labels)
    model_grid = np.mgrid[-15:15:0.5, -15:15:0.5, -15:15:0.5].reshape(3, -1).T
    model_labels, _ = right_orbit_labels_and_tissues(model_grid)
    model_centre = _eye_centre_mm(model_grid, model_labels)
    best = (0.0, {})
    for scale in SCALES:
        evaluation, _ = right_orbit_labels_and_tissues((points - atlas_centre) * scale + model_centre)
        scores = dice(atlas_labels, evaluation)
        if np.mean(list(scores.values())) > np.mean(list(best[1].values()) or [0.0]):
            best = (float(scale), scores)
    return best


def _pseudo(labels: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(PSEUDO_INTENSITY[sitk.GetArrayFromImage(labels)])
    image.CopyInformation(labels)
    return sitk.SmoothingRecursiveGaussian(image, 0.7)


def syn_ceiling(atlas_dir: Path, count: int) -> list[tuple[str, dict[str, float]]]:
    """Dice per structure of a label-to-label ANTs SyN (atlas → truth, right eye) on the first ``count`` cases."""
    import ants

    atlas = load_atlas(atlas_dir, "combined")
    moving_labels = sitk.Cast(atlas.labels, sitk.sitkUInt8)
    results = []
    with tempfile.TemporaryDirectory(prefix="eyeatlas-ceiling-") as tmp:
        folder = Path(tmp)
        for spec in EVALUATION_CASES[:count]:
            truth = sitk.Cast(make_evaluation_subject(spec).truth_labels, sitk.sitkUInt8)
            right = sitk.GetArrayFromImage(truth)
            right = sitk.GetImageFromArray(np.where(right <= 9, right, 0).astype(np.uint8))
            right.CopyInformation(truth)
            centre = label_centroid_lps(right)
            corners = [right.TransformPhysicalPointToIndex(tuple(centre + sign * CROP_HALF_WIDTH_MM))
                       for sign in (-1, 1)]
            low = np.clip(np.minimum(*corners), 0, None)
            high = np.minimum(np.maximum(*corners), np.array(right.GetSize()) - 1)
            fixed_labels = right[int(low[0]):int(high[0]), int(low[1]):int(high[1]), int(low[2]):int(high[2])]
            for name, image in (("fixed", _pseudo(fixed_labels)), ("moving", _pseudo(moving_labels)),
                                ("moving_labels", moving_labels)):
                sitk.WriteImage(image, str(folder / f"{name}.nii.gz"))
            shift = label_centroid_lps(fixed_labels) - label_centroid_lps(moving_labels)
            start = ants.create_ants_transform(transform_type="AffineTransform", dimension=3, matrix=np.eye(3),
                                               translation=list(-shift))
            ants.write_transform(start, str(folder / "start.mat"))
            fixed = ants.image_read(str(folder / "fixed.nii.gz"))
            registration = ants.registration(
                fixed, ants.image_read(str(folder / "moving.nii.gz")), type_of_transform="SyNRA",
                initial_transform=str(folder / "start.mat"), aff_metric="meansquares", syn_metric="meansquares",
                reg_iterations=(200, 150, 100, 50), flow_sigma=2, total_sigma=0, grad_step=0.25,
                outprefix=str(folder / "out_"))
            warped = ants.apply_transforms(fixed, ants.image_read(str(folder / "moving_labels.nii.gz")),
                                           registration["fwdtransforms"], interpolator="genericLabel")
            scores = dice(warped.numpy().astype(np.uint8), sitk.GetArrayFromImage(fixed_labels).transpose(2, 1, 0))
            results.append((spec.case_id, scores))
            print(f"{spec.case_id}: mean {np.mean(list(scores.values())):.3f}", file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syn", type=int, default=0, help="evaluation cases for the label-to-label SyN ceiling")
    args = parser.parse_args()
    print("$ " + shlex.join([".venv/bin/python", "benchmarks/bench_anatomy_ceiling.py", *sys.argv[1:]]))
    with tempfile.TemporaryDirectory(prefix="eyeatlas-atlas-") as tmp:
        atlas_dir = make_synthetic_atlas(Path(tmp))
        scale, similarity = similarity_ceiling(atlas_dir)
        columns = [(f"similarity ceiling (scale {scale:.2f})", similarity)]
        if args.syn:
            syn = syn_ceiling(atlas_dir, args.syn)
            columns.append((f"label-to-label SyN, {len(syn)} cases",
                            {s.key: float(np.mean([d[s.key] for _, d in syn])) for s in STRUCTURES}))
    print("\n| structure | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for s in STRUCTURES:
        print(f"| {s.name} | " + " | ".join(f"{d[s.key]:.3f}" for _, d in columns) + " |")
    print("| **mean of 9** | " + " | ".join(f"**{np.mean(list(d.values())):.3f}**" for _, d in columns) + " |")


if __name__ == "__main__":
    main()
