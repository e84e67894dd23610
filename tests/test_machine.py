"""Machine facts read independently of machine.py: nothing is compared with an absolute number
that depends on the CPU (the roofs are tests/test_roofline.py's)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from convbench.benchmarks.machine import FLAGS_OF_INTEREST, machine_info


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


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="no /proc/cpuinfo on this OS")
def test_cpu_id_is_the_first_processors_family_model_and_stepping():
    first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    cpu_id = machine_info().cpu_id
    if "vendor_id" in fields:
        assert cpu_id == (f"vendor_id {fields['vendor_id']}, cpu family {fields['cpu family']}, "
                          f"model {fields['model']}, stepping {fields['stepping']}")
    else:
        assert cpu_id is None or fields.get("CPU part", "-") in cpu_id
