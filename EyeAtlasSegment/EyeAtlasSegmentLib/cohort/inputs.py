"""What a cohort is made of: the images of a folder, of a list file, or of a BIDS dataset, each with its atlas sex.

- **Folder**: every image file and DICOM series folder in it and its sub-folders (hidden folders skipped). Keys are
  the paths relative to the folder without the image suffix, so ``OUT/<key>/`` mirrors the input tree.
- **List file**: one image per line, ``path [sex [subject]]``, tab- or space-separated; ``#`` starts a comment; a
  first line ``path sex subject`` is a header. Relative paths are relative to the list file.
- **BIDS dataset** (a folder with ``dataset_description.json``): indexed with pybids; ``anat`` images with the
  requested suffixes (T1w by default), per subject and session. The atlas sex comes from ``participants.tsv`` when
  it has a ``sex`` column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..atlas import SEXES, atlas_sex_from_dicom
from ..errors import EyeAtlasError
from ..image_io import SUPPORTED_SUFFIXES

BIDS_IMAGE_EXTENSIONS = (".nii", ".nii.gz")
DEFAULT_BIDS_SUFFIXES = ("T1w",)


@dataclass
class CohortImage:
    """One image of the cohort. ``key`` is unique in the cohort: it names the image's outputs and its markers."""

    key: str
    path: Path
    sex: str  # atlas template sex: male, female or combined
    sex_source: str  # where the sex came from, said per image in the table, e.g. "participants.tsv sex=F"
    subject: str = ""
    session: str = ""
    entities: dict[str, str] = field(default_factory=dict)  # BIDS entities of the source file (BIDS inputs only)
    bids_path: str = ""  # the source's path relative to the BIDS root (BIDS inputs only)


@dataclass
class Cohort:
    """The images to segment, what kind of input they came from, and notes to show the user (one line each)."""

    kind: str  # "folder", "list" or "bids"
    root: Path
    images: list[CohortImage]
    notes: list[str] = field(default_factory=list)


def discover(path: str | Path, default_sex: str = "combined",
             bids_suffixes: Sequence[str] = DEFAULT_BIDS_SUFFIXES) -> Cohort:
    """The cohort at ``path``: a BIDS dataset, a folder of images, a list file, or a single image."""
    path = Path(path).expanduser().resolve()
    if default_sex not in SEXES:
        raise EyeAtlasError(f"sex must be one of {', '.join(SEXES)}, not {default_sex!r}")
    if path.is_dir() and (path / "dataset_description.json").is_file():
        cohort = _bids(path, default_sex, bids_suffixes)
    elif path.is_dir():
        cohort = _folder(path, default_sex)
    elif path.is_file() and _image_stem(path.name) != path.name:
        cohort = Cohort("folder", path.parent, [CohortImage(_image_stem(path.name), path, default_sex, "--sex")])
    elif path.is_file():
        cohort = _list_file(path, default_sex)
    else:
        raise EyeAtlasError(f"cohort input not found: '{path}'")
    if not cohort.images:
        raise EyeAtlasError(f"no image found in '{path}'" + (
            f" (looked for anat {'/'.join(bids_suffixes)} NIfTI files)" if cohort.kind == "bids" else
            f" (looked for {', '.join(SUPPORTED_SUFFIXES)} files and DICOM folders)"))
    _require_unique_keys(cohort.images)
    return cohort


def atlas_sex_from_text(value: str | None) -> str | None:
    """The atlas sex for a sex value as written in participants.tsv or a list file (M/F/male/female), else None."""
    text = (value or "").strip()
    return text.lower() if text.lower() in SEXES else atlas_sex_from_dicom(text)


def _image_stem(name: str) -> str:
    """A file name without its image suffix (the name itself when it has none)."""
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _is_dicom_folder(path: Path) -> bool:
    return any(p.suffix.lower() == ".dcm" for p in path.iterdir() if p.is_file())


def _walk_images(folder: Path) -> Iterable[Path]:
    """Image files and DICOM folders under ``folder`` (a DICOM folder is one image; hidden entries skipped)."""
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from [entry] if _is_dicom_folder(entry) else _walk_images(entry)
        elif entry.name.lower().endswith(SUPPORTED_SUFFIXES):
            yield entry


def _folder(folder: Path, default_sex: str) -> Cohort:
    images = [CohortImage(_image_stem(p.relative_to(folder).as_posix()), p, default_sex, "--sex")
              for p in ([folder] if _is_dicom_folder(folder) else _walk_images(folder))]
    return Cohort("folder", folder, images)


def _list_file(list_path: Path, default_sex: str) -> Cohort:
    rows: list[tuple[Path, str, str, int]] = []
    for number, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]
        if not rows and fields[0].lower() == "path":
            continue  # header
        image = Path(fields[0]).expanduser()
        rows.append((image if image.is_absolute() else (list_path.parent / image).resolve(),
                     fields[1] if len(fields) > 1 else "", fields[2] if len(fields) > 2 else "", number))
    subjects = [subject for _, _, subject, _ in rows if subject]
    images = []
    for image, sex_text, subject, number in rows:
        sex = atlas_sex_from_text(sex_text) if sex_text else default_sex
        if sex is None:
            raise EyeAtlasError(f"{list_path.name} line {number}: sex {sex_text!r} is not M, F, male, female or "
                                f"combined")
        key = subject if subject and subjects.count(subject) == 1 else "_".join(
            part for part in (subject, _image_stem(image.name)) if part)
        images.append(CohortImage(key, image, sex, "list file" if sex_text else "--sex", subject=subject))
    return Cohort("list", list_path, images)


def _bids(root: Path, default_sex: str, suffixes: Sequence[str]) -> Cohort:
    try:
        from bids import BIDSLayout
    except ImportError:
        raise EyeAtlasError("BIDS input needs pybids: pip install \"eye-atlas-segment[cohort]\"") from None
    try:
        layout = BIDSLayout(root, validate=False)
    except Exception as exc:  # pybids' own exceptions (e.g. a broken dataset_description.json)
        raise EyeAtlasError(f"cannot index the BIDS dataset {root}: {str(exc).splitlines()[0]}") from None
    files = layout.get(datatype="anat", suffix=list(suffixes), extension=list(BIDS_IMAGE_EXTENSIONS))
    sexes, notes = _participant_sexes(root)
    images = []
    for bids_file in sorted(files, key=lambda f: f.path):
        entities = {k: str(v) for k, v in bids_file.get_entities().items() if k not in ("extension", "datatype")}
        subject = entities["subject"]
        given = sexes.get(subject)
        sex = atlas_sex_from_text(given) if given else None
        source = f"participants.tsv sex={given}" if sex else (
            f"participants.tsv sex={given or 'n/a'} not M/F: --sex" if sexes else "--sex")
        path = Path(bids_file.path)
        images.append(CohortImage(path.name[: -len(_bids_extension(path.name))], path, sex or default_sex, source,
                                  subject=subject, session=entities.get("session", ""), entities=entities,
                                  bids_path=path.relative_to(root).as_posix()))
    for subject in sorted({i.subject for i in images}):
        first = next(i for i in images if i.subject == subject)
        notes.append(f"sub-{subject}: {first.sex} atlas ({first.sex_source})")
    return Cohort("bids", root, images, notes)


def _bids_extension(name: str) -> str:
    return next(e for e in sorted(BIDS_IMAGE_EXTENSIONS, key=len, reverse=True) if name.endswith(e))


def _participant_sexes(root: Path) -> tuple[dict[str, str], list[str]]:
    """Subject label (without "sub-") → the ``sex`` value of participants.tsv, and a note when there is none."""
    table = root / "participants.tsv"
    if not table.is_file():
        return {}, ["no participants.tsv: every image uses the --sex atlas"]
    with open(table, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        column = next((c for c in reader.fieldnames or () if c.strip().lower() == "sex"), None)
        if column is None or "participant_id" not in (reader.fieldnames or ()):
            return {}, ["participants.tsv has no sex column: every image uses the --sex atlas"]
        return {r["participant_id"].removeprefix("sub-"): r[column] for r in reader
                if r[column] and r[column].strip().lower() != "n/a"}, []


def _require_unique_keys(images: Sequence[CohortImage]) -> None:
    seen: dict[str, Path] = {}
    for image in images:
        if image.key in seen:
            raise EyeAtlasError(f"two images would share the outputs '{image.key}': {seen[image.key]} and "
                                f"{image.path}; give each its own subject id")
        seen[image.key] = image.path
