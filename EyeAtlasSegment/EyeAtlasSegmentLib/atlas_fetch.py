"""Download the MR-Eye release from Zenodo in one step: fetched with ``pooch``, checked, unpacked, located.

The release to fetch (Zenodo version record, archive name, URL, SHA-256, licence and citation) is pinned in one
data file, ``data/mr_eye_release.json``. Its values come from the Zenodo record. When the file has no SHA-256,
the checksum that the pinned record itself publishes (Zenodo's API gives an MD5 per file) is used instead, so
every download is still checked. A corrupted or partial download is retried, then refused, and nothing
unchecked is kept. The archive stays in the destination folder, so a second call only re-checks it.

``fetch_atlas(dest, progress)`` is what the Slicer module calls; ``eye-atlas-segment fetch-atlas`` wraps it.
Needs ``pooch`` (``pip install "eye-atlas-segment[fetch]"``); the rest of the engine does not.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from .callbacks import ProgressCallback
from .errors import AtlasError, library_reason
from .release_layout import RELEASE_ROOT_NAMES, find_release_root, release_inventory

RELEASE_FILE = Path(__file__).resolve().parent / "data" / "mr_eye_release.json"
DEFAULT_RETRIES = 2  # a failed or corrupted download is tried this many more times
TIMEOUT_S = 60


@dataclass(frozen=True)
class Release:
    """One pinned version of the MR-Eye release on Zenodo."""

    name: str
    concept_doi: str
    version: str
    record: str
    archive: str  # file name of the zip in the record
    url: str
    sha256: str | None
    record_api: str | None  # Zenodo API URL of the record, for its published checksum when sha256 is unset
    licence: str
    citation: str
    dataset_citation: str

    @classmethod
    def pinned(cls, path: Path = RELEASE_FILE) -> Release:
        """The release pinned in the package's data file."""
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def from_mirror(self, url: str | None = None, sha256: str | None = None) -> Release:
        """The same release from another URL (a mirror, or another version of the record) and/or checksum."""
        return replace(self, url=url or self.url, sha256=sha256 or self.sha256)


def default_destination() -> Path:
    """Where the atlas is kept when no folder is given: the user's cache folder (e.g. ~/.cache/eye-atlas-segment)."""
    return Path(_pooch().os_cache("eye-atlas-segment"))


def fetch_atlas(dest: str | Path | None = None, progress: ProgressCallback | None = None,
                release: Release | None = None, retries: int = DEFAULT_RETRIES) -> Path:
    """Download (unless already there and intact), check and unpack the release into ``dest``.

    Returns the atlas folder (the release root holding ``male/ female/ combined/``), ready for ``--atlas``.
    ``progress(fraction, message)`` receives the download progress. Raises ``AtlasError`` with a one-line reason
    when the download fails, stays corrupted or incomplete after ``retries`` more attempts, or holds no atlas.
    """
    pooch = _pooch()
    release = release or Release.pinned()
    dest = Path(dest).expanduser() if dest else default_destination()
    dest.mkdir(parents=True, exist_ok=True)
    known_hash = release.sha256 or _published_checksum(release)
    store = pooch.create(path=dest, base_url="", registry={release.archive: known_hash},
                         urls={release.archive: release.url}, retry_if_failed=retries)
    pooch.get_logger().setLevel("WARNING")
    attempts = f"{retries + 1} attempt{'s' if retries else ''}"
    import requests  # a pooch dependency

    try:
        return Path(store.fetch(release.archive, processor=_unpack_into(dest),
                                progressbar=_ProgressBar(progress, release.archive) if progress else False))
    except ValueError:  # pooch: the checksum does not match (corrupted or truncated download)
        raise AtlasError(f"the download of {release.archive} was corrupted or incomplete in {attempts} (checksum "
                         f"{known_hash.split(':')[0] if ':' in known_hash else 'sha256'} does not match); nothing "
                         f"was kept: try again, or get it from https://doi.org/{release.concept_doi}") from None
    except requests.exceptions.RequestException as exc:
        raise AtlasError(f"cannot download {release.url} ({_short(exc)}) in {attempts}: check the network, or "
                         f"get the archive from https://doi.org/{release.concept_doi}") from None


def fetch_and_describe(dest: str | Path | None = None, url: str | None = None, sha256: str | None = None,
                       progress: ProgressCallback | None = None) -> str:
    """``eye-atlas-segment fetch-atlas``: fetch the pinned release (or ``url`` with ``sha256``, e.g. a mirror)
    and say where it is, what it holds, how to use it and how to cite it."""
    release = Release.pinned().from_mirror(url, sha256)
    dest = Path(dest).expanduser() if dest else default_destination()
    root = fetch_atlas(dest, progress, release)
    inventory = release_inventory(root)
    lines = [f"{release.name}, Zenodo record {release.record} (version {release.version}), is in:", f"  {root}",
             f"  {len(inventory.present)} of the release's {len(inventory.present) + len(inventory.missing)} files"
             + (f"; not in this version: {', '.join(inventory.missing)}" if inventory.missing else ""),
             f"use it with: eye-atlas-segment run IMAGE --atlas {root} --out OUT_DIR",
             f"licence: {release.licence}. Cite the atlas when you use it:",
             f"  {release.citation}", f"  {release.dataset_citation}"]
    if not release.sha256:
        lines.append(f"checked against the record's published checksum; archive SHA-256, to pin in "
                     f"{RELEASE_FILE.name}: {_pooch().file_hash(str(dest / release.archive))}")
    return "\n".join(lines)


def _pooch():
    try:
        import pooch
    except ImportError:
        raise AtlasError('downloading the atlas needs the "pooch" package: pip install "eye-atlas-segment[fetch]"'
                         ) from None
    return pooch


def _published_checksum(release: Release) -> str:
    """The archive's checksum as the Zenodo record lists it ("md5:…"), legacy and InvenioRDM API formats."""
    import requests

    if not release.record_api:
        raise AtlasError(f"no checksum is pinned for {release.archive} and no Zenodo record to read one from")
    try:
        response = requests.get(release.record_api, timeout=TIMEOUT_S)
        response.raise_for_status()
        files = response.json()["files"]
        entry = next(f for f in files if release.archive in (f.get("key"), f.get("filename")))
        checksum = entry["checksum"]
    except (requests.exceptions.RequestException, ValueError, KeyError, TypeError) as exc:
        raise AtlasError(f"cannot read the checksum of {release.archive} from {release.record_api} "
                         f"({_short(exc)}): check the network") from None
    except StopIteration:
        raise AtlasError(f"the Zenodo record {release.record_api} has no file {release.archive}") from None
    return checksum if ":" in checksum else f"md5:{checksum}"


def _unpack_into(dest: Path):
    """A pooch processor: unpack a new or updated archive into ``dest``, all or nothing; return the atlas root."""

    def unpack(archive: str, action: str, _pooch) -> str:
        existing = find_release_root(dest)
        if action == "fetch" and existing is not None and not release_inventory(existing).missing_for_segmentation():
            return str(existing)  # the archive is unchanged and was unpacked before
        staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=dest))
        try:
            try:
                with zipfile.ZipFile(archive) as zipped:
                    zipped.extractall(staging)
            except zipfile.BadZipFile:
                raise AtlasError(f"{Path(archive).name} is not a zip archive; delete it and fetch again") from None
            root = find_release_root(staging)
            if root is None:
                raise AtlasError(f"{Path(archive).name} holds no MR-Eye atlas ({' or '.join(RELEASE_ROOT_NAMES)} "
                                 f"with male/, female/ and combined/)")
            missing = release_inventory(root).missing_for_segmentation()
            if missing:
                raise AtlasError(f"{Path(archive).name} is incomplete: it lacks {', '.join(missing)}")
            target = dest / (root.name if root != staging else RELEASE_ROOT_NAMES[0])
            _replace_folder(root, target)
            return str(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return unpack


def _replace_folder(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing a previous ``target`` only once the new one is in place."""
    previous = target.with_name(f".previous-{target.name}")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        os.replace(target, previous)
    os.replace(source, target)
    shutil.rmtree(previous, ignore_errors=True)


class _ProgressBar:
    """Adapts ``progress(fraction, message)`` to the progress-bar object pooch drives, every ``STEP`` of it."""

    STEP = 0.05

    def __init__(self, progress: ProgressCallback, name: str):
        self.progress, self.name, self.total, self.done, self.reported = progress, name, 0, 0, -1.0

    def update(self, n: int) -> None:
        self.done += n
        fraction = min(self.done / self.total, 1.0) if self.total else 0.0
        if fraction >= self.reported + self.STEP:
            self.reported = fraction
            self.progress(fraction, f"downloading {self.name}")

    def reset(self) -> None:
        self.done, self.reported = 0, -1.0

    def close(self) -> None:
        self.progress(1.0, f"downloaded {self.name}")


def _short(exc: Exception) -> str:
    """The exception's type and the last line of its text (``library_reason``), cut at 160 characters."""
    return f"{type(exc).__name__}: {library_reason(exc)[:160]}" if str(exc).strip() else type(exc).__name__
