"""Data pipeline rows: tf.data images/s on the real train split, naive vs cache vs prefetch vs
parallel map (AUTOTUNE), alone and feeding a consumer that spends 2 ms per batch."""

from __future__ import annotations

from convbench.benchmarks.pipeline import MAX_IMAGES, PIPELINES, build_pipeline, run_epoch
from convbench.benchmarks.stats import LatencyStats

ROUNDS = 5  # timed epochs (after one untimed epoch that also fills the cache)
QUICK_ROUNDS = 2


def test_pipeline(benchmark, pipeline_case, bench):
    case = pipeline_case
    x, y = bench.dataset.x_train[:MAX_IMAGES], bench.dataset.y_train[:MAX_IMAGES]
    ds = build_pipeline(case.variant, x, y, case.batch)
    consumer_s = case.row["consumer_ms"] / 1e3
    images = run_epoch(ds, consumer_s)  # warm-up epoch: traces the map functions, fills the cache
    rounds = QUICK_ROUNDS if bench.options.quick else ROUNDS
    benchmark.pedantic(run_epoch, args=(ds, consumer_s), rounds=rounds, iterations=1)
    stats = LatencyStats.from_seconds(benchmark.stats.stats.data, batch=images)
    parallel, cache, prefetch = PIPELINES[case.variant]
    benchmark.extra_info.update({
        **case.info(), "dataset": case.row["dataset"], "images_per_epoch": images, "epoch_p50_ms": stats.median_ms,
        "epoch_iqr_ms": stats.iqr_ms, "images_per_s": stats.throughput_items_per_s,
        "throughput_items_per_s": stats.throughput_items_per_s, "consumer_ms_per_batch": case.row["consumer_ms"],
        "parallel_map": parallel, "cache": cache, "prefetch": prefetch,
        "map_work": "resize 36x36 bicubic, to RGB, standardize | random crop 32x32, brightness, contrast",
        **bench.context})
