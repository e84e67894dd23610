"""Machine facts and the float32 matmul peak."""

from __future__ import annotations

import os

from convbench.benchmarks.machine import FLAGS_OF_INTEREST, machine_info, measure_sgemm_peak_gflops


def test_sgemm_peak_is_plausible():
    gflops = measure_sgemm_peak_gflops(threads=1, size=256, repeats=3)
    # Any x86-64 core since 2010 does > 1 GFLOP/s; 1 TFLOP/s from one core would be a timing bug.
    assert 1 < gflops < 1000


def test_machine_info_fields():
    info = machine_info()
    assert info["cpu_model"]
    assert info["logical_cores"] == os.cpu_count()
    assert 1 <= info["usable_cores"] <= info["logical_cores"]
    assert info["ram_gib"] > 0.5
    assert set(info["cpu_flags"]) == set(FLAGS_OF_INTEREST)
    assert all(isinstance(v, bool) for v in info["cpu_flags"].values())
    assert info["gpu_name"] is None or isinstance(info["gpu_name"], str)
