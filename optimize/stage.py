"""The optimize stage: for every lesson convnet, train it (cached), then every variant
(produce.py), one model per worker process; the scaling artifacts are built in the same pool.
Writes the manifest the benchmarks read, with every path relative to the manifest's folder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from convbench.fingerprint import library_versions
from convbench.models.convnets import get_convnets
from convbench.models.train import TrainConfig, TrainedModel, data_path, prepare_data, train_one
from convbench.optimize import scaling
from convbench.optimize.produce import ModelContext, keras_artifact, optimize_one
from convbench.optimize.variants import resolve_variants
from convbench.records import MANIFEST_FILE, ArtifactRecord, Manifest, VariantRecord, write_manifest
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


@dataclass
class ModelResult:
    """What one model's job hands back to the parent (paths absolute)."""

    trained: TrainedModel
    artifacts: list[ArtifactRecord]


def optimize_all(config: OptimizeConfig, progress: bool = True) -> Manifest:
    dataset = prepare_data(config.train)   # here, once: the workers then only read its .npz
    variants = resolve_variants(list(config.variants))
    models = [entry.name for entry in get_convnets(list(config.train.models))]
    # Longest first, so short scaling builds fill the gaps at the end.
    jobs = [Job(name, optimize_model_job, (config, name), units=1 + len(variants)) for name in models]
    jobs += [Job(f"scaling {arch} {side}px", scaling.scaling_job,
                 (config.train.out / "scaling", arch, side, dataset.num_classes))
             for side in sorted(config.scaling_sides, reverse=True) for arch in models]
    started = time.perf_counter()
    results: list[ModelResult] = run_jobs(jobs, config.train.workers, "optimize", progress)[:len(models)]
    out = config.train.out
    info = dataset.describe()
    info.path = str(data_path(config.train).resolve())
    manifest = Manifest(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), dataset=info, versions=library_versions(),
        config={"variants": [v.name for v in variants], "calibration_samples": config.calibration_samples,
                "seed": config.train.seed, "workers": config.train.workers},
        optimize_seconds=time.perf_counter() - started,
        trained=[_with_folder(r.trained) for r in results],
        artifacts=[a for r in results for a in r.artifacts],
        path=out / MANIFEST_FILE)       # paths above are absolute until written
    write_manifest(out / "manifests" / f"{manifest.created.replace(':', '')}.json", manifest)
    return write_manifest(out / MANIFEST_FILE, manifest)


def _with_folder(trained: TrainedModel):
    return replace(trained.record, folder=str(trained.folder.resolve()))


def optimize_model_job(config: OptimizeConfig, name: str) -> ModelResult:
    """One lesson convnet, in a worker: train (cached), then every variant in registry order
    (parents first). Ticks once after training and once per variant."""
    dataset = prepare_data(config.train)
    trained = train_one(get_convnets([name])[0], dataset, config.train)
    tick(f"{name} trained")
    ctx = ModelContext(trained, dataset, config, trained.reference_outputs())
    artifacts = [keras_artifact(ctx)]
    records: dict[str, VariantRecord] = {}
    for variant in resolve_variants(list(config.variants)):
        records[variant.name] = optimize_one(ctx, variant, records)
        artifacts.extend(_absolute(a) for a in records[variant.name].artifacts)
        tick(f"{name}/{variant.name}")
    return ModelResult(trained, artifacts)


def _absolute(artifact: ArtifactRecord) -> ArtifactRecord:
    return replace(artifact, path=str(Path(artifact.path).resolve())) if artifact.path else artifact
