"""Where the tasks run: Dask, on this machine (default), on a running scheduler, or on a batch queue.

- **Local** (default): a ``LocalCluster`` of single-threaded worker processes sized to the machine (one per core,
  fewer if memory is short), each with ITK limited to cores ÷ workers threads, so the cores are not oversubscribed.
- **Scheduler** (``--scheduler tcp://host:8786``): a cluster someone already runs. ITK uses ``--itk-threads``
  (default 1) per task.
- **Batch queue** (``--cluster slurm|pbs|sge|lsf``, dask-jobqueue): jobs of ``--job-cores`` single-threaded workers
  (ITK 1 thread each), ``--workers`` workers in all.

A worker that dies mid-task (a crash inside ITK, out of memory) fails only its task; Dask retries it once
(``allowed-failures`` 1) and then gives it up. With ``--scheduler`` that count is the running scheduler's own setting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import EyeAtlasError
from .tasks import thread_environment

#: Scheduler settings while a cohort runs: retry a task once after its worker died, then give it up; hand each
#: worker only as many tasks as it has threads, so that a dying worker takes no queued task with it.
DASK_CONFIG = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}
#: Memory a worker may need for one whole-head image (measured peak ≈ 1.2 GB at 1 mm, see the README benchmark).
WORKER_MEMORY_BYTES = 2 * 1024 ** 3
#: dask-jobqueue cluster class per ``--cluster`` name.
JOBQUEUE_CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}


@dataclass
class DaskSettings:
    """How to get workers. At most one of ``scheduler`` and ``cluster``; neither means a local cluster."""

    workers: int | None = None  # local: worker processes (default: sized to the machine); batch queue: workers
    scheduler: str | None = None  # address of a running scheduler
    cluster: str | None = None  # one of JOBQUEUE_CLUSTERS
    memory_limit: str | None = None  # per local worker, e.g. "4GB" (default: the machine's memory ÷ workers)
    itk_threads: int | None = None  # per task (default: local cores ÷ workers; elsewhere 1)
    dashboard_address: str = ":8787"  # local and batch-queue schedulers
    queue: str | None = None
    account: str | None = None
    walltime: str | None = None  # e.g. "04:00:00"
    job_cores: int = 1  # cores per batch job: that many single-threaded workers
    job_memory: str = "4GB"  # memory per batch job
    job_extra: list[str] = field(default_factory=list)  # extra scheduler directives, e.g. "--gres=tmp:10G"


def machine_cores() -> int:
    """Cores this process may use (its CPU affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_memory_bytes() -> int:
    import psutil

    return psutil.virtual_memory().total


def local_sizing(workers: int | None, cores: int, memory_bytes: int) -> tuple[int, int]:
    """(worker processes, ITK threads per worker) for a local cluster: one worker per core unless memory allows
    fewer, or ``workers`` when given; the cores are shared out among the workers."""
    if workers is not None and workers < 1:
        raise EyeAtlasError("--workers must be 1 or more")
    count = workers or max(1, min(cores, memory_bytes // WORKER_MEMORY_BYTES))
    return count, max(1, cores // count)


@dataclass
class DaskConnection:
    """A connected client and what it is connected to."""

    client: object  # distributed.Client
    description: str
    itk_threads: int

    @property
    def dashboard(self) -> str:
        link = getattr(self.client, "dashboard_link", None)
        return link or "not available (pip install bokeh)"


@contextmanager
def connect(settings: DaskSettings) -> Iterator[DaskConnection]:
    """A Dask client for the settings; the cluster it started (if any) is closed on exit."""
    try:
        import dask
        from distributed import Client
    except ImportError:
        raise EyeAtlasError("cohorts need Dask: pip install \"eye-atlas-segment[cohort]\"") from None
    if settings.scheduler and settings.cluster:
        raise EyeAtlasError("give either --scheduler or --cluster, not both")
    with dask.config.set(DASK_CONFIG):
        if settings.scheduler:
            try:
                client = Client(settings.scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise EyeAtlasError(f"cannot reach the Dask scheduler at {settings.scheduler}: {exc}") from None
            with client:
                workers = len(client.scheduler_info().get("workers", {}))
                yield DaskConnection(client, f"scheduler {settings.scheduler} ({workers} workers now)",
                                     settings.itk_threads or 1)
            return
        cluster, description, itk_threads = (_jobqueue_cluster(settings) if settings.cluster
                                             else _local_cluster(settings))
        with cluster, Client(cluster) as client:
            yield DaskConnection(client, description, itk_threads)


def _local_cluster(settings: DaskSettings):
    from distributed import LocalCluster

    cores = machine_cores()
    workers, itk_threads = local_sizing(settings.workers, cores, machine_memory_bytes())
    itk_threads = settings.itk_threads or itk_threads
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           memory_limit=settings.memory_limit or "auto", env=thread_environment(itk_threads),
                           dashboard_address=settings.dashboard_address, silence_logs=logging.ERROR)
    return cluster, (f"local cluster: {workers} single-threaded worker processes, {itk_threads} ITK "
                     f"thread{'s' if itk_threads > 1 else ''} each, on {cores} cores"), itk_threads


def jobqueue_cluster_class(name: str):
    """The dask-jobqueue class for a ``--cluster`` name."""
    if name not in JOBQUEUE_CLUSTERS:
        raise EyeAtlasError(f"--cluster must be one of {', '.join(JOBQUEUE_CLUSTERS)}, not {name!r}")
    try:
        import dask_jobqueue
    except ImportError:
        raise EyeAtlasError("--cluster needs dask-jobqueue: pip install \"eye-atlas-segment[cohort]\"") from None
    return getattr(dask_jobqueue, JOBQUEUE_CLUSTERS[name])


def make_jobqueue_cluster(settings: DaskSettings):
    """A dask-jobqueue cluster whose jobs each run ``job_cores`` single-threaded workers, ITK at 1 thread (no jobs
    submitted yet)."""
    cls = jobqueue_cluster_class(settings.cluster)
    prologue = [f"export {name}={value}" for name, value in thread_environment(1).items()]
    account = "account" if settings.cluster in ("slurm", "pbs") else "project"  # dask-jobqueue's names
    options = {key: value for key, value in (("queue", settings.queue), (account, settings.account),
                                             ("walltime", settings.walltime)) if value}
    return cls(cores=settings.job_cores, processes=settings.job_cores, memory=settings.job_memory,
               job_script_prologue=prologue, job_extra_directives=list(settings.job_extra),
               scheduler_options={"dashboard_address": settings.dashboard_address}, silence_logs="error", **options)


def _jobqueue_cluster(settings: DaskSettings):
    cluster = make_jobqueue_cluster(settings)
    workers = settings.workers or settings.job_cores
    cluster.scale(workers)
    return cluster, (f"{settings.cluster} cluster: {workers} single-threaded workers in jobs of {settings.job_cores} "
                     f"core{'s' if settings.job_cores > 1 else ''}, ITK 1 thread each (jobs start as the queue "
                     f"allows)"), 1
