"""Shared pytest set-up: import path, the synthetic atlas, synthetic subjects and the real-head data folder."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
_ENGINE_PARENT = _REPO / "EyeAtlasSegment"
if str(_ENGINE_PARENT) not in sys.path:
    sys.path.insert(0, str(_ENGINE_PARENT))

#: Real head MRIs (not part of the repository: their licences differ); see ../shared/data/README.md.
SHARED_DATA = _REPO.parent / "shared" / "data"

#: The T2 rows of globe_centres.tsv mark a point 3.1–4.1 mm posterior of the whole-globe centre, along the lens
#: axis (centre of the vitreous chamber?): from them the lens is 13.6/12.8 mm away, against 9.0/8.9 mm on
#: chris_t1 and 9.3/9.5 mm from the sphere that fits this globe's walls to ±0.3 mm in all six directions; the file's
#: 2 mm slices also make "±1–2 voxels" up to 4 mm. Asserted as a strict xfail (still run; an unexpected pass fails)
#: until the reference is re-measured.
T2_REFERENCE_DISPUTED = pytest.mark.xfail(
    strict=True, reason="globe_centres.tsv T2 rows appear to mark the vitreous-chamber centre, not the globe centre")
REQUIRED_REAL_HEADS = ["chris_t1.nii.gz", "seg3D_MR.nii.gz",
                       pytest.param("niivue_register_T2w.nii.gz", marks=T2_REFERENCE_DISPUTED),
                       "MNI152_T1_2mm.nii.gz"]


@pytest.fixture(scope="session")
def synthetic_atlas_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SYNTHETIC atlas (combined sex only, to save time) in the MR-Eye release layout."""
    from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas

    return make_synthetic_atlas(tmp_path_factory.mktemp("atlas"), sexes=("combined",))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-head folder; tests using it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real head MRIs not available: {SHARED_DATA} does not exist (it is provided beside the repo)")
    return SHARED_DATA


def read_globe_centres(shared: Path) -> dict[tuple[str, str], tuple[float, float, float]]:  # RAS mm
    """(file, eye) → globe centre RAS mm, from ``globe_centres.tsv``."""
    with open(shared / "globe_centres.tsv", newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return {(r["file"], r["eye"]): tuple(float(v) for v in r["ras_mm"].strip("[]").split(",")) for r in rows}
