"""What running the tests in parallel (pytest-xdist) needs. An expensive test input built once per
run: without xdist a session fixture already is; with it, each worker has its own session, so
the folder is built under a file lock in the run's temp root, which all workers share: the first
worker to ask builds it, the others wait for it and reuse it. Tests read it; a test that writes
into one takes a copy first. And each worker kept to its own CPUs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def run_temp_root(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temp folder of the whole run: a worker's basetemp is <run's basetemp>/popen-gwN."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


def built_once(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], object]) -> Path:
    """<run temp root>/shared/<name>, filled by `build(folder)` unless a worker already did. A
    build that raised leaves no `.done` marker: the next worker to ask starts over."""
    root = run_temp_root(config, tmp_path_factory) / "shared"
    root.mkdir(parents=True, exist_ok=True)
    folder, done = root / name, root / f"{name}.done"
    with FileLock(root / f"{name}.lock"):
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            build(folder)
            done.touch()
    return folder


def keep_this_worker_to_its_own_cpus() -> None:
    """Under pytest-xdist with no more workers than CPUs, worker i runs, with every process it
    starts, on CPUs i, i+n, ... only: a timed check in one worker (a bench run's per-layer sums,
    the roofs) shares its CPU with no other worker, and does not move between CPUs (ONNX
    Runtime's per-layer sum on the two-conv net, 20 tries on this 2-CPU VM: 7 outside its
    tolerance free to move, 0 kept to one CPU). Reads the variables xdist sets in a worker
    before it imports tests/conftest.py; elsewhere a no-op."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and worker[2:].isdigit() and count.isdigit()
            and hasattr(os, "sched_setaffinity")):
        return
    cpus, index, count = sorted(os.sched_getaffinity(0)), int(worker[2:]), int(count)
    if count <= len(cpus):
        os.sched_setaffinity(0, cpus[index::count])
