"""Facts about the machine a benchmark ran on: CPU model, cores, RAM, SIMD flags, GPU (the
measured roofs that put latencies in proportion are benchmarks/roofs.py's)."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from convbench.core.records import MachineInfo

# Flags that decide which kernels TF/XNNPACK/ORT pick: VNNI is what makes int8 fast.
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_int8",
                     "asimd", "asimddp")


def cpuinfo() -> dict[str, str]:
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


def cpu_flags(info: dict[str, str] | None = None) -> set[str]:
    """The first processor's SIMD flags (x86 'flags', Arm 'Features')."""
    info = cpuinfo() if info is None else info
    return set((info.get("flags") or info.get("Features") or "").split())


def cpu_id(info: dict[str, str] | None = None) -> str | None:
    """What the CPU is, beyond its marketing name (a VM's "AMD EPYC" was a Zen 2 one day and a
    Zen 5 the next): x86 vendor, family, model and stepping; Arm implementer, part and variant."""
    info = cpuinfo() if info is None else info
    keys = ("vendor_id", "cpu family", "model", "stepping") if "vendor_id" in info else \
        ("CPU implementer", "CPU part", "CPU variant", "CPU revision")
    parts = [f"{k} {info[k]}" for k in keys if info.get(k)]
    return ", ".join(parts) or None


def private_cache_bytes(cpu: int = 0) -> int | None:
    """The largest data cache that `cpu` has to itself (L2 on most x86 cores), from sysfs: a
    cache level listed by Linux with only this CPU in its shared_cpu_list. None where Linux does
    not say (no sysfs, or every level shared)."""
    sizes = []
    for index in sorted(Path(f"/sys/devices/system/cpu/cpu{cpu}/cache").glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        number = re.fullmatch(r"(\d+)([KMG]?)", size)
        if kind in ("Data", "Unified") and shared == str(cpu) and number:
            sizes.append(int(number[1]) << {"": 0, "K": 10, "M": 20, "G": 30}[number[2]])
    return max(sizes, default=None)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _os_name() -> str:
    """The distribution's PRETTY_NAME (os-release), else the system's name and release."""
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:  # no os-release file (macOS, Windows, some containers)
        return f"{platform.system()} {platform.release()}"


def machine_info() -> MachineInfo:
    import psutil
    from threadpoolctl import threadpool_info

    from convbench.core.runtimes.gpu import gpu_driver_version, gpu_names

    cpu = cpuinfo()
    flags = cpu_flags(cpu)
    gpus = gpu_names()
    return MachineInfo(
        cpu_model=cpu.get("model name") or platform.processor() or platform.machine(),
        logical_cores=os.cpu_count(),
        usable_cores=usable_cores(),
        physical_cores=psutil.cpu_count(logical=False),
        ram_gib=round(psutil.virtual_memory().total / 2**30, 2),
        cpu_flags={f: f in flags for f in FLAGS_OF_INTEREST},
        cpu_id=cpu_id(cpu),
        gpu_name=gpus[0] if gpus else None,
        gpu_driver=gpu_driver_version(),
        os_name=_os_name(),
        # threadpoolctl's own dict keys: a third-party reading, not a convbench record
        blas=[f"{i['internal_api']} {i.get('version')} {i.get('architecture')}"
              for i in threadpool_info() if i["user_api"] == "blas"],
        platform=platform.platform(),
        python=platform.python_version(),
    )
