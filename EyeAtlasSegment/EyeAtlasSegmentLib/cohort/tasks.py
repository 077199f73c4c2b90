"""The one task of a cohort: segment one image, exactly as ``eye-atlas-segment run`` does, and record it.

``process_image`` runs unchanged on a local cluster, on a running scheduler and on a batch-queue cluster. It skips an
image that is already complete for the same input and settings, runs ``pipeline.run_pipeline``, writes the outputs
(per-image folder, or BIDS derivatives) all or nothing, and only then writes the completion marker. A failure is
recorded with its one-line reason and returned, never raised, so the cohort goes on.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import one_line_reason
from ..outputs import write_outputs
from ..pipeline import PipelineOptions, PipelineResult, run_pipeline
from .inputs import CohortImage
from .resume import CohortState, file_checksum

#: Environment variables that size the thread pools of ITK, OpenMP and the BLAS libraries.
THREAD_ENV_VARS = ("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                   "MKL_NUM_THREADS")
LAYOUTS = ("folders", "bids")
#: Outcome statuses: segmented now; complete before (skipped); failed now; failed before for the same input and
#: settings (skipped, kept as a failure unless failures are retried).
STATUSES = ("done", "skipped", "failed", "failed_before")


@dataclass
class ImageJob:
    """Everything one task needs; plain data, sent to the worker."""

    image: CohortImage
    atlas_dir: Path
    options: PipelineOptions  # with this image's atlas sex; ``engine`` already an engine instance
    out_dir: Path
    layout: str  # "folders" (OUT/<key>/) or "bids" (derivatives)
    settings_sha256: str
    run_id: str
    itk_threads: int
    retry_failed: bool = False


@dataclass
class Outcome:
    """What became of one image."""

    key: str
    status: str  # one of STATUSES
    reason: str = ""
    seconds: float = 0.0
    worker: str = ""


def thread_environment(threads: int) -> dict[str, str]:
    """The environment that limits a worker process's thread pools to ``threads``."""
    return {name: str(threads) for name in THREAD_ENV_VARS}


def limit_threads(threads: int) -> None:
    """Limit ITK's threads in this process (SimpleITK's global default) and the pools started after this call."""
    import SimpleITK as sitk

    os.environ.update(thread_environment(threads))
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(threads)


def threads_in_use() -> dict[str, object]:
    """ITK's default thread count in this process and the thread variables of its environment (for the marker)."""
    import SimpleITK as sitk

    return {"itk": sitk.ProcessObject_GetGlobalDefaultNumberOfThreads(),
            **{name: os.environ.get(name) for name in THREAD_ENV_VARS}}


def worker_peak_memory_mb() -> float:
    """The largest resident memory this worker process has used so far (MiB; Linux reports KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def worker_name() -> str:
    """host:pid of the process running the task."""
    return f"{socket.gethostname()}:{os.getpid()}"


def failure_record(job: ImageJob, input_sha256: str, reason: str, kind: str) -> dict:
    """The content of a failure marker."""
    return {"key": job.image.key, "input": str(job.image.path), "input_sha256": input_sha256,
            "settings_sha256": job.settings_sha256, "reason": reason, "kind": kind, "run_id": job.run_id,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "worker": worker_name()}


def process_image(job: ImageJob) -> Outcome:
    """Segment ``job.image`` unless it is complete already; write its outputs and its marker. Never raises for a
    failure of the image itself: the failure is recorded and returned."""
    limit_threads(job.itk_threads)
    start = time.perf_counter()
    state = CohortState(job.out_dir)
    key = job.image.key
    try:
        input_sha256 = file_checksum(job.image.path)
    except OSError as exc:
        reason = f"cannot read the input: {one_line_reason(exc)}"
        state.mark_failed(key, failure_record(job, "", reason, "input"))
        return Outcome(key, "failed", reason, worker=worker_name())
    if state.complete(key, input_sha256, job.settings_sha256):
        return Outcome(key, "skipped", worker=worker_name())
    previous = None if job.retry_failed else state.failed_before(key, input_sha256, job.settings_sha256)
    if previous:
        return Outcome(key, "failed_before", previous["reason"], worker=worker_name())
    state.forget(key)
    try:
        result = run_pipeline(job.image.path, job.atlas_dir, job.options)
        outputs = _write(job, result, state)
    except Exception as exc:  # the image's failure, whatever it is, is recorded and the cohort goes on
        reason = one_line_reason(exc)
        state.mark_failed(key, failure_record(job, input_sha256, reason, "pipeline"))
        return Outcome(key, "failed", reason, time.perf_counter() - start, worker_name())
    seconds = time.perf_counter() - start
    state.mark_done(key, {"key": key, "input": str(job.image.path), "input_sha256": input_sha256,
                          "settings_sha256": job.settings_sha256, "run_id": job.run_id, "seconds": round(seconds, 2),
                          "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "worker": worker_name(), "worker_peak_memory_mb": worker_peak_memory_mb(),
                          "atlas_sex": job.options.sex, "threads": threads_in_use()},
                    outputs)
    return Outcome(key, "done", seconds=seconds, worker=worker_name())


def _write(job: ImageJob, result: PipelineResult, state: CohortState) -> dict[str, Path]:
    """The image's outputs in its layout; returns output name → final path."""
    if job.layout == "bids":
        from .bids_derivatives import write_derivatives

        staging = state.staging_dir(job.image.key)
        try:
            return write_derivatives(result, job.image, job.out_dir, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return write_outputs(result, job.out_dir / job.image.key)
