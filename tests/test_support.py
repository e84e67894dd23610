"""The test support itself: no test helper ships in the installed package, a child process a test
starts inherits no pytest options or xdist worker variables (a bench child would refuse `-n`, and
pytest-benchmark disables itself when it sees PYTEST_XDIST_WORKER), and a shared input is built
once and rebuilt after a failed build, an xdist worker keeps to its own CPUs, and a `timed` test
runs while the other workers wait."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from tests.support import CHILD_UNSAFE_ENV, REPO_ROOT
from tests.support.shared import CpuTurns, built_once


def test_no_test_helper_is_installed_with_convbench():
    assert importlib.util.find_spec("convbench.benchmarks.tiny") is None
    assert importlib.util.find_spec("convbench.benchmarks") is not None


def test_a_child_process_inherits_no_pytest_options_or_xdist_variables():
    assert not set(CHILD_UNSAFE_ENV) & set(os.environ)
    code = f"import json, os; print(json.dumps(sorted(set({CHILD_UNSAFE_ENV!r}) & set(os.environ))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_a_shared_input_is_built_once_and_again_after_a_failed_build(request, tmp_path_factory):
    calls = []

    def build(folder):
        calls.append(folder)
        folder.mkdir()
        (folder / "made").write_text(str(len(calls)))

    name = f"support-test-{os.getpid()}"
    first = built_once(request.config, tmp_path_factory, name, build)
    again = built_once(request.config, tmp_path_factory, name, build)
    assert first == again and len(calls) == 1 and (first / "made").read_text() == "1"

    def broken(folder):
        folder.mkdir()
        raise RuntimeError("half-built")

    with pytest.raises(RuntimeError):
        built_once(request.config, tmp_path_factory, f"{name}-retry", broken)
    retried = built_once(request.config, tmp_path_factory, f"{name}-retry", build)
    assert (retried / "made").read_text() == "2"


@pytest.mark.parametrize("worker, count", [("gw0", 2), ("gw1", 2), ("gw0", 1), ("gw3", 64), ("", 2)])
def test_an_xdist_worker_keeps_to_its_own_cpus(worker, count):
    cpus = sorted(os.sched_getaffinity(0))
    code = (f"import os, sys; sys.path.insert(0, {str(REPO_ROOT)!r})\n"
            "from tests.support.shared import keep_this_worker_to_its_own_cpus\n"
            "keep_this_worker_to_its_own_cpus(); print(sorted(os.sched_getaffinity(0)))")
    env = {**os.environ, "PYTEST_XDIST_WORKER": worker, "PYTEST_XDIST_WORKER_COUNT": str(count)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         timeout=60)
    index = int(worker[2:]) if worker else None
    expected = cpus[index::count] if index is not None and count <= len(cpus) else cpus
    assert json.loads(out.stdout) == expected


def test_a_timed_test_waits_for_the_running_ones_and_runs_before_any_later_one(tmp_path):
    worker = SimpleNamespace(workerinput={}, option=SimpleNamespace(basetemp=str(tmp_path / "popen-gw0")))
    events, running, finish = [], threading.Event(), threading.Event()

    def test(name, alone, hold=False, alone_wait_s=30.0):
        turns = CpuTurns(worker, alone_wait_s)  # a worker of its own
        turns.begin(alone)
        events.append(f"{name} starts")
        running.set()
        if hold:
            finish.wait(10)
        events.append(f"{name} ends")
        turns.end()

    def run(*tests) -> list[threading.Thread]:
        threads = []
        for args in tests:
            threads.append(threading.Thread(target=test, args=args))
            threads[-1].start()
            if len(threads) == 1:
                running.wait(10)
            else:
                time.sleep(0.3)  # long enough for it to reach its lock
        return threads

    threads = run(("shared", False, True), ("timed", True), ("later", False))
    assert events == ["shared starts"]  # the timed test waits for the running one, the later one for it
    finish.set()
    for thread in threads:
        thread.join(10)
    assert events == ["shared starts", "shared ends", "timed starts", "timed ends", "later starts", "later ends"]

    for state in (events, running, finish):
        state.clear()
    threads = run(("slow fixture", False, True), ("timed", True, False, 0.2))
    assert events == ["slow fixture starts", "timed starts", "timed ends"]  # waited 0.2 s, then ran beside it
    finish.set()
    for thread in threads:
        thread.join(10)


def test_without_xdist_a_turn_takes_no_lock(tmp_path):
    turns = CpuTurns(SimpleNamespace(option=SimpleNamespace(basetemp=str(tmp_path / "run"))))
    turns.begin(alone=True)
    turns.end()
    assert list(tmp_path.iterdir()) == []
