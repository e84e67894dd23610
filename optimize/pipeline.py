"""The optimize step: for every lesson convnet, train it (cached), then every variant
(produce.py), one model per worker process; the scaling artifacts are built in the same pool.
Writes the manifest that the benchmarks read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from convbench.fingerprint import library_versions
from convbench.fsutil import write_json_atomic
from convbench.models.convnets import get_convnets
from convbench.models.train import TrainConfig, prepare_data, train_one
from convbench.optimize import scaling
from convbench.optimize.produce import ModelContext, keras_row, optimize_one
from convbench.optimize.variants import resolve_variants
from convbench.workers import Job, run_jobs, tick


@dataclass(frozen=True)
class OptimizeConfig:
    train: TrainConfig = field(default_factory=TrainConfig)
    variants: tuple[str, ...] = ()             # empty: all
    calibration_samples: int = 200             # train images for int8 calibration
    finetune_epochs: int | None = None         # tests: override every variant's fine-tuning
    max_finetune_samples: int | None = None    # tests: fine-tune on a few samples
    scaling_sides: tuple[int, ...] = ()        # also build the scaling benchmark's artifacts at these sides

    def __post_init__(self) -> None:
        resolve_variants(list(self.variants))  # unknown names fail before any work


def optimize_all(config: OptimizeConfig, progress: bool = True) -> dict:
    dataset = prepare_data(config.train)   # here, once: the workers then only read its .npz
    variants = resolve_variants(list(config.variants))
    models = [entry.name for entry in get_convnets(list(config.train.models))]
    # Longest first, so short scaling builds fill the gaps at the end.
    jobs = [Job(name, optimize_model_job, (config, name), units=1 + len(variants)) for name in models]
    jobs += [Job(f"scaling {arch} {side}px", scaling.scaling_job, (config.train.out / "scaling", arch, side, dataset.num_classes))
             for side in sorted(config.scaling_sides, reverse=True) for arch in models]
    started = time.perf_counter()
    results = run_jobs(jobs, config.train.workers, "optimize", progress)
    trained = [r["trained"] for r in results[:len(models)]]
    manifest = {
        "schema": "convbench.manifest/1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset.describe(),
        "versions": library_versions(),
        "config": {"variants": [v.name for v in variants], "calibration_samples": config.calibration_samples,
                   "seed": config.train.seed, "workers": config.train.workers},
        "optimize_seconds": time.perf_counter() - started,
        "trained": [{"name": t.name, "folder": str(t.folder), **t.summary} for t in trained],
        "artifacts": [row for r in results[:len(models)] for row in r["rows"]],
        "scaling": [{"arch": a.arch, "input_shape": list(a.input_shape), "folder": str(a.folder), "cached": a.cached}
                    for a in results[len(models):]],
    }
    out = config.train.out
    write_json_atomic(out / "manifests" / f"{manifest['created'].replace(':', '')}.json", manifest)
    write_json_atomic(out / "manifest.json", manifest)
    return manifest


def optimize_model_job(config: OptimizeConfig, name: str) -> dict:
    """One lesson convnet, in a worker: train (cached), then every variant in registry order
    (parents first). Ticks once after training and once per variant."""
    dataset = prepare_data(config.train)
    trained = train_one(get_convnets([name])[0], dataset, config.train)
    tick(f"{name} trained")
    inference = trained.load(inference=True)
    ctx = ModelContext(trained, dataset, config, inference.predict(dataset.x_test, batch_size=256, verbose=0))
    rows = [keras_row(ctx)]
    records: dict[str, dict] = {}
    for variant in resolve_variants(list(config.variants)):
        records[variant.name] = optimize_one(ctx, variant, records)
        rows.extend(records[variant.name]["artifacts"])
        tick(f"{name}/{variant.name}")
    return {"trained": trained, "rows": rows}
