"""Kill and resume: a cohort in a subprocess (a LocalCluster of 2 workers) is SIGKILLed mid-run, then run again.
Nothing finished before the kill is redone, and the final outputs equal those of an uninterrupted run: the labels
voxel for voxel, every per-image table and the cohort table byte for byte, the failures by image and reason (the
reports differ only in timings)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from cohort_support import cached_atlas, cached_heads, write_not_a_head

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parent
ENGINE_DIR = TESTS.parents[1] / "EyeAtlasSegment"
IMAGES = ("a", "b", "c", "d", "e")
FAILING = "c"


def _command(folder: Path, atlas: Path, out: Path) -> list[str]:
    return [sys.executable, str(TESTS / "cohort_support.py"), str(folder), "--atlas", str(atlas), "--out", str(out),
            "--workers", "2", "--quiet"]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ENGINE_DIR), str(TESTS)]))


def _done(out: Path) -> dict[str, str]:
    """Image key → run id of its completion marker."""
    markers = (out / ".eye-atlas-segment" / "done").glob("*.json")
    return {m.stem: json.loads(m.read_text(encoding="utf-8"))["run_id"] for m in markers}


def _files_of(out: Path, key: str) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / key).iterdir()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    heads, atlas = cached_heads(base), cached_atlas(base)
    root = tmp_path_factory.mktemp("resume")
    folder = root / "images"
    for n, name in enumerate(IMAGES):
        (folder / f"{name}.nii.gz").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.nii.gz").write_bytes(heads[n % 2].read_bytes())
    write_not_a_head(folder / f"{FAILING}.nii.gz")
    clean = subprocess.run(_command(folder, atlas, root / "clean"), env=_env(), capture_output=True, text=True,
                           timeout=1800)

    out = root / "resumed"
    killed = subprocess.Popen(_command(folder, atlas, out), env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 1200
    while len(_done(out) if out.is_dir() else {}) < 2 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if killed.poll() is None:
        os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=60)
    at_kill = _done(out)
    files_at_kill = {key: _files_of(out, key) for key in at_kill}

    resumed = subprocess.run(_command(folder, atlas, out), env=_env(), capture_output=True, text=True, timeout=1800)
    return dict(clean=clean, resumed=resumed, root=root, out=out, at_kill=at_kill, files_at_kill=files_at_kill,
                killed_status=killed.returncode)


def test_the_run_was_killed_midway(runs):
    assert runs["killed_status"] == -signal.SIGKILL
    assert 2 <= len(runs["at_kill"]) < len(IMAGES) - 1, runs["at_kill"]


def test_the_re_run_redoes_only_the_unfinished_images(runs):
    resumed = runs["resumed"]
    assert resumed.returncode == 1, resumed.stderr  # the failing image
    lines = resumed.stderr.splitlines()
    for key in runs["at_kill"]:
        assert any(line.endswith(f"] skipped {key}") for line in lines), key
    final = _done(runs["out"])
    assert sorted(final) == sorted(set(IMAGES) - {FAILING})
    for key, run_id in runs["at_kill"].items():
        assert final[key] == run_id  # its marker was not rewritten ...
        assert _files_of(runs["out"], key) == runs["files_at_kill"][key]  # ... nor its outputs
    assert not list(runs["out"].rglob("*.partial-*")) and not (runs["out"] / ".eye-atlas-segment" / "staging").exists()


def test_the_final_outputs_equal_an_uninterrupted_run(runs):
    assert runs["clean"].returncode == 1, runs["clean"].stderr
    clean, out = runs["root"] / "clean", runs["out"]
    for key in sorted(set(IMAGES) - {FAILING}):
        np.testing.assert_array_equal(np.asarray(nib.load(out / key / "labels.nii.gz").dataobj),
                                      np.asarray(nib.load(clean / key / "labels.nii.gz").dataobj))
        tables = sorted(p.name for p in (clean / key).glob("*.csv"))
        assert "stats.csv" in tables and tables == sorted(p.name for p in (out / key).glob("*.csv"))
        for name in tables:
            assert (out / key / name).read_bytes() == (clean / key / name).read_bytes(), f"{key}/{name}"
    assert (out / "cohort_stats.tsv").read_bytes() == (clean / "cohort_stats.tsv").read_bytes()

    def failures(folder: Path) -> list[tuple[str, str, str]]:
        with open(folder / "cohort_failures.tsv", newline="", encoding="utf-8") as handle:
            return [(r["image"], r["kind"], r["reason"]) for r in csv.DictReader(handle, delimiter="\t")]

    assert failures(out) == failures(clean) and [f[0] for f in failures(out)] == [FAILING]


def test_the_workers_ran_single_threaded_itk_with_openmp_limited_too_and_say_their_peak_memory(runs):
    for marker in (runs["out"] / ".eye-atlas-segment" / "done").glob("*.json"):
        record = json.loads(marker.read_text(encoding="utf-8"))
        threads = record["threads"]
        assert threads["itk"] == 1 and threads["OMP_NUM_THREADS"] == "1" and threads[
            "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] == "1"
        assert 100 < record["worker_peak_memory_mb"] < 4096  # a Python worker with numpy and ITK; below 4 GB
