"""Data pipeline rows: tf.data images/s on the real train split, naive vs cache vs prefetch vs
parallel map (AUTOTUNE), alone and feeding a consumer that spends 2 ms per batch."""

from __future__ import annotations

from convbench.benchmarks.tfdata import MAP_WORK, MAX_IMAGES, PIPELINES, build_pipeline, run_epoch
from convbench.core.records import LatencyStats, PipelineResult, to_jsonable

ROUNDS = 5  # timed epochs (after one untimed epoch that also fills the cache)
QUICK_ROUNDS = 2


def test_pipeline(benchmark, pipeline_case, bench):
    case = pipeline_case
    x, y = bench.dataset.x_train[:MAX_IMAGES], bench.dataset.y_train[:MAX_IMAGES]
    ds = build_pipeline(case.variant, x, y, case.batch)
    consumer_s = case.consumer_ms / 1e3
    images = run_epoch(ds, consumer_s)  # warm-up epoch: traces the map functions, fills the cache
    rounds = QUICK_ROUNDS if bench.options.quick else ROUNDS
    benchmark.pedantic(run_epoch, args=(ds, consumer_s), rounds=rounds, iterations=1)
    epoch = LatencyStats.from_seconds(benchmark.stats.stats.data, batch=images)
    parallel, cache, prefetch = PIPELINES[case.variant]
    result = PipelineResult(pipeline=case.variant, consumer_ms=case.consumer_ms, batch=case.batch,
                            dataset=bench.manifest.dataset.name, images_per_epoch=images, epoch=epoch,
                            parallel_map=parallel, cache=cache, prefetch=prefetch, map_work=MAP_WORK)
    benchmark.extra_info.update(to_jsonable(result))
    assert images == len(x) and result.images_per_s > 0, f"{case.id}: an epoch yielded {images} of {len(x)} images"
