"""The worker pool: results in job order, a failing job does not stop the others, a dead
worker is a clear error. Jobs are stdlib functions so spawned workers can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from convbench.core.workers import Job, WorkerDied, run_jobs


@pytest.mark.parametrize("workers", [0, 2])
def test_results_come_back_in_job_order(workers):
    jobs = [Job(f"len{i}", len, ("x" * i,)) for i in range(5)]
    assert run_jobs(jobs, workers, "test", progress=False) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_failing_job_is_raised_after_the_others_finish(tmp_path, workers):
    jobs = [Job("bad", int, ("not a number",)), Job("write", Path.write_text, (tmp_path / "done.txt", "ok"))]
    with pytest.raises(ValueError, match="not a number"):
        run_jobs(jobs, workers, "test", progress=False)
    assert (tmp_path / "done.txt").read_text() == "ok"


def test_a_worker_that_dies_is_a_clear_error_naming_every_unfinished_job():
    # One worker: the first job kills it, the other four were queued behind it.
    jobs = [Job("exit", os._exit, (3,))] + [Job(f"sleep{i}", time.sleep, (1,)) for i in range(4)]
    with pytest.raises(WorkerDied, match="worker process died.*run the command again") as err:
        run_jobs(jobs, 1, "test", progress=False)
    assert all(job.label in str(err.value) for job in jobs)
