"""Records of the interleaved A/B gate (`convbench compare BASE_MANIFEST CHANGE_MANIFEST`) and of
its calibration: both sides' artifacts timed alternately in one process (rounds A B B A ...),
their raw per-round times, the paired decision, and the paired accuracy test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field

from convbench.core.records.results import MachineInfo, RowBase

INTERLEAVED_SCHEMA = "convbench.interleaved/1"
INTERLEAVED_FILE = "interleaved.json"
CALIBRATION_SCHEMA = "convbench.gate-calibration/1"
CALIBRATION_FILE = "calibration.json"
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# A row's verdict, in both gate modes: only REGRESSION fails the gate.
OK, REGRESSION, IMPROVED, NOISE = "ok", "REGRESSION", "improved", "noise"


@dataclass(kw_only=True)
class PairedLatency(RowBase):
    """One row timed on both sides in ABBA blocks: each block is one round of base (A), two of
    the change (B), one of base, so a drift that is linear over a block cancels in its ratio.
    `sha256` is the base's file."""

    kind: Literal["paired_latency"] = "paired_latency"
    change_sha256: str | None
    calls_per_round: int               # session.run calls timed together as one round
    base_round_s: list[float]          # per round, in the order taken (two per block)
    change_round_s: list[float]
    base_p50_ms: float                 # per call: median round / calls_per_round
    change_p50_ms: float
    ratio: float                       # median over blocks of change / base (sum of the block's two rounds each)
    ratio_ci_low: float                # bootstrap confidence interval of that median
    ratio_ci_high: float
    verdict: str
    slowdown_injected_pct: float | None = None   # calibration only: busy work added to the change side

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1) * 100

    @property
    def blocks(self) -> int:
        return len(self.base_round_s) // 2


@dataclass(kw_only=True)
class PairedAccuracy:
    """Both sides' class decisions on the same held-out images: McNemar's exact test on the
    images only one side gets right, beside the accuracy budget."""

    model: str
    variant: str
    format: str
    runtime: str
    images: int
    base_accuracy: Fraction
    change_accuracy: Fraction
    base_only_correct: int             # images base gets right and the change wrong
    change_only_correct: int
    p_value: float                     # exact McNemar (binomial on the discordant images), two-sided
    verdict: str

    @property
    def drop_pp(self) -> float:
        """Rounded to 1e-9 pp: (0.98 - 0.97) * 100 is 1.0000000000000009, and that is a 1 pp drop."""
        return round((self.base_accuracy - self.change_accuracy) * 100, 9)

    @property
    def label(self) -> str:
        return f"{self.model}/{self.variant}/{self.format} {self.runtime}"


@dataclass(kw_only=True)
class InterleavedRun:
    """interleaved.json: one A/B gate run (artifacts/gates/<UTC time>/)."""

    schema: str = INTERLEAVED_SCHEMA
    started: str
    finished: str | None = None
    base_manifest: str                 # as given on the command line
    change_manifest: str
    base_manifest_sha256: str
    change_manifest_sha256: str
    dataset_fingerprint: str
    machine: MachineInfo
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool = False
    max_latency_regression_pct: float
    max_accuracy_drop_pp: float
    alpha: float
    row_time_s: float                  # timed seconds per row, both sides together
    bootstrap_resamples: int
    decision: str                      # the rule, in words, as it was applied
    rows: list[PairedLatency] = field(default_factory=list)
    accuracy: list[PairedAccuracy] = field(default_factory=list)
    not_compared: dict[str, str] = field(default_factory=dict)   # model/variant/format -> why


@dataclass(kw_only=True)
class GateCalibration:
    """calibration.json: the interleaved gate on the same artifacts on both sides (A/A: every
    flag is a false alarm) and with busy work injected on one side (every miss is a miss)."""

    schema: str = CALIBRATION_SCHEMA
    started: str
    finished: str | None = None
    manifest: str
    machine: MachineInfo
    max_latency_regression_pct: float
    injected_slowdown_pct: float
    injection: str                     # how the slowdown was made, in words
    aa: InterleavedRun
    slowed: InterleavedRun

    @property
    def false_alarms(self) -> int:
        """A/A rows the gate would fail on."""
        return sum(r.verdict == REGRESSION for r in self.aa.rows)

    @property
    def detected(self) -> int:
        """Slowed rows the gate fails on."""
        return sum(r.verdict == REGRESSION for r in self.slowed.rows)
