"""What the CPU promises on paper: model, SIMD flags, a clock, and the theoretical peak per
precision that follows from them (shown beside the measured roofs, never used to divide by).
Read from /proc/cpuinfo and /sys; nothing is assumed about a CPU family."""

from __future__ import annotations

import os
from dataclasses import dataclass


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class Peak:
    """Theoretical peak = cores x clock x ops per instruction x units per core. The units
    (how many such instructions a core retires per cycle) are not in the CPU flags, so
    `units_per_core` stays None and the peak is given per unit; `implied_units` divides the best
    one-thread measurement by one unit's peak (above the true unit count when the clock is a
    base clock and the core boosts)."""
    precision: str
    instruction: str
    ops_per_instruction: int
    clock_hz: float | None
    clock_source: str
    cores: int
    units_per_core: int | None = None
    implied_units: float | None = None

    @property
    def per_unit_ops_per_s(self) -> float | None:
        return self.cores * self.clock_hz * self.ops_per_instruction if self.clock_hz else None



def machine_facts() -> dict:
    from importlib import metadata

    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    versions = {}
    for dist in ("ai-edge-litert", "onnxruntime", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"cpu_model": info.get("model name", "unknown"), "cpu_family": info.get("cpu family"),
            "cpu_model_number": info.get("model"), "usable_cores": usable_cores(),
            "flags": sorted(flags & {"avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni",
                                     "avx512_bf16", "avx512_fp16", "amx_int8", "amx_bf16"}),
            "clock_hz": _clock()[0], "clock_source": _clock()[1], "versions": versions}


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in open("/proc/cpuinfo").read().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def _clock() -> tuple[float | None, str]:
    """cpufreq's max clock when the kernel exposes it (bare metal), else /proc/cpuinfo's 'cpu
    MHz', which under a hypervisor (KVM here) is the base/TSC clock, not the boost clock."""
    try:
        return int(open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read()) * 1e3, "cpufreq max"
    except (OSError, ValueError):
        mhz = _cpuinfo().get("cpu MHz")
        return (float(mhz) * 1e6, "cpuinfo MHz (base/current clock; boost unknown)") if mhz else (None, "unknown")


def theoretical_peaks(machine: dict, measurements) -> tuple[Peak, ...]:
    """Per precision, the widest instruction the flags promise. Ops per instruction:
    FMA = 2 x lanes; VPDPBUSD = 4 u8*s8 MACs per 32-bit lane = 8 x lanes; VDPBF16PS = 2 bf16
    MACs per fp32 lane = 4 x lanes; AVX512-FP16 FMA = 2 x 32 lanes. Without VNNI, int8 needs
    a multi-instruction sequence (vpmaddubsw + vpmaddwd + vpaddd): no peak is given."""
    flags, cores = set(machine.get("flags", ())), machine.get("usable_cores", 1)
    clock, source = machine.get("clock_hz"), machine.get("clock_source", "unknown")
    table = []
    if "avx512f" in flags:
        table.append(("fp32", "AVX-512 FMA (zmm, 16 fp32 lanes)", 32))
    elif "fma" in flags:
        table.append(("fp32", "AVX2 FMA (ymm, 8 fp32 lanes)", 16))
    if "avx512_vnni" in flags:
        table.append(("int8", "AVX512-VNNI VPDPBUSD (zmm, 64 u8*s8 MACs)", 128))
    elif "avx_vnni" in flags:
        table.append(("int8", "AVX-VNNI VPDPBUSD (ymm, 32 u8*s8 MACs)", 64))
    if "avx512_bf16" in flags:
        table.append(("bf16", "AVX512-BF16 VDPBF16PS (zmm, 32 bf16 MACs)", 64))
    if "avx512_fp16" in flags:
        table.append(("fp16", "AVX512-FP16 FMA (zmm, 32 fp16 lanes)", 64))
    peaks = []
    for precision, instruction, ops in table:
        one = [m.ops_per_s for m in measurements if m.precision == precision and m.threads == 1]
        implied = round(max(one) / (clock * ops), 2) if one and clock else None
        peaks.append(Peak(precision, instruction, ops, clock, source, cores, None, implied))
    return tuple(peaks)
