"""Is there an NVIDIA GPU on this machine, and how much memory does a process use on it?
Asks NVML (pynvml, from nvidia-ml-py) or nvidia-smi; never imports TensorFlow."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess


def _nvml():
    """The initialised pynvml module, or None when it is not installed or finds no driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # ImportError, or NVMLError when there is no driver
        return None


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[tuple[str, ...], str]:
    """(GPU names, '') or ((), why none was found). Cached: the hardware does not change."""
    nvml = _nvml()
    if nvml is not None:
        names = []
        for i in range(nvml.nvmlDeviceGetCount()):
            name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else name)
        return tuple(names), "" if names else "NVML reports 0 GPUs"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return (), "no NVIDIA GPU: NVML (pynvml) not usable and nvidia-smi not on PATH"
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError) as exc:  # nvidia-smi without a working driver
        return (), f"no NVIDIA GPU: nvidia-smi failed ({exc})"
    names = tuple(line.strip() for line in out.splitlines() if line.strip())
    return names, "" if names else "no NVIDIA GPU: nvidia-smi lists none"


def gpu_names() -> tuple[str, ...]:
    return _probe()[0]


@functools.lru_cache(maxsize=1)
def gpu_driver_version() -> str | None:
    """The NVIDIA driver's version (NVML, else nvidia-smi); None where there is no GPU."""
    if not gpu_names():
        return None
    nvml = _nvml()
    if nvml is not None:
        version = nvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else version
    try:
        out = subprocess.run([shutil.which("nvidia-smi") or "nvidia-smi", "--query-gpu=driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    return out.splitlines()[0].strip() if out.strip() else None


def gpu_available() -> tuple[bool, str]:
    """(True, 'GPU name') when an NVIDIA GPU answers, else (False, why not)."""
    names, why = _probe()
    return (True, names[0]) if names else (False, why)


def nvml_process_used_mib(pid: int | None = None) -> float | None:
    """GPU memory NVML reports for process `pid` (default: this one) on all GPUs, in MiB;
    None without NVML. A snapshot at call time, not a peak."""
    nvml = _nvml()
    if nvml is None:
        return None
    pid = os.getpid() if pid is None else pid
    used = 0
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == pid and proc.usedGpuMemory is not None:
                used += proc.usedGpuMemory
    return used / 2**20
