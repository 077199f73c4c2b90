"""Locating the eyes on the real heads: the globe finder against the whole-head route (``--via mni152``).

Error (mm) of each eye centre to ``globe_centres.tsv``, and the time of the location step alone. The whole-head
route runs with two MNI152 templates:

- the **synthetic** release's (``make_synthetic_atlas``: an analytic head scaled onto the MNI152 outline);
- a **real-head stand-in** for the release's MNI152NLin2009cAsym, which cannot be downloaded here: FSL's
  ``MNI152_T1_2mm`` (in ``../shared/data``) with a right-eye globe label, an 11.5 mm ball at its reference centre.
  Its own row is left out (the template would be registered to itself).

Both refine each eye with the synthetic eye template. Usage:
``python benchmarks/bench_eye_location.py [DATA_DIR]`` (default ``<repo>/../shared/data``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from bench_globe_finder import read_truth_lps_mm
from EyeAtlasSegmentLib.atlas import load_atlas, load_standard_space
from EyeAtlasSegmentLib.geometry import lps_to_ras
from EyeAtlasSegmentLib.globe_finder import find_globes
from EyeAtlasSegmentLib.image_io import load_image
from EyeAtlasSegmentLib.release_layout import standard_space_files
from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas
from EyeAtlasSegmentLib.whole_head import locate_eyes_via_template

REPO = Path(__file__).resolve().parents[1]

STAND_IN = "MNI152_T1_2mm.nii.gz"
STAND_IN_GLOBE_RADIUS_MM = 11.5
EYES = ("right", "left")


def real_head_stand_in(data_dir: Path, synthetic_root: Path, out: Path) -> Path:
    """A release folder whose mni152/ is FSL's MNI152 2 mm head with a right-eye globe ball; combined/ synthetic."""
    root = out / "eye_atlas"
    shutil.copytree(synthetic_root / "combined", root / "combined")
    (root / "mni152").mkdir(parents=True)
    head = nib.load(data_dir / STAND_IN)
    right_ras = lps_to_ras(read_truth_lps_mm(data_dir)[STAND_IN]["right"])
    ijk = np.stack(np.meshgrid(*(np.arange(n) for n in head.shape), indexing="ij"), axis=-1)
    ras = ijk @ head.affine[:3, :3].T + head.affine[:3, 3]
    labels = np.where(np.linalg.norm(ras - right_ras, axis=-1) <= STAND_IN_GLOBE_RADIUS_MM, 2, 0).astype(np.uint8)
    image_name, labels_name = standard_space_files("mni152")
    nib.save(nib.Nifti1Image(np.asarray(head.dataobj, dtype=np.float32), head.affine), root / "mni152" / image_name)
    nib.save(nib.Nifti1Image(labels, head.affine), root / "mni152" / labels_name)
    return root


def _errors(centres_lps: dict, truth_lps: dict) -> str:
    return " / ".join(f"{np.linalg.norm(centres_lps[e] - truth_lps[e]):.1f}" if e in centres_lps else "–"
                      for e in EYES)


def main(data_dir: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-eye-location-"))
    synthetic_root = make_synthetic_atlas(work / "synthetic", sexes=("combined",), standard_spaces=("mni152",))
    routes = {"synthetic MNI152": synthetic_root, "FSL MNI152 stand-in": real_head_stand_in(data_dir, synthetic_root,
                                                                                            work / "stand_in")}
    atlas = load_atlas(synthetic_root, "combined")
    templates = {name: load_standard_space(root, "mni152") for name, root in routes.items()}
    print("| file | globe finder: R / L mm (s) | " + " | ".join(
        f"via {name}: whole head R / L mm → refined R / L mm (s)" for name in routes) + " |")
    print("|---|---|" + "---|" * len(routes))
    for file_name, truth in read_truth_lps_mm(data_dir).items():
        image = load_image(data_dir / file_name).image
        start = time.perf_counter()
        search = find_globes(image)
        finder = {eye: np.asarray(d.centre_lps_mm) for eye, d in search.detections.items()}
        cells = [file_name, f"{_errors(finder, truth)} ({time.perf_counter() - start:.1f})"]
        for name, template in templates.items():
            if name.startswith("FSL") and file_name == STAND_IN:
                cells.append("(the template itself)")
                continue
            located = locate_eyes_via_template(image, atlas, template)
            note = f"; {len(located.warnings)} refinement(s) not used" if located.warnings else ""
            cells.append(f"{_errors(located.head_estimates_lps_mm, truth)} → {_errors(located.centres_lps_mm, truth)}"
                         f" ({located.seconds:.1f}{note})")
        print("| " + " | ".join(cells) + " |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data")
