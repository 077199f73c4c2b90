"""The MR-Eye atlas as a Sample Data source, from the release the engine pins (``EyeAtlasSegmentLib/data/
mr_eye_release.json``: Zenodo record, archive, URL, SHA-256).

Sample Data checks a download only against the checksum it is given, so the source is registered only once the
SHA-256 is filled in from the Zenodo record (concept DOI 10.5281/zenodo.13325369).
"""

from __future__ import annotations

import re
from pathlib import Path

from EyeAtlasSegmentLib.atlas_fetch import RELEASE_FILE, Release

from . import RESOURCES

CATEGORY = "Eye Atlas Segment"
THUMBNAIL_FILE = RESOURCES / "Icons" / "EyeAtlasSegment.png"


def atlas_sample_data_source(release_file: Path = RELEASE_FILE) -> dict | None:
    """Keyword arguments of ``SampleDataLogic.registerCustomSampleDataSource`` for the pinned atlas archive
    (unzipped when downloaded: ``SampleData.downloadSample(name)`` returns that folder), or None while the pinned
    release has no SHA-256."""
    release = Release.pinned(release_file)
    sha256 = (release.sha256 or "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        return None
    if not release.url.startswith("https://"):
        raise ValueError(f"{Path(release_file).name}: the atlas URL must be an https:// link, not {release.url!r}")
    return {"category": CATEGORY, "sampleName": release.name, "uris": release.url, "fileNames": release.archive,
            "checksums": f"SHA256:{sha256}", "loadFileTypes": "ZipFile", "thumbnailFileName": str(THUMBNAIL_FILE)}
