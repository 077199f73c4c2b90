"""``eye-atlas-segment cohort INPUT --atlas ATLAS --out OUT``: arguments and the command itself."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..errors import EyeAtlasError
from .inputs import DEFAULT_BIDS_SUFFIXES
from .scheduler import JOBQUEUE_CLUSTERS, DaskSettings

#: Single-image options that name one image's own files: meaningless for a whole cohort.
PER_IMAGE_OPTIONS = {"right_centre": "--right-centre", "left_centre": "--left-centre", "noise_roi": "--noise-roi",
                     "noise_scan": "--noise-scan", "repeat": "--repeat"}


def add_cohort_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``cohort`` subcommand's arguments: the input, the single-image options, and where the tasks run."""
    from ..cli import add_input_options, add_run_options

    parser.add_argument("input", type=Path, help="a folder of images, a list file (path [sex [subject]] per line), "
                                                 "or a BIDS dataset")
    add_input_options(parser, "output folder (BIDS derivatives for a BIDS input; else one folder per image)")
    add_run_options(parser)
    cohort = parser.add_argument_group("cohort")
    cohort.add_argument("--bids-suffix", action="append", metavar="SUFFIX",
                        help=f"BIDS anat suffix to segment (repeatable; default {' '.join(DEFAULT_BIDS_SUFFIXES)}), "
                             f"e.g. --bids-suffix T1w --bids-suffix T2w")
    cohort.add_argument("--retry-failed", action="store_true",
                        help="redo images that failed before with the same input and settings")
    dask = parser.add_argument_group("where the tasks run (Dask)")
    dask.add_argument("--workers", type=int, help="worker processes (default: one per core, as memory allows); "
                                                  "with --cluster: workers in all")
    dask.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    dask.add_argument("--cluster", choices=sorted(JOBQUEUE_CLUSTERS), help="start workers as batch jobs "
                                                                           "(dask-jobqueue)")
    dask.add_argument("--memory-limit", help="memory per local worker, e.g. 4GB (default: the machine's ÷ workers)")
    dask.add_argument("--itk-threads", type=int, help="ITK threads per task (default: cores ÷ workers locally, "
                                                      "else 1)")
    dask.add_argument("--dashboard-address", default=":8787", help="Dask dashboard address (default :8787)")
    jobs = parser.add_argument_group("batch jobs (--cluster)")
    jobs.add_argument("--queue", help="queue or partition")
    jobs.add_argument("--account", help="account or project charged")
    jobs.add_argument("--walltime", help="time limit per job, e.g. 04:00:00")
    jobs.add_argument("--job-cores", type=int, default=1, help="cores per job: that many single-threaded workers")
    jobs.add_argument("--job-memory", default="4GB", help="memory per job (default 4GB)")
    jobs.add_argument("--job-extra", action="append", default=[], metavar="DIRECTIVE",
                      help="extra job-script directive, e.g. --job-extra=--gres=tmp:10G (repeatable)")


def dask_settings_from_args(args: argparse.Namespace) -> DaskSettings:
    """Where the tasks run, from parsed ``add_cohort_arguments`` arguments."""
    if args.itk_threads is not None and args.itk_threads < 1:
        raise EyeAtlasError("--itk-threads must be 1 or more")
    return DaskSettings(workers=args.workers, scheduler=args.scheduler, cluster=args.cluster,
                        memory_limit=args.memory_limit, itk_threads=args.itk_threads,
                        dashboard_address=args.dashboard_address, queue=args.queue, account=args.account,
                        walltime=args.walltime, job_cores=args.job_cores, job_memory=args.job_memory,
                        job_extra=args.job_extra)


def run_command(args: argparse.Namespace) -> int:
    """Run the cohort; exit status 0 when every image was segmented, 1 when any failed."""
    from ..cli import options_from_args
    from .inputs import discover
    from .runner import run_cohort

    given = [flag for name, flag in PER_IMAGE_OPTIONS.items() if getattr(args, name, None)]
    if given:
        raise EyeAtlasError(f"{', '.join(given)} name one image's own files or points: not available for a cohort")
    cohort = discover(args.input, args.sex, tuple(args.bids_suffix or DEFAULT_BIDS_SUFFIXES))
    command = shlex.join(["eye-atlas-segment", *sys.argv[1:]] if sys.argv[1:2] == ["cohort"] else sys.argv)
    run = run_cohort(cohort, args.atlas, args.out, options_from_args(args), dask_settings_from_args(args),
                     retry_failed=args.retry_failed, quiet=args.quiet, command=command)
    print(run.summary)
    print(f"table: {run.stats_table}" + (f" (and {run.parquet.name})" if run.parquet else ""))
    print(f"failures: {run.failures_table}\nreport: {run.report}")
    return 1 if run.failed else 0
