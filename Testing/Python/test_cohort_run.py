"""A cohort on a real Dask LocalCluster with 2 worker processes: a small synthetic BIDS dataset in, BIDS derivatives
out (checked by indexing them with pybids), a failing image in the middle, a worker SIGKILLed twice while it segments
one image (retried once, then recorded), the cohort table equal to the per-image outputs, the HTML report, and a
re-run that redoes nothing."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import signal
import threading
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from cohort_support import cached_atlas, cached_heads, make_bids_dataset, write_not_a_head
from EyeAtlasSegmentLib import __version__
from EyeAtlasSegmentLib.cohort.inputs import discover
from EyeAtlasSegmentLib.cohort.runner import WORKER_DIED, run_cohort
from EyeAtlasSegmentLib.cohort.scheduler import DASK_CONFIG, DaskSettings
from EyeAtlasSegmentLib.normative import population_norm
from EyeAtlasSegmentLib.pipeline import PipelineOptions
from helpers import FixedScaleEngine

pytestmark = pytest.mark.slow
KILLED_IMAGE = "sub-04_T1w"


def _kill_the_worker_running(address: str, image_key: str, times: int, stop: threading.Event,
                             kills: list[int]) -> None:
    """SIGKILL the worker process that is segmenting ``image_key``, each time it is (re)started on a worker."""
    from distributed import Client

    with Client(address) as client:
        while len(kills) < times and not stop.is_set():
            busy = [worker for worker, keys in client.processing().items() if any(image_key in k for k in keys)]
            if busy:
                pid = client.run(os.getpid, workers=busy)[busy[0]]
                time.sleep(1.0)  # inside the pipeline by now
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
                while not stop.is_set() and any(image_key in k for keys in client.processing().values()
                                                 for k in keys):
                    time.sleep(0.1)  # until the scheduler has noticed the death
            time.sleep(0.1)


def _run(bids: Path, atlas: Path, out: Path, address: str):
    options = PipelineOptions(engine=FixedScaleEngine(), retry_engines=())
    return run_cohort(discover(bids), atlas, out, options, DaskSettings(scheduler=address), quiet=True,
                      command="eye-atlas-segment cohort BIDS --atlas ATLAS --out OUT (test)")


@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory):
    import dask
    from distributed import LocalCluster

    base = tmp_path_factory.getbasetemp()
    heads, atlas = cached_heads(base), cached_atlas(base)
    root = tmp_path_factory.mktemp("cohort_run")
    bids = make_bids_dataset(root / "bids", [heads[0], heads[1], heads[0], heads[0], heads[1]],
                             ["F", "M", "n/a", "F"], [["1", "2"], [], [], []])
    write_not_a_head(bids / "sub-02" / "anat" / "sub-02_T1w.nii.gz")  # fails, in the middle of the cohort
    out = root / "derivatives" / "eye-atlas-segment"
    with dask.config.set(DASK_CONFIG), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                    dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        stop, kills = threading.Event(), []
        killer = threading.Thread(target=_kill_the_worker_running,
                                  args=(cluster.scheduler_address, KILLED_IMAGE, 2, stop, kills))
        killer.start()
        try:
            first = _run(bids, atlas, out, cluster.scheduler_address)
        finally:
            stop.set()
            killer.join()
        modified = {p: p.stat().st_mtime_ns for p in [*out.glob("sub-*/**/*"), *out.glob(".eye-atlas-segment/*/*")]
                    if p.is_file()}  # the images' outputs and markers
        second = _run(bids, atlas, out, cluster.scheduler_address)
    return dict(bids=bids, out=out, first=first, second=second, kills=kills, modified=modified)


def _tsv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_every_image_is_segmented_except_the_failing_one_and_the_one_whose_worker_died(cohort_run):
    assert len(cohort_run["kills"]) == 2
    assert cohort_run["first"].counts == {"done": 3, "skipped": 0, "failed": 2, "failed_before": 0}
    failures = {f["image"]: f for f in _tsv(cohort_run["out"] / "cohort_failures.tsv")}
    assert set(failures) == {"sub-02_T1w", KILLED_IMAGE}
    assert failures["sub-02_T1w"]["kind"] == "pipeline"
    assert failures["sub-02_T1w"]["reason"].startswith("no eye found in the image")
    assert (failures[KILLED_IMAGE]["kind"], failures[KILLED_IMAGE]["reason"]) == ("worker_died", WORKER_DIED)


def test_pybids_indexes_the_derivatives_with_their_entities(cohort_run):
    from bids import BIDSLayout
    from bids.layout import Query

    out = cohort_run["out"]
    description = json.loads((out / "dataset_description.json").read_text(encoding="utf-8"))
    assert description["DatasetType"] == "derivative"
    generated = description["GeneratedBy"][0]
    assert (generated["Name"], generated["Version"]) == ("eye-atlas-segment", __version__)
    assert "eye-atlas-segment cohort" in generated["Description"]
    layout = BIDSLayout(cohort_run["bids"], derivatives=str(out), validate=True)
    derivatives = layout.derivatives["eye-atlas-segment"]
    segmentations = derivatives.get(suffix="dseg", extension=".nii.gz")
    assert sorted((f.entities["subject"], f.entities.get("session")) for f in segmentations) == [
        ("01", "1"), ("01", "2"), ("03", None)]
    assert {(f.entities["segmentation"], f.entities["desc"], f.entities["datatype"]) for f in segmentations} == {
        ("eyes", "T1w", "anat")}
    for suffix, extension in (("dseg", ".tsv"), ("dseg", ".json"), ("stats", ".tsv"), ("cnr", ".tsv"),
                              ("report", ".json"), ("qc", ".png"), ("qc", ".html")):
        assert len(derivatives.get(suffix=suffix, extension=extension, subject=Query.ANY)) == 3, suffix + extension
    for dseg in segmentations:
        source = layout.get(subject=dseg.entities["subject"], session=dseg.entities.get("session"), suffix="T1w",
                            extension=".nii.gz", scope="raw")[0]
        labels, image = nib.load(dseg.path), nib.load(source.path)
        assert labels.shape == image.shape and np.allclose(labels.affine, image.affine, atol=1e-4)
        lookup = _tsv(Path(dseg.path.replace(".nii.gz", ".tsv")))
        assert set(np.unique(np.asarray(labels.dataobj))) - {0} <= {int(r["index"]) for r in lookup}
        assert {"Right lens", "Left superior rectus"} <= {r["name"] for r in lookup}
        sidecar = json.loads(Path(dseg.path.replace(".nii.gz", ".json")).read_text(encoding="utf-8"))
        assert sidecar["Sources"] == [f"bids:raw:{Path(source.path).relative_to(cohort_run['bids']).as_posix()}"]


def test_the_cohort_table_holds_each_images_own_statistics_with_z_scores_of_its_sex(cohort_run):
    out = cohort_run["out"]
    rows = _tsv(out / "cohort_stats.tsv")
    assert {r["image"] for r in rows} == {"sub-01_ses-1_T1w", "sub-01_ses-2_T1w", "sub-03_T1w"}
    assert len(rows) == 3 * 18
    for image in {r["image"] for r in rows}:
        mine = [r for r in rows if r["image"] == image]
        own = _tsv(out / mine[0]["report"].replace("_qc.html", "_stats.tsv").replace("_report.json",
                                                                                           "_stats.tsv"))
        assert [(r["eye"], r["structure"], r["volume_mm3"], r["mean"], r["snr"], r["qc_status"]) for r in mine] == [
            (r["eye"], r["structure"], r["volume_mm3"], r["mean"], r["snr"], r["qc_status"]) for r in own]
        for row in mine:
            if row["volume_mm3"]:
                norm = population_norm(row["eye"], row["atlas_sex"], row["structure"])
                assert float(row["z_score"]) == pytest.approx(norm.z_score(float(row["volume_mm3"])), abs=1e-4)
    sexes = {(r["image"], r["atlas_sex"], r["sex_source"], r["population"]) for r in rows}
    assert sexes == {("sub-01_ses-1_T1w", "female", "participants.tsv sex=F", "F"),
                     ("sub-01_ses-2_T1w", "female", "participants.tsv sex=F", "F"),
                     ("sub-03_T1w", "combined", "participants.tsv sex=n/a not M/F: --sex", "all")}
    assert (out / "cohort_stats.parquet").is_file()


def test_the_report_shows_failed_images_first_and_links_every_image_report_and_qc_picture(cohort_run):
    out = cohort_run["out"]
    page = (out / "cohort_report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3
    assert max(page.index("sub-02_T1w"), page.index(KILLED_IMAGE)) < page.index("sub-01_ses-1_T1w")
    links = re.findall(r'(?:src|href)="([^"]+\.(?:png|html|json))"', page)
    assert len([link for link in links if link.endswith("_qc.png")]) == 3
    for link in links:
        assert (out / link).is_file(), link


def test_each_completion_marker_names_the_input_checksum_and_the_itk_threads_used(cohort_run):
    from EyeAtlasSegmentLib.cohort.resume import file_checksum

    markers = sorted((cohort_run["out"] / ".eye-atlas-segment" / "done").glob("*.json"))
    assert [m.stem for m in markers] == ["sub-01_ses-1_T1w", "sub-01_ses-2_T1w", "sub-03_T1w"]
    for marker in markers:
        record = json.loads(marker.read_text(encoding="utf-8"))
        assert record["input_sha256"] == file_checksum(record["input"])
        assert record["threads"]["itk"] == 1


def test_a_re_run_redoes_nothing_and_keeps_the_failures(cohort_run):
    assert cohort_run["second"].counts == {"done": 0, "skipped": 3, "failed": 0, "failed_before": 2}
    for path, modified in cohort_run["modified"].items():
        assert path.stat().st_mtime_ns == modified, path
    assert {f["image"] for f in _tsv(cohort_run["out"] / "cohort_failures.tsv")} == {"sub-02_T1w", KILLED_IMAGE}
