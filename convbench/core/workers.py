"""Run independent jobs (train one model, optimize one model, build one scaling artifact) side by
side in spawned worker processes, with one shared progress bar.

Why processes: fine-tuning small convnets, TFLite conversion and tf2onnx are mostly single-
threaded Python and graph building, so one process keeps about one core busy (measured: two
concurrent lesson5 clustering + CQAT jobs took 86 s, one alone (TF on 2 threads) 79-84 s). Each
worker pins TensorFlow to one intra-op and one inter-op thread: the weights it trains then do
not depend on how many cores the machine has or how many workers run (TF's float sums change
with the thread count; measured on a clustering loss: 0.0147455 with 2 threads, 0.0147461 with
1).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from convbench.core import quiet

TF_THREADS_PER_WORKER = 1
# Peak RSS (VmHWM) of one worker in a cold default optimize (two model jobs, then scaling
# builds, in one process): 4.2 GiB measured, rounded up.
WORKER_MEMORY_GIB = 4.5

_progress_queue = None                           # a worker's line to the parent's bar
_stop = None                                     # set by the parent: start no further job
_inline_tick: Callable[[str], None] | None = None  # the bar itself when jobs run in this process
_WORKER_OUTPUT = contextlib.ExitStack()          # a worker's library output, redirected until it exits


class WorkerDied(RuntimeError):
    """A worker process ended without a result (killed, out of memory, a crash in native code)."""


@dataclass(frozen=True)
class Job:
    label: str
    fn: Callable[..., Any]      # module-level, so spawned workers can import it
    args: tuple = ()
    units: int = 1              # how many times the job calls tick()


def tick(label: str) -> None:
    """Report one unit of a job's progress to the parent's bar (a no-op if nobody listens)."""
    if _progress_queue is not None:
        _progress_queue.put(label)
    elif _inline_tick is not None:
        _inline_tick(label)


def default_workers(n_jobs: int) -> int:
    """One worker per usable core, no more than there are jobs or than memory holds."""
    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    by_memory = int(psutil.virtual_memory().available / 2**30 / WORKER_MEMORY_GIB)
    return max(1, min(cores, n_jobs, by_memory))


def tf_intra_op_threads() -> int:
    """This process's TensorFlow intra-op thread setting (0 = TF's default, one per core)."""
    from convbench.core.tfsetup import tf

    return tf.config.threading.get_intra_op_parallelism_threads()


def run_jobs(jobs: list[Job], workers: int | None, desc: str, progress: bool = True) -> list[Any]:
    """Each job's return value, in job order. workers: None = default_workers(); 0 = run the
    jobs here, one after another (tests, debugging). Failing jobs do not stop the others: all
    finish (and cache what they made), then the first job's exception is raised."""
    from convbench.core.progress import Progress

    if workers is None:
        workers = default_workers(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException | None] = [None] * len(jobs)
    with Progress(sum(j.units for j in jobs), desc, "step", enabled=progress) as bar:
        def finished(index: int) -> None:
            bar.finished(f"{jobs[index].label} done")

        if workers == 0:
            _run_here(jobs, bar.advance, finished, results, errors)
        else:
            _run_in_workers(jobs, workers, bar.advance, finished, results, errors)
    for error in errors:
        if error is not None:
            raise error
    return results


def _run_here(jobs, advance, finished, results, errors) -> None:
    global _inline_tick
    _inline_tick = advance
    try:
        for i, job in enumerate(jobs):
            try:
                results[i] = job.fn(*job.args)
            except Exception as exc:
                errors[i] = exc
            finished(i)
    finally:
        _inline_tick = None


def _run_in_workers(jobs, workers, advance, finished, results, errors) -> None:
    context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
    ticks, stop = context.Queue(), context.Event()

    def drain() -> None:
        while True:
            try:
                advance(ticks.get_nowait())
            except queue.Empty:
                return

    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(ticks, stop, quiet.current_log())) as pool:
        futures = {pool.submit(_call, job.fn, job.args): i for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            _collect(jobs, futures, pending, drain, finished, results, errors)
        except BaseException:
            # Ctrl-C (which the workers also receive) or a dead worker: start nothing new,
            # including the jobs the pool has already handed to a worker's queue.
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        drain()


def _collect(jobs, futures, pending, drain, finished, results, errors) -> None:
    while pending:
        done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
        drain()
        for future in done:
            i = futures[future]
            try:
                results[i] = future.result()
            except BrokenProcessPool:
                # Every job without a result or an error: the dead worker's and all still queued.
                unfinished = [job.label for i, job in enumerate(jobs) if results[i] is None and errors[i] is None]
                raise WorkerDied(
                    f"a worker process died (killed or crashed) with {', '.join(unfinished)} unfinished; "
                    "what finished is cached, run the command again to resume") from None
            except Exception as exc:
                errors[i] = exc
            finished(i)


def _init_worker(ticks, stop, log_path) -> None:
    global _progress_queue, _stop
    _progress_queue, _stop = ticks, stop
    # Everything this worker's libraries print goes to the command's log, for the worker's life
    # (a worker has no output of its own: progress goes through the queue, results as returns).
    _WORKER_OUTPUT.enter_context(quiet.library_output_to(log_path, stdout_too=True))
    # TensorFlow reads these when it creates its thread pools (as tf.config.threading would set
    # them: the same pool sizes, checked), so a job imports TensorFlow only if it uses it; a
    # spawned worker has not imported it yet.
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(TF_THREADS_PER_WORKER)


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    if _stop is not None and _stop.is_set():
        raise RuntimeError("cancelled: the parent was interrupted")
    return fn(*args)
