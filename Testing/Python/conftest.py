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


def read_globe_centres(shared: Path) -> dict[tuple[str, str], tuple[float, float, float]]:
    """(file, eye) → globe centre RAS mm, from ``globe_centres.tsv``."""
    with open(shared / "globe_centres.tsv", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return {(r["file"], r["eye"]): tuple(float(v) for v in r["ras_mm"].strip("[]").split(",")) for r in rows}
