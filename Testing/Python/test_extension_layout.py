"""The Slicer-extension layout: CMake lists every engine file, extension metadata is filled in."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_module_cmake_lists_every_engine_file():
    cmake = (REPO / "EyeAtlasSegment" / "CMakeLists.txt").read_text()
    listed = set(re.findall(r"^\s+(EyeAtlasSegmentLib/\S+\.py)\s*$", cmake, flags=re.M))
    on_disk = {p.relative_to(REPO / "EyeAtlasSegment").as_posix()
               for p in (REPO / "EyeAtlasSegment" / "EyeAtlasSegmentLib").rglob("*.py")}
    assert listed == on_disk


def test_extension_metadata_is_filled_in():
    cmake = (REPO / "CMakeLists.txt").read_text()
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        match = re.search(rf'set\(EXTENSION_{key} "([^"]+)"\)', cmake)
        assert match and match.group(1).strip(), key
    assert "add_subdirectory(EyeAtlasSegment)" in cmake
