"""Machine facts read independently of machine.py, and the float32 matmul peak against a matmul
timed here: nothing is compared with an absolute number that depends on the CPU."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from convbench.benchmarks.machine import FLAGS_OF_INTEREST, machine_info, measure_sgemm_peak_gflops


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="no /proc/cpuinfo on this OS")
def test_cpu_flags_match_what_grep_finds_in_proc_cpuinfo():
    info = machine_info()
    for flag in FLAGS_OF_INTEREST:
        grep = subprocess.run(["grep", "-m1", "-qw", flag, "/proc/cpuinfo"]).returncode == 0
        assert info.cpu_flags[flag] is grep, flag


def test_cores_ram_and_model_come_from_the_os():
    import psutil

    info = machine_info()
    assert info.usable_cores == len(os.sched_getaffinity(0)) and info.logical_cores == os.cpu_count()
    assert info.ram_gib == round(psutil.virtual_memory().total / 2**30, 2)
    if Path("/proc/cpuinfo").exists():
        assert info.cpu_model in Path("/proc/cpuinfo").read_text()


def test_sgemm_peak_matches_a_matmul_timed_here():
    size = 256
    measured = measure_sgemm_peak_gflops(threads=1, size=size, repeats=5)
    from threadpoolctl import threadpool_limits

    a = np.ones((size, size), np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        np.matmul(a, a)
        best = min(_timed(lambda: np.matmul(a, a)) for _ in range(5))
    here = 2 * size**3 / best / 1e9
    # Same operation, same thread count: the two best-of-5 rates agree within noise.
    assert 0.5 < measured / here < 2.0, (measured, here)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
