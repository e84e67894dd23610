"""What running the tests in parallel (pytest-xdist) needs. An expensive test input built once per
run: without xdist a session fixture already is; with it, each worker has its own session, so
the folder is built under a file lock in the run's temp root, which all workers share: the first
worker to ask builds it, the others wait for it and reuse it. Tests read it; a test that writes
into one takes a copy first. Each worker kept to its own CPUs, and a `timed` test run while the
other workers wait."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
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


class CpuTurns:
    """Under pytest-xdist, each test's turn on the machine: shared with the other workers' tests,
    or, for a test marked `timed`, alone. A timed check (ONNX Runtime's per-layer sum against the
    whole model) fails while another worker trains on the other CPU, each kept to its own CPU:
    3 of 8 runs of test_roofline's per-layer tests beside an optimize run failed, 0 of 8 alone.
    Every test holds the run's CPU lock shared while it runs; a timed test holds it exclusively
    and, from the moment it asks, the gate every test passes to start, so that no other test
    starts meanwhile. It waits at most `alone_wait_s` for the tests already running (a module
    fixture can take minutes), then runs beside them; consecutive timed tests keep the turn.
    Without xdist, no locks."""

    def __init__(self, config: pytest.Config, alone_wait_s: float = 30.0):
        basetemp = getattr(config.option, "basetemp", None)
        # The run's temp root: a worker's basetemp is <root>/popen-gwN.
        self.root = Path(basetemp).parent if hasattr(config, "workerinput") and basetemp else None
        self.alone_wait_s = alone_wait_s
        self._held = None  # this worker's open (gate, lock) files during a turn

    def begin(self, alone: bool) -> None:
        if self.root is None or self._held is not None:  # no xdist, or the timed turn kept
            return
        gate, lock = open(self.root / "cpu-turn.gate", "a"), open(self.root / "cpu-turn.lock", "a")
        fcntl.flock(gate, fcntl.LOCK_EX)
        if alone:
            deadline = time.monotonic() + self.alone_wait_s
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        break  # beside the running tests; still no new one starts
                    time.sleep(0.05)
        else:
            fcntl.flock(lock, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        self._held = gate, lock

    def end(self, keep: bool = False) -> None:
        """End this worker's turn; `keep`: a timed turn kept for the next test, also timed."""
        if self._held is None or keep:
            return
        gate, lock = self._held
        self._held = None
        for f in (lock, gate):
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
