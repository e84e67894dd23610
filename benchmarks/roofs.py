"""Compute roofs per precision and a memory-bandwidth roof, measured on this machine at the
start of a bench run, without TensorFlow: a large GEMM and a convolution run by the same
runtimes that are benchmarked (XNNPACK through LiteRT, MLAS through ONNX Runtime), plus numpy
BLAS for fp32, each on 1 thread and on every usable core. A row's efficiency divides its
achieved ops/s by `Roofs.roof_for(...)`, whose rule guarantees it never exceeds the fastest
kernel measured here for the precisions that row's kernels may run in.

Ops: one multiply-accumulate = 2 ops for every precision (layer_ops.py). The probes have no
padding, so their count is exact.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from convbench.benchmarks.cpu_peak import Peak, machine_facts, theoretical_peaks, usable_cores

PRECISIONS = ("fp32", "int8", "fp16", "bf16")
GEMM_MKN = (512, 1024, 1024)    # 1.07 GOP: 4 ms fp32 / 1 ms int8 on one Zen 5 core; far beyond L2
CONV_HWC_K = (30, 128, 3)       # 30x30x128 in, 128 out, 3x3 valid: 0.23 GOP

# Which precisions an artifact's compute kernels may run in. The roof of a row is the best
# measured roof over these, so no row can exceed 100 %:
# - fp16 TFLite: fp16 weights pass through DEQUANTIZE (folded at init); XNNPACK on x86 computes
#   fp32. fp16 ONNX: ORT inserts Casts around nodes without fp16 CPU kernels (seen in the
#   optimized graph: InsertedPrecisionFreeCast + fp32 NCHWc Conv). Both may also run true
#   fp16 kernels on CPUs that have them, hence (fp32, fp16).
# - dynamic range: XNNPACK runs conv/FC as int8 GEMMs on dynamically quantized inputs (lesson5
#   conv at 880 Gop/s, int8 speed); small layers stay fp32; ORT's ConvInteger/MatMulInteger
#   are int8. Hence (fp32, int8).
# - full-integer TFLite: every conv/FC is an int8 kernel; only (de)quantize touches floats.
# - ONNX QDQ: ORT fuses the supported patterns into QLinearConv/QGemm (int8) and leaves the
#   rest as DQ -> fp32 op -> Q, hence (int8, fp32): on a CPU without VNNI, where the int8
#   roof can be below fp32, the fp32 roof then bounds the row.
# - keras (TensorFlow/oneDNN): fp32 (TF would need an explicit bf16 mode to use bf16).
ARTIFACT_PRECISIONS = {
    "keras": ("fp32",), "tflite_fp32": ("fp32",), "onnx_fp32": ("fp32",),
    "tflite_fp16": ("fp32", "fp16"), "onnx_fp16": ("fp32", "fp16"),
    "tflite_dynamic": ("fp32", "int8"), "onnx_dynamic": ("fp32", "int8"),
    "tflite_int8": ("int8",), "tflite_int8_io": ("int8",),
    "onnx_int8": ("int8", "fp32"), "onnx_static_qdq": ("int8", "fp32"),
}


@dataclass(frozen=True)
class Measurement:
    """One probe: `ops` operations in `seconds` (best of all its runs)."""
    precision: str
    method: str          # e.g. "litert FULLY_CONNECTED int8 512x1024x1024"
    threads: int
    ops: int
    seconds: float
    runs: int

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds


@dataclass(frozen=True)
class Roof:
    precision: str
    ops_per_s: float
    threads: int
    method: str          # the measurement that won


@dataclass(frozen=True)
class Triad:
    """a = b + s*c over float64 arrays; bytes counted as STREAM does: 3 x 8 per element
    (read b, read c, write a). Write-allocate reads of `a` are not counted, so true DRAM
    traffic can be up to 4/3 of this."""
    threads: int
    bytes_per_s: float
    array_bytes: int


@dataclass(frozen=True)
class Roofs:
    measurements: tuple[Measurement, ...]
    triads: tuple[Triad, ...]
    peaks: tuple[Peak, ...]
    not_measured: dict[str, str]   # precision -> why there is no measured roof
    machine: dict
    foreign_cpu_share: float       # CPU used by other processes while measuring (0..1), from
    # /proc/stat minus this process's CPU time; load from other VMs shows only as steal time
    seconds: float

    def best(self, precisions, threads: int | None = None) -> Roof | None:
        """Fastest measurement among `precisions` using at most `threads` threads (None: all
        usable cores; more than the usable cores counts as all of them)."""
        precisions = (precisions,) if isinstance(precisions, str) else tuple(precisions)
        cap = self.machine["usable_cores"] if threads is None else min(threads, self.machine["usable_cores"])
        fit = [m for m in self.measurements if m.precision in precisions and m.threads <= cap]
        if not fit:
            return None
        m = max(fit, key=lambda m: m.ops_per_s)
        return Roof(m.precision, m.ops_per_s, m.threads, m.method)

    def roof_for(self, artifact_format: str, threads: int | None) -> Roof:
        """The roof a row divides by. `artifact_format` is the manifest's format
        (tflite_int8, onnx_static_qdq, ...); unknown formats get the best roof of any
        precision. `threads` is the row's thread setting (None = runtime default, counted as
        all usable cores, the larger roof). Taking the best over every precision the row's
        kernels may run in (ARTIFACT_PRECISIONS) and over thread counts up to the row's is what
        keeps every row at or under 100 %; a row above it means a faster kernel exists than
        any probe here, and the probes must be extended, never the result clipped."""
        precisions = ARTIFACT_PRECISIONS.get(artifact_format, PRECISIONS)
        roof = self.best(precisions, threads) or self.best(PRECISIONS, threads)
        if roof is None:
            raise ValueError("no roof was measured")
        return roof

    def triad_bytes_per_s(self, threads: int | None = None) -> float:
        cap = self.machine["usable_cores"] if threads is None else threads
        return max(t.bytes_per_s for t in self.triads if t.threads <= max(cap, 1))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Roofs":
        return cls(tuple(Measurement(**m) for m in d["measurements"]), tuple(Triad(**t) for t in d["triads"]),
                   tuple(Peak(**p) for p in d["peaks"]), d["not_measured"], d["machine"],
                   d["foreign_cpu_share"], d["seconds"])


def measure_roofs(rounds: int = 5, round_s: float = 0.015, triad: bool = True, attempts: int = 2,
                  quiet_share: float = 0.1) -> Roofs:
    """Every probe on 1 thread, then on all usable cores, `rounds` interleaved rounds of about
    `round_s` each (best time kept): 4-6 s on a 2-core Zen 5. Interleaving spreads each probe
    over its window, so a burst of load from another process spoils one round of every probe
    rather than all rounds of one. If other processes used more than `quiet_share` of the CPU
    meanwhile (they starve the multi-thread probes: 2-thread roofs fell to the 1-thread level
    at 50 %), it measures again, up to `attempts` times, pooling the best of each probe.
    One thread count's probes live at a time (peak RSS ~0.4 GB with the triad arrays)."""
    roofs = _measure_once(rounds, round_s, triad)
    for _ in range(attempts - 1):
        if not roofs.foreign_cpu_share > quiet_share:
            break
        roofs = pool(roofs, _measure_once(rounds, round_s, triad))
    return roofs


def pool(a: Roofs, b: Roofs) -> Roofs:
    """Both measurements' best per probe: more samples can only bring a roof nearer the truth.
    foreign_cpu_share becomes the quieter attempt's."""
    best: dict = {}
    for m in a.measurements + b.measurements:
        key = (m.method, m.threads)
        if key not in best or m.ops_per_s > best[key].ops_per_s:
            best[key] = m
    triads: dict = {}
    for t in a.triads + b.triads:
        if t.threads not in triads or t.bytes_per_s > triads[t.threads].bytes_per_s:
            triads[t.threads] = t
    measurements = tuple(best.values())
    return replace(a, measurements=measurements, triads=tuple(triads.values()),
                   peaks=theoretical_peaks(a.machine, measurements),
                   foreign_cpu_share=min(a.foreign_cpu_share, b.foreign_cpu_share),
                   seconds=round(a.seconds + b.seconds, 2))


def _measure_once(rounds: int, round_s: float, triad: bool) -> Roofs:
    from convbench.benchmarks import roof_probes

    start, cpu0, busy0 = time.perf_counter(), time.process_time(), _busy_cpu_seconds()
    measurements, not_measured = [], {}
    for threads in sorted({1, usable_cores()}):
        probes, not_measured = roof_probes.make_probes([threads], GEMM_MKN, CONV_HWC_K)
        measurements += _measure(probes, rounds, round_s)
        del probes
    triads = tuple(measure_triad(t) for t in sorted({1, usable_cores()})) if triad else ()
    wall, own = time.perf_counter() - start, time.process_time() - cpu0
    busy = _busy_cpu_seconds() - busy0
    foreign = max(0.0, (busy - own) / (wall * (os.cpu_count() or 1))) if busy >= 0 else float("nan")
    machine = machine_facts()
    peaks = theoretical_peaks(machine, measurements)
    return Roofs(tuple(measurements), triads, peaks, not_measured, machine, round(foreign, 3), round(wall, 2))


def _measure(probes: dict, rounds: int, round_s: float) -> list[Measurement]:
    best, runs, reps = {}, {}, {}
    for key, probe in probes.items():  # warm-up (weight packing, thread pools), then calibration
        probe.run()
        best[key], runs[key] = _time_once(probe.run), 1
        reps[key] = max(1, int(round_s / max(best[key], 1e-6)))
    for r in range(rounds):
        for key, probe in probes.items():
            if r >= 2 and best[key] > 4 * round_s:
                continue  # a probe far too slow to matter (MLAS s8s8 on some CPUs): 2 rounds are enough
            for _ in range(reps[key]):
                best[key] = min(best[key], _time_once(probe.run))
                runs[key] += 1
    return [Measurement(p.precision, p.method, p.threads, p.ops, best[k], runs[k]) for k, p in probes.items()]


def _time_once(run) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def _busy_cpu_seconds() -> float:
    """Non-idle CPU seconds of the whole machine (all processes) from /proc/stat; -inf off Linux."""
    try:
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    except OSError:
        return float("-inf")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")   # user..steal, no guest (in user)


def measure_triad(threads: int, array_bytes: int | None = None, repeats: int = 4) -> Triad:
    """Best-of-`repeats` STREAM triad. Computed in L2-sized chunks so the s*c temporary stays in
    cache: DRAM sees read b, read c, write a, as in STREAM. Threads split the arrays."""
    from concurrent.futures import ThreadPoolExecutor

    if array_bytes is None:
        array_bytes = max(2 * _l3_bytes(), 64 * 2**20)   # each array twice the L3
    n = array_bytes // 8
    a, b, c = np.empty(n), np.full(n, 1.0), np.full(n, 2.0)
    a.fill(0.0)  # touch every page before timing
    chunk, s = 1 << 15, 3.0   # 256 KiB per array chunk
    bounds = np.linspace(0, n, threads + 1).astype(int)

    def part(lo: int, hi: int) -> None:
        for i in range(lo, hi, chunk):
            j = min(i + chunk, hi)
            np.multiply(c[i:j], s, out=a[i:j])
            np.add(a[i:j], b[i:j], out=a[i:j])

    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats + 1):  # first pass: warm-up
            t0 = time.perf_counter()
            list(pool.map(part, bounds[:-1], bounds[1:]))
            best = min(best, time.perf_counter() - t0)
    return Triad(threads, 3 * 8 * n / best, int(array_bytes))


def _l3_bytes() -> int:
    try:
        text = open("/sys/devices/system/cpu/cpu0/cache/index3/size").read().strip()
        return int(text.rstrip("K")) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        return 32 * 2**20


def format_roofs(r: Roofs) -> str:
    m = r.machine
    lines = [f"{m['cpu_model']} (family {m['cpu_family']} model {m['cpu_model_number']}), {m['usable_cores']} usable "
             f"cores, flags {' '.join(m['flags'])}; measured in {r.seconds} s, other processes used "
             f"{100 * r.foreign_cpu_share:.0f} % of the CPU meanwhile"]
    for x in sorted(r.measurements, key=lambda x: (x.precision, x.threads, -x.ops_per_s)):
        lines.append(f"{x.precision:5} {x.threads}t {x.ops_per_s / 1e9:8.1f} Gop/s  ({x.runs:3d} runs)  {x.method}")
    lines += [f"triad {t.threads}t {t.bytes_per_s / 1e9:.1f} GB/s (3 x {t.array_bytes >> 20} MiB float64 arrays)"
              for t in r.triads]
    for p in r.peaks:
        per_unit = p.per_unit_ops_per_s
        lines.append(f"theoretical {p.precision}: {p.instruction} x {p.cores} cores x {p.clock_hz / 1e9:.2f} GHz "
                     f"[{p.clock_source}] = {per_unit / 1e9:.0f} Gop/s per unit/core; units/core unknown, the best "
                     f"1-thread roof implies {p.implied_units}" if per_unit else f"theoretical {p.precision}: no clock")
    lines += [f"not measured: {k}: {v}" for k, v in r.not_measured.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys

    roofs = measure_roofs()
    print(format_roofs(roofs))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump(roofs.to_dict(), f, indent=1)

