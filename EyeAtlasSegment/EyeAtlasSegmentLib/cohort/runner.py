"""Running a cohort: one ``tasks.process_image`` per image on Dask, progress as they finish, then the cohort table,
the failures and the HTML report. Safe to re-run (also after ``kill -9``): complete images are skipped."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..atlas import resolve_atlas_folder
from ..engines import get_engine
from ..errors import one_line_reason
from ..pipeline import PipelineOptions
from .inputs import Cohort
from .progress import CohortProgress
from .report_html import REPORT_FILE, write_cohort_report
from .resume import CohortState, file_checksum, settings_fingerprint
from .scheduler import DaskSettings, connect
from .table import COLUMNS, FAILURE_COLUMNS, build_tables, write_parquet, write_tsv
from .tasks import ImageJob, Outcome, failure_record, process_image

STATS_TABLE = "cohort_stats.tsv"
STATS_PARQUET = "cohort_stats.parquet"
FAILURES_TABLE = "cohort_failures.tsv"
WORKER_DIED = "the worker segmenting it died twice (a crash inside ITK, or out of memory: see --memory-limit)"


@dataclass
class CohortRun:
    """What a run did and where its tables are."""

    counts: dict[str, int]
    summary: str
    stats_table: Path
    failures_table: Path
    report: Path
    parquet: Path | None

    @property
    def failed(self) -> int:
        return self.counts["failed"] + self.counts["failed_before"]


def run_cohort(cohort: Cohort, atlas_dir: Path, out_dir: Path, options: PipelineOptions, dask: DaskSettings,
               retry_failed: bool = False, quiet: bool = False, command: str = "") -> CohortRun:
    """Segment every image of ``cohort`` into ``out_dir`` (BIDS derivatives for a BIDS input, else one folder per
    image) and write the cohort table, failures and report there."""
    out_dir = Path(out_dir).expanduser().resolve()
    state = CohortState(out_dir)
    start = time.perf_counter()
    layout = "bids" if cohort.kind == "bids" else "folders"
    if isinstance(options.engine, str):  # resolved once here: an unknown or missing engine fails before any task
        options = dataclasses.replace(options, engine=get_engine(options.engine))
    with state.lock():
        state.remove_stale_staging()
        atlas_sha256 = {sex: file_checksum(resolve_atlas_folder(atlas_dir, sex))
                        for sex in sorted({image.sex for image in cohort.images})}
        if layout == "bids":
            from .bids_derivatives import write_dataset_description

            write_dataset_description(out_dir, cohort.root, command)
        run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{os.getpid()}"
        jobs = []
        for image in cohort.images:
            image_options = dataclasses.replace(options, sex=image.sex)
            jobs.append(ImageJob(image, Path(atlas_dir), image_options, out_dir, layout,
                                 settings_fingerprint(image_options, atlas_sha256[image.sex], layout), run_id,
                                 itk_threads=1, retry_failed=retry_failed))
        for note in cohort.notes:
            print(note, file=sys.stderr)
        not_run: dict[str, str] = {}
        with connect(dask) as connection:
            print(f"dask: {connection.description}; dashboard: {connection.dashboard}", file=sys.stderr, flush=True)
            jobs = [dataclasses.replace(job, itk_threads=connection.itk_threads) for job in jobs]
            progress = CohortProgress(len(jobs), quiet)
            try:
                for job, outcome in _run_jobs(connection.client, jobs, state):
                    if outcome.status == "failed" and outcome.reason.startswith("not run: "):
                        not_run[job.image.key] = outcome.reason
                    progress.update(outcome)
            finally:
                progress.close()
        rows, failures, entries = build_tables(cohort.images, state, {j.image.key: j.settings_sha256 for j in jobs},
                                               not_run)
        summary = progress.summary(time.perf_counter() - start)
        stats_table = write_tsv(out_dir / STATS_TABLE, COLUMNS, rows)
        parquet = write_parquet(out_dir / STATS_PARQUET, rows)
        failures_table = write_tsv(out_dir / FAILURES_TABLE, FAILURE_COLUMNS, failures)
        report = write_cohort_report(out_dir / REPORT_FILE, rows, entries, summary, command)
    return CohortRun(progress.counts, summary, stats_table, failures_table, report, parquet)


def _run_jobs(client, jobs: list[ImageJob], state: CohortState):
    """Submit every job and yield (job, outcome) as they finish, in any order."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    futures = client.map(process_image, jobs, key=[f"segment-{job.image.key}-{job.run_id}" for job in jobs],
                         pure=False)
    job_of = {future.key: job for future, job in zip(futures, jobs)}
    for future in as_completed(futures):
        job = job_of[future.key]
        try:
            outcome = future.result()
        except KilledWorker:
            outcome = _record_worker_death(job, state)
        except Exception as exc:  # the cluster, not the image (task errors are outcomes): not recorded, redone
            outcome = Outcome(job.image.key, "failed", f"not run: {one_line_reason(exc)}")
        future.release()
        yield job, outcome


def _record_worker_death(job: ImageJob, state: CohortState) -> Outcome:
    try:
        input_sha256 = file_checksum(job.image.path)
    except OSError:
        input_sha256 = ""
    state.mark_failed(job.image.key, failure_record(job, input_sha256, WORKER_DIED, "worker_died"))
    return Outcome(job.image.key, "failed", WORKER_DIED)
