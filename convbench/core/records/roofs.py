"""Records of a machine's roofs: every candidate compute measurement per precision (runtime,
kernel, threads, ops/s), the memory-bandwidth measurements, the theoretical peaks the CPU flags
promise, and what could not be measured and why. A bench run measures them before its first row
and again after its last (RunRoofs) and divides each latency row by `RunRoofs.roof_for`: the best
pooled measurement among the precisions the row's format may compute in, using at most the row's
threads. A row above 100 % therefore means a kernel faster than every probe exists: the probes
must be extended, never the row clipped."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# The one operation count every efficiency uses (ComputeFields.ops_count names it per row).
OPS_COUNT = ("real-pixel ops: 2 x the multiply-accumulates of conv and dense layers whose kernel tap lands on a "
             "real input pixel (taps on the zero-padded border excluded), counted from the artifact file")
PRECISIONS = ("fp32", "int8", "fp16", "bf16")
ROOF_RULE = ("a row is divided by the fastest probe among the precisions its format may compute in "
             "(convbench.core.formats), on at most the row's threads (runtime default: all usable cores), pooled over "
             "the measurements before the first row and after the last")


@dataclass(kw_only=True)
class RoofMeasurement:
    """One probe: `ops` operations in `seconds`, the best of `runs` timed calls."""

    precision: str                     # fp32 | int8 | fp16 | bf16
    method: str                        # runtime, kernel and shape, e.g. "litert CONV_2D int8 30x30x128->128 3x3"
    threads: int | None                # None: a GPU probe
    ops: int
    seconds: float
    runs: int

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds


@dataclass(kw_only=True)
class BandwidthMeasurement:
    """A streaming kernel's bytes per second (STREAM's count: no write-allocate traffic)."""

    method: str
    threads: int | None
    bytes_per_s: float
    array_bytes: int


@dataclass(kw_only=True)
class TheoreticalPeak:
    """cores x clock x ops per instruction x units per core. The number of such instructions a
    core retires per cycle is not in the CPU flags, so the peak is given per unit and
    `DeviceRoofs.implied_units` says how many units the measured one-thread roof needs at this
    clock (more than the true count where the clock is a base clock and the core boosts)."""

    precision: str
    instruction: str
    ops_per_instruction: int
    cores: int
    clock_hz: float | None
    clock_source: str

    @property
    def per_unit_ops_per_s(self) -> float | None:
        return self.cores * self.clock_hz * self.ops_per_instruction if self.clock_hz else None


@dataclass(frozen=True)
class Roof:
    """The roof one row is divided by."""

    precision: str
    ops_per_s: float
    threads: int | None
    method: str

    @property
    def label(self) -> str:
        where = "GPU" if self.threads is None else f"{self.threads} thread(s)"
        return f"{self.precision} roof: {self.method}, {where}"


@dataclass(kw_only=True)
class DeviceRoofs:
    """One device's roofs from one measurement (or several pooled)."""

    device: str                        # cpu | gpu
    name: str                          # CPU model or GPU name
    usable_cores: int
    flags: list[str] = field(default_factory=list)
    measurements: list[RoofMeasurement] = field(default_factory=list)
    bandwidth: list[BandwidthMeasurement] = field(default_factory=list)
    peaks: list[TheoreticalPeak] = field(default_factory=list)
    not_measured: dict[str, str] = field(default_factory=dict)   # what -> why
    foreign_cpu_share: float | None = None   # CPU other processes used meanwhile (0..1)
    seconds: float = 0.0
    attempts: int = 1

    def best(self, precisions, threads: int | None = None) -> Roof | None:
        """The fastest measurement among `precisions` on at most `threads` threads (None: all
        usable cores; more than the usable cores counts as all of them)."""
        precisions = (precisions,) if isinstance(precisions, str) else tuple(precisions)
        cap = self.usable_cores if threads is None else min(threads, self.usable_cores)
        fit = [m for m in self.measurements
               if m.precision in precisions and (m.threads is None or m.threads <= cap)]
        if not fit:
            return None
        m = max(fit, key=lambda m: m.ops_per_s)
        return Roof(m.precision, m.ops_per_s, m.threads, m.method)

    def roof_for(self, fmt: str, threads: int | None) -> Roof | None:
        """The roof of a row of format `fmt` (ROOF_RULE); a format outside the registry gets
        the best roof of any precision."""
        from convbench.core.formats import FORMATS

        known = FORMATS.get(fmt)
        return self.best(known.kernel_precisions if known else PRECISIONS, threads) or self.best(PRECISIONS, threads)

    def int8_speedup(self, threads: int | None = 1) -> float | None:
        """The one "fast int8" rule, measured: the best int8 roof over the best fp32 roof on at
        most `threads` threads. A CPU with an int8 dot-product path (VNNI, SDOT, AMX) shows it
        here whatever its flags are named; None where either roof was not measured."""
        int8, fp32 = self.best("int8", threads), self.best("fp32", threads)
        return int8.ops_per_s / fp32.ops_per_s if int8 and fp32 else None

    def int8_instruction(self) -> str | None:
        """The int8 dot-product instruction the flags name (benchmarks/cpu_peak.py), if any."""
        return next((p.instruction for p in self.peaks if p.precision == "int8"), None)

    def bandwidth_bytes_per_s(self, threads: int | None = None) -> float | None:
        cap = self.usable_cores if threads is None else threads
        fit = [b.bytes_per_s for b in self.bandwidth if b.threads is None or b.threads <= max(cap, 1)]
        return max(fit) if fit else None

    def implied_units(self, peak: TheoreticalPeak) -> float | None:
        """How many `peak.instruction`s per cycle one core must retire, at the recorded clock,
        to reach the best one-thread roof of that precision."""
        best = self.best(peak.precision, 1)
        return best.ops_per_s / (peak.clock_hz * peak.ops_per_instruction) if best and peak.clock_hz else None

    def pooled_with(self, other: DeviceRoofs) -> DeviceRoofs:
        """Both measurements' best per probe: more samples can only bring a roof nearer the truth."""
        best: dict[tuple, RoofMeasurement] = {}
        for m in self.measurements + other.measurements:
            key = (m.method, m.threads)
            if key not in best or m.ops_per_s > best[key].ops_per_s:
                best[key] = m
        streams: dict[tuple, BandwidthMeasurement] = {}
        for b in self.bandwidth + other.bandwidth:
            key = (b.method, b.threads)
            if key not in streams or b.bytes_per_s > streams[key].bytes_per_s:
                streams[key] = b
        shares = [s for s in (self.foreign_cpu_share, other.foreign_cpu_share) if s is not None]
        return replace(self, measurements=list(best.values()), bandwidth=list(streams.values()),
                       not_measured={**other.not_measured, **self.not_measured},
                       foreign_cpu_share=min(shares) if shares else None,
                       seconds=round(self.seconds + other.seconds, 2), attempts=self.attempts + other.attempts)


@dataclass(kw_only=True)
class RunRoofs:
    """A bench run's roofs: measured before the first row and after the last, per device."""

    at_start: list[DeviceRoofs] = field(default_factory=list)
    at_end: list[DeviceRoofs] = field(default_factory=list)
    not_measured: dict[str, str] = field(default_factory=dict)   # device -> why it has no roofs
    ops_count: str = OPS_COUNT
    rule: str = ROOF_RULE

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(d.device for d in self.at_start + self.at_end))

    def pooled(self, device: str) -> DeviceRoofs | None:
        found = [d for d in self.at_start + self.at_end if d.device == device]
        if not found:
            return None
        pooled = found[0]
        for more in found[1:]:
            pooled = pooled.pooled_with(more)
        return pooled

    def roof_for(self, device: str, fmt: str, threads: int | None) -> Roof | None:
        pooled = self.pooled(device)
        return pooled.roof_for(fmt, threads) if pooled else None

    def describe(self) -> str:
        """The roofs in one line: per device and precision the best on all cores (start and end
        pooled), and the memory bandwidth."""
        parts = []
        for device in self.devices:
            pooled = self.pooled(device)
            best = [pooled.best(p) for p in PRECISIONS]
            bandwidth = pooled.bandwidth_bytes_per_s()
            parts.append(f"{device}: " + ", ".join(f"{r.precision} {r.ops_per_s / 1e9:.0f} Gop/s" for r in best if r)
                         + (f", memory {bandwidth / 1e9:.0f} GB/s" if bandwidth else ""))
        parts += [f"{device}: none ({why})" for device, why in self.not_measured.items()]
        return "; ".join(parts) or "none measured"

    def spread(self, device: str, fmt: str, threads: int | None) -> float:
        """How far the start and end measurements of one row's roof disagree: 1 - lower/higher
        (0 where only one was measured). Other processes starve the probes (a numpy SGEMM roof
        measured 26.6 Gop/s before the rows and 83.0 after, at 81-84 % foreign CPU, 2-core Zen 4,
        issue 21): the roof is known no better than this."""
        start = next((d for d in self.at_start if d.device == device), None)
        end = next((d for d in self.at_end if d.device == device), None)
        a, b = (d.roof_for(fmt, threads) if d else None for d in (start, end))
        if not (a and b) or max(a.ops_per_s, b.ops_per_s) <= 0:
            return 0.0
        return 1 - min(a.ops_per_s, b.ops_per_s) / max(a.ops_per_s, b.ops_per_s)

    def drift(self, device: str) -> float | None:
        """The largest relative change of a best-per-(precision, threads) roof from start to
        end: far from 0 when the cores were shared while one of them was measured."""
        start = next((d for d in self.at_start if d.device == device), None)
        end = next((d for d in self.at_end if d.device == device), None)
        if start is None or end is None:
            return None
        changes = []
        for precision, threads in {(m.precision, m.threads) for m in start.measurements}:
            a, b = start.best(precision, threads), end.best(precision, threads)
            if a and b:
                changes.append(abs(b.ops_per_s / a.ops_per_s - 1))
        return max(changes, default=None)
