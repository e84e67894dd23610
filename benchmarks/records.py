"""What each benchmark row carries in pytest-benchmark's extra_info: its key, the artifact's
accuracy/size/sparsity/FLOPs from the manifest, latency percentiles, throughput, achieved
GFLOP/s against the machine's measured SGEMM peak, memory, and audit outcomes."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from convbench.benchmarks.matrix import Case
from convbench.benchmarks.stats import LatencyStats

# Copied from the manifest row as they are (None when the row lacks one, e.g. the keras row).
ARTIFACT_FIELDS = ("technique", "bytes", "gzip_bytes", "params", "nonzero_params", "sparsity", "flops_per_image",
                   "accuracy", "agreement_vs_fp32", "max_abs_diff_vs_fp32", "sha256")


def peak_for(peaks: Mapping[int, float], threads: int | None) -> float | None:
    """The SGEMM peak measured with `threads` threads; None (the runtime's default) means all
    usable cores, i.e. the largest thread count measured."""
    if not peaks:
        return None
    return peaks.get(threads) if threads is not None and threads in peaks else peaks[max(peaks)]


def achieved_gflops(flops_per_image: float | None, batch: int, median_ms: float) -> float | None:
    """FLOPs x batch / median time: the compute rate one call sustains."""
    if not flops_per_image or median_ms <= 0:
        return None
    return flops_per_image * batch / (median_ms / 1e3) / 1e9


def compute_fields(flops_per_image, batch: int, stats: LatencyStats, peaks: Mapping[int, float],
                   threads: int | None) -> dict[str, Any]:
    gflops = achieved_gflops(flops_per_image, batch, stats.median_ms)
    peak = peak_for(peaks, threads)
    return {"achieved_gflops": gflops, "sgemm_peak_gflops": peak,
            "fraction_of_peak": gflops / peak if gflops is not None and peak else None}


def artifact_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {f: row.get(f) for f in ARTIFACT_FIELDS}


def latency_extra_info(case: Case, stats: LatencyStats, *, load_s: float, first_inference_s: float, rounds: int,
                       warmup_calls: int, audit: Mapping[str, Any], session: Mapping[str, Any],
                       peaks: Mapping[int, float], context: Mapping[str, Any],
                       pool_labels: np.ndarray | None = None, pool_predictions: np.ndarray | None = None,
                       flops_per_image: float | None = None) -> dict[str, Any]:
    """extra_info of one latency row. `session` is Session.describe() plus runtime_version;
    `context` the run-wide facts every row carries (dataset fingerprint, manifest time)."""
    info = case.info()
    info.update(artifact_fields(case.row))
    flops = flops_per_image if flops_per_image is not None else case.row.get("flops_per_image")
    info["flops_per_image"] = flops
    info.update(stats.as_dict())
    info.update(load_ms=load_s * 1e3, first_inference_ms=first_inference_s * 1e3, rounds=rounds,
                warmup_calls=warmup_calls)
    if case.runtime != "null":  # null does no arithmetic: its time is the harness's own
        info.update(compute_fields(flops, case.batch, stats, peaks, case.threads))
    if pool_labels is not None and pool_predictions is not None and len(pool_labels) == len(pool_predictions):
        info.update(pool_images=int(len(pool_labels)),
                    pool_accuracy=float(np.mean(np.asarray(pool_labels) == np.asarray(pool_predictions))))
    info.update(audit)
    info.update(device_used=session.get("device_used"), providers=session.get("providers"),
                runtime_version=session.get("runtime_version"))
    info.update(context)
    return info


def memory_extra_info(case: Case, results, *, context: Mapping[str, Any], runtime_version: str,
                      flops_per_image: float | None = None) -> dict[str, Any]:
    """extra_info of one memory row from its child's MemoryResult(s), one per batch phase. The
    top-level peak/model fields are the largest batch's; `b<N>_*` fields give each batch apart.
    The row's timing is the whole child's wall time (a cold start)."""
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    last = results[-1]
    info = case.info()
    info.update(artifact_fields(case.row))
    if flops_per_image is not None:
        info["flops_per_image"] = flops_per_image
    info.update(peak_rss_mib=last.peak_rss_mib, baseline_rss_mib=last.baseline_rss_mib,
                model_rss_mib=last.model_rss_mib, gpu_mib=last.gpu_mib, gpu_mib_source=last.gpu_mib_source,
                device_used=last.device_used, runtime_version=runtime_version,
                timed="fresh child process wall time: start, import, then per batch: load, 3 predictions")
    for r in results:
        info.update({f"b{r.batch}_peak_rss_mib": r.peak_rss_mib, f"b{r.batch}_model_rss_mib": r.model_rss_mib})
    if len(results) > 1:
        info["peak_reset_between_batches"] = all(r.peak_reset for r in results[1:])
    info.update(context)
    return info
