"""What the CPU promises on paper: per precision, the widest instruction its flags name, times
the usable cores and a clock (shown beside the measured roofs, never divided by). Nothing is
assumed about a CPU family: a precision whose instruction is not in the flags gets no peak."""

from __future__ import annotations

from convbench.benchmarks.machine import cpuinfo
from convbench.core.records import TheoreticalPeak

# (flag, precision, instruction, ops per instruction), the widest first for each precision.
# One MAC = 2 ops. Without VNNI, int8 takes three instructions (vpmaddubsw + vpmaddwd + vpaddd)
# whose throughput the flags do not tell: no int8 peak is given then.
INSTRUCTIONS = (
    ("avx512f", "fp32", "AVX-512 FMA (zmm: 16 fp32 lanes)", 32),
    ("fma", "fp32", "AVX2 FMA (ymm: 8 fp32 lanes)", 16),
    ("asimd", "fp32", "NEON FMLA (q: 4 fp32 lanes)", 8),
    ("avx512_vnni", "int8", "AVX512-VNNI VPDPBUSD (zmm: 64 u8 x s8 MACs)", 128),
    ("avx_vnni", "int8", "AVX-VNNI VPDPBUSD (ymm: 32 u8 x s8 MACs)", 64),
    ("asimddp", "int8", "NEON SDOT (q: 16 s8 x s8 MACs)", 32),
    ("avx512_bf16", "bf16", "AVX512-BF16 VDPBF16PS (zmm: 32 bf16 MACs)", 64),
    ("avx512_fp16", "fp16", "AVX512-FP16 FMA (zmm: 32 fp16 lanes)", 64),
)


def clock() -> tuple[float | None, str]:
    """cpufreq's max clock where the kernel exposes it (bare metal), else /proc/cpuinfo's 'cpu
    MHz', which under a hypervisor (KVM here) is the base or current clock, not the boost."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as fh:
            return int(fh.read()) * 1e3, "cpufreq max"
    except (OSError, ValueError):
        mhz = cpuinfo().get("cpu MHz")
        return (float(mhz) * 1e6, "/proc/cpuinfo MHz (base or current clock; boost unknown)") if mhz else (None,
                                                                                                            "unknown")


def theoretical_peaks(flags: set[str], cores: int) -> list[TheoreticalPeak]:
    hz, source = clock()
    peaks, seen = [], set()
    for flag, precision, instruction, ops in INSTRUCTIONS:
        if flag in flags and precision not in seen:
            seen.add(precision)
            peaks.append(TheoreticalPeak(precision=precision, instruction=instruction, ops_per_instruction=ops,
                                         cores=cores, clock_hz=hz, clock_source=source))
    return peaks
