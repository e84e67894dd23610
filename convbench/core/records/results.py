"""Records of the benchmark stage: one typed result per row kind, the audits they carry, and
the run record (machine, versions, roofs, what was skipped) that travels with every run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from convbench.core.records.identity import RowId, threads_label
from convbench.core.records.roofs import RunRoofs

BENCH_SCHEMA = "convbench.bench/3"
# A share of images, 0..1: out-of-range values in a file are a validation error, not a figure.
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# numpy's default percentile method (R type 7, Excel PERCENTILE.INC), named so reports can state it.
PERCENTILE_METHOD = "linear"


@dataclass(kw_only=True)
class LatencyStats:
    """Per-call latency over n timed calls; each call processes `batch` items."""

    n: int
    batch: int
    mean_ms: float
    median_ms: float
    p90_ms: float
    p99_ms: float
    q1_ms: float
    q3_ms: float
    iqr_ms: float
    stdev_ms: float                    # sample standard deviation (ddof=1), 0 for one sample
    min_ms: float
    max_ms: float
    throughput_items_per_s: float      # batch / median latency
    percentile_method: str = PERCENTILE_METHOD

    @property
    def p50_ms(self) -> float:
        return self.median_ms

    @classmethod
    def from_seconds(cls, samples_s, batch: int) -> LatencyStats:
        ms = np.asarray(samples_s, dtype=np.float64) * 1e3
        if ms.ndim != 1 or ms.size == 0:
            raise ValueError(f"need a non-empty 1-D sequence of times, got shape {ms.shape}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        q1, median, q3, p90, p99 = np.percentile(ms, [25, 50, 75, 90, 99], method=PERCENTILE_METHOD)
        return cls(n=int(ms.size), batch=int(batch), mean_ms=float(ms.mean()), median_ms=float(median),
                   p90_ms=float(p90), p99_ms=float(p99), q1_ms=float(q1), q3_ms=float(q3), iqr_ms=float(q3 - q1),
                   stdev_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0, min_ms=float(ms.min()),
                   max_ms=float(ms.max()), throughput_items_per_s=float(batch / (median / 1e3)))


@dataclass(kw_only=True)
class OutputAudit:
    """Timed-run outputs vs the untimed accuracy pass's outputs on the same prepared inputs."""

    passed: bool
    checked: int                       # timed outputs compared
    mismatched: int
    max_abs_diff: float
    decision_changes: int              # images whose class decision differs


@dataclass(kw_only=True)
class CachingAudit:
    """MLPerf TEST04-like: is an input that was just run faster the second time? Paired per input."""

    passed: bool
    first_median_ms: float             # each input's first call, right after a different input
    repeat_median_ms: float            # each input's later calls, right after itself
    speedup: float                     # median over inputs of first / median(repeats)
    threshold: float                   # the speedup above which (and significant) the audit fails
    noise: float                       # relative gap of the first-call medians, even vs odd inputs (was: repeats)
    p_value: float                     # one-sided Wilcoxon signed-rank: first calls slower than repeats
    inputs: int
    test: str = "one-sided Wilcoxon signed-rank, paired per input"
    min_saved_us: float | None = None  # a repeat must also save more than this per call (None: older runs)


@dataclass(kw_only=True)
class OverheadAudit:
    """The harness's per-round time vs a bare perf_counter call in the same round, paired."""

    passed: bool
    harness_median_ms: float
    plain_median_ms: float
    overhead_pct: float                # (median of per-round harness / plain - 1) * 100
    limit_pct: float
    test: str = "median per-round ratio and one-sided Wilcoxon signed-rank, paired per round"


@dataclass(kw_only=True)
class MemoryPhase:
    batch: int
    peak_rss_mib: float                # VmHWM of the fresh child after load + runs at this batch
    model_rss_mib: float               # peak minus the import-only baseline child


@dataclass(kw_only=True)
class RowBase:
    """What identifies a row that ran an artifact, and where and how it ran."""

    model: str
    variant: str
    format: str
    runtime: str
    device: str
    batch: int
    threads: int | None                # None: the runtime's own default
    artifact: str | None = None        # relative to the run folder
    sha256: str | None = None          # of the file that was timed
    runtime_version: str = ""
    device_used: str = ""
    providers: list[str] = field(default_factory=list)
    foreign_cpu_fraction: float | None = None   # other processes' share of the CPUs meanwhile
    loadavg_1m: float | None = None

    @property
    def threads_label(self) -> str:
        return threads_label(self.threads)

    @property
    def key(self) -> RowId:
        """Identifies the row across runs, commits and machines (store, gate, report)."""
        return RowId(kind=self.kind, model=self.model, variant=self.variant, format=self.format,
                     runtime=self.runtime, device=self.device, batch=self.batch, threads=self.threads_label,
                     metric=getattr(self, "metric", ""), side=getattr(self, "side", None))

    @property
    def label(self) -> str:
        return self.key.label


@dataclass(kw_only=True)
class ComputeFields:
    """Achieved rate against the roof measured on this machine for this row's format and threads
    (records.roofs: the precision rule, the ops count)."""

    ops_per_image: int | None = None        # `ops_count`, read from the artifact file
    ops_per_image_dense: int | None = None  # every kernel tap, the zero-padded border included
    ops_count: str | None = None            # which count ops_per_image is (records.roofs.OPS_COUNT)
    bytes_per_call: int | None = None       # weights + input + output one call moves at least
    achieved_gflops: float | None = None    # ops_per_image x batch / median, 1e9 ops/s
    roof_gflops: float | None = None
    roof_precision: str | None = None
    roof_name: str | None = None
    fraction_of_roof: float | None = None

    @property
    def arithmetic_intensity(self) -> float | None:
        """Ops per byte moved per call (weights + input + output; activations between layers
        are not counted: they may stay in cache)."""
        if not self.ops_per_image or not self.bytes_per_call:
            return None
        return self.ops_per_image * self.batch / self.bytes_per_call


@dataclass(kw_only=True)
class LatencyResult(ComputeFields, RowBase):
    kind: Literal["latency"] = "latency"
    stats: LatencyStats
    load_ms: float
    first_inference_ms: float
    rounds: int
    warmup_calls: int
    audit: OutputAudit
    # Measured by this row's own session (runtime, device, threads) on the held-out split.
    accuracy: Fraction | None = None
    agreement_vs_fp32: Fraction | None = None
    accuracy_images: int = 0
    accuracy_note: str | None = None   # why accuracy was not measured, when it was not
    # The discordant pairs against the trained fp32 model on the same images: how many it
    # classifies right and this row wrong (lost), and the reverse (gained). An exact McNemar
    # test of the accuracy difference needs these; the totals above only bound them.
    lost_vs_fp32_images: int | None = None
    gained_vs_fp32_images: int | None = None
    # --repeat N: each round's p50 (ms) in round order, the row's run-to-run spread on this
    # machine; `stats` then pools every round's samples. Empty: one round.
    repeat_p50_ms: list[float] = field(default_factory=list)


@dataclass(kw_only=True)
class MemoryResult(RowBase):
    kind: Literal["memory"] = "memory"
    phases: list[MemoryPhase]
    baseline_rss_mib: float
    gpu_mib: float | None = None
    gpu_mib_source: str | None = None
    peak_reset_between_batches: bool | None = None
    timed: str = "fresh child process wall time: start, import, then per batch: load, 3 predictions"

    @property
    def peak_rss_mib(self) -> float:
        return self.phases[-1].peak_rss_mib

    def phase(self, batch: int) -> MemoryPhase | None:
        return next((p for p in self.phases if p.batch == batch), None)


@dataclass(kw_only=True)
class AuditResult(RowBase):
    kind: Literal["audit"] = "audit"
    metric: Literal["caching", "harness_overhead"]
    load_ms: float
    caching: CachingAudit | None = None
    overhead: OverheadAudit | None = None

    @property
    def passed(self) -> bool:
        return (self.caching or self.overhead).passed


@dataclass(kw_only=True)
class ScalingFields:
    """A lesson architecture with random weights at one input side (the scaling suite)."""

    side: int
    input_shape: list[int]
    params: int
    bytes: int


@dataclass(kw_only=True)
class ScalingLatency(ScalingFields, LatencyResult):
    kind: Literal["scaling_latency"] = "scaling_latency"


@dataclass(kw_only=True)
class ScalingMemory(ScalingFields, MemoryResult):
    kind: Literal["scaling_memory"] = "scaling_memory"


@dataclass(kw_only=True)
class PipelineResult:
    """tf.data images/s over the real train split: one pipeline, one simulated consumer."""

    kind: Literal["pipeline"] = "pipeline"
    pipeline: str
    consumer_ms: float                 # simulated train step per batch
    batch: int
    dataset: str
    images_per_epoch: int
    epoch: LatencyStats                # per-epoch times; its throughput is images/s
    parallel_map: bool
    cache: bool
    prefetch: bool
    map_work: str

    @property
    def images_per_s(self) -> float:
        return self.epoch.throughput_items_per_s

    @property
    def key(self) -> RowId:
        return RowId(kind=self.kind, model="", variant=self.pipeline, format=f"consumer_{self.consumer_ms:g}ms",
                     runtime="", device="", batch=self.batch, threads="")

    @property
    def label(self) -> str:
        return f"{self.pipeline} consumer {self.consumer_ms:g} ms"


def cpu_name(cpu_model: str, cpu_id: str | None) -> str:
    """The CPU's model name with its family/model/stepping where known: a VM's model name can be
    as vague as "AMD EPYC", on a Zen 2 one day and a Zen 5 the next."""
    if not cpu_id:
        return cpu_model
    return f"{cpu_model} ({cpu_id.replace('vendor_id ', '').replace('cpu family', 'family')})"


@dataclass(kw_only=True)
class MachineInfo:
    cpu_model: str
    logical_cores: int
    usable_cores: int
    physical_cores: int | None
    ram_gib: float
    cpu_flags: dict[str, bool]
    cpu_id: str | None = None          # vendor, family, model, stepping (None: older runs, or not Linux)
    gpu_name: str | None = None
    gpu_driver: str | None = None      # the NVIDIA driver's version, where there is a GPU
    os_name: str = ""                  # the distribution (os-release PRETTY_NAME); platform has the kernel
    blas: list[str] = field(default_factory=list)
    platform: str = ""
    python: str = ""

    @property
    def fingerprint(self) -> str:
        """Which machine this is, as a stable hash: the hardware and the OS distribution. The
        kernel, Python and library versions are left out on purpose: they are facts of each run
        (kept beside it), and a machine whose libraries were upgraded is still the same machine
        for `convbench history`. RAM is rounded to whole GiB (the total shifts by megabytes
        between boots)."""
        import hashlib
        import json

        # The CPU's family/model/stepping names it; without them (older runs, other OSes) the
        # flags convbench records stand in (that set may grow between versions of convbench).
        cpu = self.cpu_id or sorted(self.cpu_flags.items())
        identity = [self.cpu_model, cpu, self.logical_cores, self.usable_cores,
                    self.physical_cores, round(self.ram_gib), self.gpu_name, self.gpu_driver, self.os_name]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]

    @property
    def cpu_name(self) -> str:
        return cpu_name(self.cpu_model, self.cpu_id)

    @property
    def summary(self) -> str:
        flags = ",".join(f for f, on in self.cpu_flags.items() if on) or "none of interest"
        gpu = f"{self.gpu_name} (driver {self.gpu_driver or '?'})" if self.gpu_name else "no GPU"
        return (f"{self.cpu_name} [{flags}], {self.usable_cores}/{self.logical_cores} cores, {self.ram_gib:.1f} GiB, "
                f"{gpu}, {self.os_name or self.platform}")


@dataclass(kw_only=True)
class Skip:
    nodeid: str
    reason: str


@dataclass(kw_only=True)
class RunRecord:
    """What travels with a whole bench run."""

    schema: str = BENCH_SCHEMA
    started: str
    finished: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    manifest_created: str | None = None
    manifest_sha256: str | None = None
    dataset_fingerprint: str
    versions: dict[str, str] = field(default_factory=dict)
    runtime_versions: dict[str, str] = field(default_factory=dict)
    machine: MachineInfo
    roofs: RunRoofs = field(default_factory=RunRoofs)   # compute and bandwidth roofs, start and end
    git_commit: str | None = None
    git_dirty: bool = False
    row_budget: dict[str, Any] = field(default_factory=dict)
    loadavg_at_start: list[float] = field(default_factory=list)
    loadavg_at_end: list[float] = field(default_factory=list)
    session_setup_s: float = 0.0
    skipped: list[Skip] = field(default_factory=list)
    failed: list[Skip] = field(default_factory=list)
    suite_seconds: dict[str, float] = field(default_factory=dict)
