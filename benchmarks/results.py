"""Measurements -> typed result records: one builder per row kind. The achieved compute rate of
a row is set against the roof measured on this machine for the same thread count."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from convbench import classes
from convbench.benchmarks.harness import LatencyRun
from convbench.benchmarks.matrix import Case
from convbench.records import LatencyResult, LatencyStats, MemoryPhase, MemoryResult

# What the fp32 roof is until per-precision roofs exist: numpy's SGEMM, by thread count.
ROOF_NAME = "numpy SGEMM fp32"


def roof_for(peaks: Mapping[int, float], threads: int | None) -> float | None:
    """The roof measured with `threads` threads; None (the runtime's default) means all usable
    cores, i.e. the largest thread count measured."""
    if not peaks:
        return None
    return peaks.get(threads) if threads is not None and threads in peaks else peaks[max(peaks)]


def achieved_gflops(flops_per_image: float | None, batch: int, median_ms: float) -> float | None:
    """FLOPs x batch / median time: the compute rate one call sustains."""
    if not flops_per_image or median_ms <= 0:
        return None
    return flops_per_image * batch / (median_ms / 1e3) / 1e9


def compute_fields(flops_per_image: int | None, batch: int, stats: LatencyStats, peaks: Mapping[int, float],
                   threads: int | None) -> dict:
    gflops = achieved_gflops(flops_per_image, batch, stats.median_ms)
    roof = roof_for(peaks, threads)
    return dict(flops_per_image=flops_per_image, achieved_gflops=gflops, roof_gflops=roof,
                roof_name=f"{ROOF_NAME}, {threads or 'all'} thread(s)" if roof else None,
                fraction_of_roof=gflops / roof if gflops is not None and roof else None)


def accuracy_fields(outputs: np.ndarray | None, labels: np.ndarray | None, reference: np.ndarray | None,
                    why_not: str) -> dict:
    """A row's accuracy from its own session's held-out outputs, or why it was not measured."""
    if outputs is None or labels is None:
        return dict(accuracy_note=why_not)
    fields = dict(accuracy=classes.accuracy(outputs, labels), accuracy_images=len(outputs))
    if reference is not None:
        lost, gained = classes.discordant(outputs, reference, labels)
        fields.update(agreement_vs_fp32=classes.agreement(outputs, reference), lost_vs_fp32_images=lost,
                      gained_vs_fp32_images=gained)
    return fields


def latency_result(case: Case, run: LatencyRun, *, load_s: float, session: Mapping, context: Mapping,
                   peaks: Mapping[int, float], flops_per_image: int | None, accuracy: Mapping,
                   cls=LatencyResult, **extra):
    """One latency row. `session`: where it really ran (device_used, providers, runtime_version);
    `context`: row facts (artifact path, sha256, load average, foreign CPU share); `accuracy`:
    accuracy_fields() of this row's own session."""
    compute = {} if case.runtime == "null" else compute_fields(  # null does no arithmetic
        flops_per_image, case.batch, run.stats, peaks, case.threads)
    return cls(**case.identity(), **session, **context, **compute, **accuracy, stats=run.stats,
               load_ms=load_s * 1e3, first_inference_ms=run.first_inference_s * 1e3, rounds=run.rounds,
               warmup_calls=run.warmup_calls, audit=run.audit, **extra)


def memory_result(case: Case, phases, *, context: Mapping, runtime_version: str, cls=MemoryResult, **extra):
    """One memory row from its fresh child's per-batch peaks (benchmarks/memory.py PeakRss list)."""
    last = phases[-1]
    return cls(**case.identity(), **context, runtime_version=runtime_version, device_used=last.device_used,
               phases=[MemoryPhase(batch=p.batch, peak_rss_mib=p.peak_rss_mib, model_rss_mib=p.model_rss_mib)
                       for p in phases], baseline_rss_mib=last.baseline_rss_mib, gpu_mib=last.gpu_mib,
               gpu_mib_source=last.gpu_mib_source,
               peak_reset_between_batches=all(p.peak_reset for p in phases[1:]) if len(phases) > 1 else None,
               **extra)
