"""Facts about the machine a benchmark ran on: CPU model, cores, RAM, SIMD flags, GPU, and a
measured float32 matmul peak that puts latencies in proportion."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from convbench.records import MachineInfo

# Flags that decide which kernels TF/XNNPACK/ORT pick: VNNI is what makes int8 fast.
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def measure_sgemm_peak_gflops(threads: int, size: int = 1024, repeats: int = 5) -> float:
    """Best-of-`repeats` GFLOP/s of a size x size float32 matmul (2*n^3 flops) with the BLAS
    library limited to `threads` threads."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    with threadpool_limits(limits=threads, user_api="blas") as limits:
        if not limits.get_original_num_threads().get("blas"):
            # threadpoolctl found no BLAS: the thread limit would silently not apply.
            raise RuntimeError("threadpoolctl finds no BLAS library behind numpy; cannot limit its threads")
        np.matmul(a, b, out=out)  # warm-up: thread pool start, page faults on `out`
        best_s = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best_s = min(best_s, time.perf_counter() - start)
    return 2 * size**3 / best_s / 1e9


def _cpuinfo() -> dict[str, str]:
    """The first processor's 'key: value' lines from /proc/cpuinfo ({} off Linux)."""
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if not line.strip():
            break  # end of the first processor block
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def _os_name() -> str:
    """The distribution's PRETTY_NAME (os-release), else the system's name and release."""
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:  # no os-release file (macOS, Windows, some containers)
        return f"{platform.system()} {platform.release()}"


def machine_info() -> MachineInfo:
    import psutil
    from threadpoolctl import threadpool_info

    from convbench.runtimes.gpu import gpu_driver_version, gpu_names

    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    gpus = gpu_names()
    return MachineInfo(
        cpu_model=cpu.get("model name") or platform.processor() or platform.machine(),
        logical_cores=os.cpu_count(),
        usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        physical_cores=psutil.cpu_count(logical=False),
        ram_gib=round(psutil.virtual_memory().total / 2**30, 2),
        cpu_flags={f: f in flags for f in FLAGS_OF_INTEREST},
        gpu_name=gpus[0] if gpus else None,
        gpu_driver=gpu_driver_version(),
        os_name=_os_name(),
        # threadpoolctl's own dict keys: a third-party reading, not a convbench record
        blas=[f"{i['internal_api']} {i.get('version')} {i.get('architecture')}"
              for i in threadpool_info() if i["user_api"] == "blas"],
        platform=platform.platform(),
        python=platform.python_version(),
    )
