"""Latency statistics from raw per-call times: percentiles, spread and throughput, in ms."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# numpy's default percentile method ("linear": interpolate between the two nearest ranks,
# the same as R type 7 and Excel PERCENTILE.INC). Named here so reports can state it.
PERCENTILE_METHOD = "linear"


@dataclass(frozen=True)
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
    stdev_ms: float  # sample standard deviation (ddof=1), 0 for a single sample
    min_ms: float
    max_ms: float
    throughput_items_per_s: float  # batch / median latency

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
        return cls(
            n=int(ms.size), batch=int(batch), mean_ms=float(ms.mean()), median_ms=float(median),
            p90_ms=float(p90), p99_ms=float(p99), q1_ms=float(q1), q3_ms=float(q3), iqr_ms=float(q3 - q1),
            stdev_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
            min_ms=float(ms.min()), max_ms=float(ms.max()),
            throughput_items_per_s=float(batch / (median / 1e3)),
        )

    def as_dict(self) -> dict[str, float | int | str]:
        return {**dataclasses.asdict(self), "p50_ms": self.p50_ms, "percentile_method": PERCENTILE_METHOD}
