"""Measures a machine's roofs (records.roofs) without TensorFlow on the CPU: a large GEMM and a
convolution per precision run by the runtimes that are benchmarked (XNNPACK through LiteRT, MLAS
through ONNX Runtime) and numpy's BLAS, each on one thread and on every usable core, plus a
streaming triad for memory bandwidth and the theoretical peaks the CPU flags promise. On a GPU
host the same for the GPU (benchmarks/roof_probes_gpu.py).

A bench run measures them in a child process (`measure_in_child`: the probes and triad arrays
peak at ~0.4 GB, which stays out of the benchmark process) before its first row and after its
last. Measured 2026-11 on a 2-core Zen 5: 4-6 s quiet, up to ~19 s when other processes held the
cores (a second attempt then runs and is pooled).

On this machine alone: convbench inspect roofs [--quick] [--devices cpu gpu] [--json OUT]
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# OpenBLAS's idle threads busy-wait for 2^28 cycles by default, starving the next interleaved
# probe of a core; 2^4 lets them sleep at once (the probes' GEMMs take ms). OpenBLAS reads it when
# numpy loads it: this module loads numpy first in `python -m convbench.benchmarks.roofs`, the
# child in which a run (and `convbench inspect roofs`) measures the roofs (measure_in_child).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

from convbench.benchmarks.cpu_peak import theoretical_peaks  # noqa: E402
from convbench.core.child import child_python  # noqa: E402
from convbench.benchmarks.machine import FLAGS_OF_INTEREST, cpu_flags, cpuinfo, usable_cores  # noqa: E402
from convbench.core.records import (BandwidthMeasurement, DeviceRoofs, RoofMeasurement, RunRoofs,  # noqa: E402
                               read_record, write_record)

GEMM_MKN = (512, 1024, 1024)    # 1.07 Gop: 4 ms fp32 / 1 ms int8 on one Zen 5 core; far beyond L2
CONV_HWC_K = (30, 128, 3)       # 30x30x128 in, 128 out, 3x3 valid: 0.23 Gop
TRIAD = "STREAM triad a = b + s*c (float64; 3 x 8 bytes per element, write-allocate not counted)"


@dataclass(frozen=True)
class RoofBudget:
    """`rounds` interleaved rounds of about `round_s` per probe (best time kept); more attempts,
    pooled, while other processes used more than `quiet_share` of the CPU."""

    rounds: int = 5
    round_s: float = 0.015
    attempts: int = 2
    quiet_share: float = 0.1
    triad_repeats: int = 4


DEFAULT_BUDGET = RoofBudget()
QUICK_BUDGET = RoofBudget(rounds=2, round_s=0.006, attempts=1, triad_repeats=1)


def measure_cpu_roofs(budget: RoofBudget = DEFAULT_BUDGET) -> DeviceRoofs:
    """Interleaving spreads each probe over the whole window, so a burst of load from another
    process spoils one round of every probe rather than all rounds of one. Other processes that
    hold a core starve the multi-thread probes (2-thread roofs fell to the 1-thread level at 50 %
    foreign load), hence the extra attempts."""
    roofs = _measure_cpu_once(budget)
    for _ in range(budget.attempts - 1):
        if roofs.foreign_cpu_share is not None and roofs.foreign_cpu_share <= budget.quiet_share:
            break
        roofs = roofs.pooled_with(_measure_cpu_once(budget))
    return roofs


def _measure_cpu_once(budget: RoofBudget) -> DeviceRoofs:
    from convbench.benchmarks import roof_probes

    start, own0, busy0 = time.perf_counter(), time.process_time(), _busy_cpu_seconds()
    measurements, not_measured = [], {}
    for threads in sorted({1, usable_cores()}):  # one thread count's probes alive at a time
        probes, not_measured = roof_probes.make_probes([threads], GEMM_MKN, CONV_HWC_K)
        measurements += time_probes(probes, budget)
        del probes
    bandwidth = [measure_triad(t, repeats=budget.triad_repeats) for t in sorted({1, usable_cores()})]
    wall, own = time.perf_counter() - start, time.process_time() - own0
    foreign = (_busy_cpu_seconds() - busy0 - own) / (wall * (os.cpu_count() or 1))  # nan: not known
    info, flags = cpuinfo(), cpu_flags()
    return DeviceRoofs(device="cpu", name=info.get("model name", "unknown CPU"), usable_cores=usable_cores(),
                       flags=sorted(flags & set(FLAGS_OF_INTEREST)), measurements=measurements,
                       bandwidth=bandwidth, peaks=theoretical_peaks(flags, usable_cores()), not_measured=not_measured,
                       foreign_cpu_share=None if math.isnan(foreign) else round(min(max(foreign, 0.0), 1.0), 3),
                       seconds=round(wall, 2))


# A probe this far below the fastest of its precision after its first timed call cannot become
# the roof (MLAS s8s8 ran 51 Gop/s where u8s8 ran 980 on Zen 5): it is not timed further.
HOPELESS = 0.2


def time_probes(probes: dict, budget: RoofBudget) -> list[RoofMeasurement]:
    best, runs, reps = {}, {}, {}
    for key, probe in probes.items():  # warm-up (weight packing, thread pools), then calibration
        probe.run()
        best[key], runs[key] = time_once(probe.run), 1
        reps[key] = max(1, int(budget.round_s / max(best[key], 1e-6)))
    top = {}
    for key, probe in probes.items():
        top[probe.precision] = max(top.get(probe.precision, 0.0), probe.ops / best[key])
    timed = [k for k, p in probes.items() if p.ops / best[k] >= HOPELESS * top[p.precision]]
    for _ in range(budget.rounds):
        for key in timed:
            for _ in range(reps[key]):
                best[key] = min(best[key], time_once(probes[key].run))
                runs[key] += 1
    return [RoofMeasurement(precision=p.precision, method=p.method, threads=p.threads, ops=p.ops, seconds=best[k],
                            runs=runs[k]) for k, p in probes.items()]


def time_once(run) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def _busy_cpu_seconds() -> float:
    """Non-idle CPU seconds of the whole machine (all processes) from /proc/stat; nan off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")   # user..steal (guest is inside user)


def measure_triad(threads: int, array_bytes: int | None = None, repeats: int = 4) -> BandwidthMeasurement:
    """Best-of-`repeats` triad over arrays twice the L3, computed in 256 KiB chunks so that the
    s*c temporary stays in cache: DRAM sees read b, read c, write a, as in STREAM. Threads
    split the arrays (numpy releases the GIL in ufuncs)."""
    from concurrent.futures import ThreadPoolExecutor

    if array_bytes is None:
        array_bytes = max(2 * _l3_bytes(), 64 * 2**20)
    n = array_bytes // 8
    a, b, c = np.zeros(n), np.full(n, 1.0), np.full(n, 2.0)   # every page touched before timing
    chunk, s = 1 << 15, 3.0
    bounds = np.linspace(0, n, threads + 1).astype(int)

    def part(lo: int, hi: int) -> None:
        for i in range(lo, hi, chunk):
            j = min(i + chunk, hi)
            np.multiply(c[i:j], s, out=a[i:j])
            np.add(a[i:j], b[i:j], out=a[i:j])

    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats + 1):  # the first pass warms up
            t0 = time.perf_counter()
            list(pool.map(part, bounds[:-1], bounds[1:]))
            best = min(best, time.perf_counter() - t0)
    return BandwidthMeasurement(method=f"{TRIAD}, 3 x {array_bytes >> 20} MiB", threads=threads,
                                bytes_per_s=3 * 8 * n / best, array_bytes=int(array_bytes))


def _l3_bytes() -> int:
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip()
        return int(text.rstrip("K")) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        return 32 * 2**20


def measure_roofs(devices=("cpu",), budget: RoofBudget = DEFAULT_BUDGET) -> RunRoofs:
    """Every device's roofs (as `at_start`); a device without roofs is listed with the reason."""
    from convbench.core.runtimes.gpu import gpu_available

    found, missing = [], {}
    if "cpu" in devices:
        found.append(measure_cpu_roofs(budget))
    if "gpu" in devices:
        ok, why = gpu_available()
        if ok:
            from convbench.benchmarks.roof_probes_gpu import measure_gpu_roofs

            found.append(measure_gpu_roofs(why, budget))
        else:
            missing["gpu"] = why
    return RunRoofs(at_start=found, not_measured=missing)


def measure_in_child(devices=("cpu",), quick: bool = False) -> RunRoofs:
    """measure_roofs in a fresh `python -m convbench.benchmarks.roofs`; its failure is an error
    naming the child's last words (a run without roofs would divide by nothing)."""
    with tempfile.TemporaryDirectory(prefix="convbench-roofs-") as tmp:
        out = Path(tmp) / "roofs.json"
        cmd = child_python("-m", "convbench.benchmarks.roofs", str(out), "quick" if quick else "full", *devices)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"measuring the roofs failed (exit {done.returncode}): {' | '.join(tail)}")
        return read_record(out, RunRoofs)


def summary_lines(roofs: DeviceRoofs) -> list[str]:
    lines = [f"{roofs.device}: {roofs.name}, {roofs.usable_cores} usable cores, flags {' '.join(roofs.flags)}; "
             f"{roofs.seconds} s, {roofs.attempts} attempt(s), other processes used "
             f"{100 * (roofs.foreign_cpu_share or 0):.0f} % of the CPU meanwhile"]
    for m in sorted(roofs.measurements, key=lambda m: (m.precision, m.threads or 0, -m.ops_per_s)):
        lines.append(f"  {m.precision:5} {m.threads or 'gpu'}t {m.ops_per_s / 1e9:8.1f} Gop/s ({m.runs:3d} runs) "
                     f"{m.method}")
    lines += [f"  bandwidth {b.threads or 'gpu'}t {b.bytes_per_s / 1e9:.1f} GB/s: {b.method}" for b in roofs.bandwidth]
    for p in roofs.peaks:
        units = roofs.implied_units(p)
        lines.append(f"  theoretical {p.precision}: {p.instruction} x {p.cores} cores x "
                     f"{(p.clock_hz or 0) / 1e9:.2f} GHz [{p.clock_source}] = "
                     f"{(p.per_unit_ops_per_s or 0) / 1e9:.0f} Gop/s with one unit per core"
                     + (f"; the 1-thread roof needs {units:.2f} units at this clock" if units else ""))
    return lines + [f"  not measured: {k}: {v}" for k, v in roofs.not_measured.items()]


def _child_main(argv: list[str]) -> int:
    """The child process of measure_in_child; internal, not a user command line (users run
    `convbench inspect roofs`, which starts this child too). argv: OUT.json, quick|full, DEVICE..."""
    out, budget, devices = (argv[0], argv[1], argv[2:]) if len(argv) >= 3 else (None, None, [])
    if budget not in ("quick", "full") or not set(devices) <= {"cpu", "gpu"}:
        print("the roofs' child process of convbench bench; `convbench inspect roofs` measures and prints them")
        return 2
    write_record(Path(out), measure_roofs(tuple(devices), QUICK_BUDGET if budget == "quick" else DEFAULT_BUDGET))
    return 0


if __name__ == "__main__":   # measure_in_child's child process only (see _child_main)
    sys.exit(_child_main(sys.argv[1:]))
