"""Outputs of a BIDS input as a BIDS derivative dataset.

Per source image, in ``OUT/sub-<s>[/ses-<t>]/anat/``, named by pybids from the source's entities with
``seg-eyes`` and ``desc-<source suffix>`` (so a T1w and a T2w of one session do not collide)::

    sub-01_ses-1_seg-eyes_desc-T1w_dseg.nii.gz   labels (right 1-9, left 11-19) on the source grid
    sub-01_ses-1_seg-eyes_desc-T1w_dseg.tsv      the label lookup (index, name, abbreviation, color)
    sub-01_ses-1_seg-eyes_desc-T1w_dseg.json     Sources (BIDS URI of the source image) and the atlas used
    sub-01_ses-1_seg-eyes_desc-T1w_stats.tsv     the single-image outputs, tables as TSV with the same cells:
    sub-01_ses-1_seg-eyes_desc-T1w_cnr.tsv         stats.csv → _stats.tsv, cnr.csv → _cnr.tsv, report.json →
    sub-01_ses-1_seg-eyes_desc-T1w_report.json     _report.json, qc.png → _qc.png, and so on for every file the
    sub-01_ses-1_seg-eyes_desc-T1w_qc.png          single-image run writes; report.html → _qc.html (not
    sub-01_ses-1_seg-eyes_desc-T1w_qc.html         _report.html: BIDS would read _report.json as its sidecar,
                                                   whose "atlas" key clashes with the atlas entity)

and ``OUT/dataset_description.json`` (DatasetType derivative, GeneratedBy with name, version and the command).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from .. import __version__
from ..outputs import write_outputs
from ..pipeline import PipelineResult
from ..structures import EYES, STRUCTURES, output_label, segment_name
from .inputs import CohortImage
from .resume import atomic_write_text

PIPELINE_NAME = "eye-atlas-segment"
SEGMENTATION = "eyes"
BIDS_VERSION = "1.10.0"
#: pybids path pattern of every derivative file: the anat entities of the source in BIDS order, then seg and desc.
PATH_PATTERN = ("sub-{subject}[/ses-{session}]/anat/sub-{subject}[_ses-{session}][_acq-{acquisition}]"
                "[_ce-{ceagent}][_rec-{reconstruction}][_run-{run}][_echo-{echo}][_flip-{flip}][_inv-{inv}]"
                "[_mt-{mt}][_part-{part}][_chunk-{chunk}]_seg-{segmentation}_desc-{desc}_{suffix}{extension}")
#: The single-image file holding the labels: it becomes the ``dseg`` image.
LABELS_FILE = "labels.nii.gz"


def derivative_path(out_root: Path, image: CohortImage, suffix: str, extension: str) -> Path:
    """Where one derivative file of ``image`` goes (built by pybids from the source's entities)."""
    from bids.layout.writing import build_path

    entities = {k: v for k, v in image.entities.items() if k != "suffix"}
    entities.update(segmentation=SEGMENTATION, desc=image.entities["suffix"], suffix=suffix, extension=extension)
    return out_root / build_path(entities, [PATH_PATTERN], strict=False)


#: Single-image outputs whose BIDS (suffix, extension) is not their own name's.
RENAMED = {LABELS_FILE: ("dseg", ".nii.gz"), "report.html": ("qc", ".html")}


def _bids_name(single_image_name: str) -> tuple[str, str]:
    """(suffix, extension) of a single-image output file: ``RENAMED``, tables → .tsv, others keep theirs."""
    if single_image_name in RENAMED:
        return RENAMED[single_image_name]
    stem, extension = single_image_name.split(".", 1)
    extension = "." + extension
    return re.sub(r"[^A-Za-z0-9]", "", stem), ".tsv" if extension == ".csv" else extension


def write_dataset_description(out_root: Path, source_root: Path, command: str) -> Path:
    """``OUT/dataset_description.json`` of the derivative dataset (rewritten with this run's command)."""
    description = {
        "Name": "Eye and orbit segmentations (MR-Eye atlas registration)",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": PIPELINE_NAME, "Version": __version__,
                         "Description": f"command: {command}"}],
        "SourceDatasets": [{"URL": source_root.as_uri()}],
        "DatasetLinks": {"raw": source_root.as_uri()},
    }
    path = out_root / "dataset_description.json"
    atomic_write_text(path, json.dumps(description, indent=2) + "\n")
    return path


def write_derivatives(result: PipelineResult, image: CohortImage, out_root: Path, staging: Path) -> dict[str, Path]:
    """Write one image's derivatives; returns single-image file name (plus the dseg sidecars) → final path.

    Every file is first complete in ``staging`` (same filesystem), then moved into place with ``os.replace``.
    """
    staged = write_outputs(result, staging / "single")
    final: dict[str, Path] = {}
    ready: dict[str, Path] = {}  # staged file → its final path
    for name, path in staged.items():
        suffix, extension = _bids_name(name)
        target = derivative_path(out_root, image, suffix, extension)
        final[name] = target
        if extension == ".tsv":
            ready[name] = _csv_as_tsv(path, staging / f"{name}.tsv")
        else:
            ready[name] = path
    report_name = next((n for n in staged if n == "report.json"), None)
    if report_name:  # its "outputs" must name the files where they end up
        report = json.loads(ready[report_name].read_text(encoding="utf-8"))
        report["outputs"] = {name: str(path) for name, path in final.items()}
        ready[report_name].write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    for name, extension, write in (("dseg.tsv", ".tsv", _write_lookup), ("dseg.json", ".json", _write_sidecar)):
        final[name] = derivative_path(out_root, image, "dseg", extension)
        ready[name] = staging / name
        write(ready[name], image, result)
    for name, target in final.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(ready[name], target)
    return final


def _csv_as_tsv(csv_path: Path, tsv_path: Path) -> Path:
    with open(csv_path, newline="", encoding="utf-8") as source, open(tsv_path, "w", newline="",
                                                                       encoding="utf-8") as target:
        csv.writer(target, delimiter="\t", lineterminator="\n").writerows(csv.reader(source))
    return tsv_path


def _write_lookup(path: Path, image: CohortImage, result: PipelineResult) -> None:
    """The dseg lookup: every label value that labels.nii.gz can hold."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["index", "name", "abbreviation", "color"])
        for eye in EYES:
            for s in STRUCTURES:
                writer.writerow([output_label(eye, s.label), segment_name(eye, s.label),
                                 f"{eye[0].upper()}{s.key}", "#{:02x}{:02x}{:02x}".format(*s.colour_rgb)])


def _write_sidecar(path: Path, image: CohortImage, result: PipelineResult) -> None:
    sidecar: Mapping = {"Sources": [f"bids:raw:{image.bids_path}"],
                        "Atlas": str(result.atlas.folder), "AtlasSex": result.atlas.sex,
                        "AtlasSexSource": image.sex_source, "SyntheticAtlas": bool(result.atlas.synthetic)}
    path.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
