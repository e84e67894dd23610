"""The optimize stage: for every lesson convnet, train it (cached), and for every user's own model
(--model PATH), check and take it as given (ingest.py); then every variant (produce.py), one model
per worker process; the scaling artifacts are built in the same pool. The pool is a parameter:
`optimize --ray` hands in a runner that runs the same jobs as Ray tasks (convbench/fleet/optimize.py,
which asks cached_model_job first). Writes the manifest the benchmarks read, with every path
relative to the manifest's folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from convbench.core.errors import UserError
from convbench.core.fingerprint import library_versions
from convbench.models.convnets import CONVNETS, get_convnets
from convbench.models.train import (TrainConfig, TrainedModel, cached_trained_only, data_path, prepare_data,
                                    train_one)
from convbench.optimize import scaling
from convbench.optimize.applicability import not_applicable
from convbench.optimize.ingest import cached_ingested, ingest
from convbench.optimize.model_file import inspect_model_file
from convbench.optimize.own_model import load_own_model, own_model_name
from convbench.optimize.produce import ModelContext, cached_variant, keras_artifact, optimize_one
from convbench.optimize.selective import DEFAULT_BUDGET_PP
from convbench.optimize.variants import resolve_variants
from convbench.core.records import (MANIFEST_FILE, ArtifactRecord, Manifest, ScalingFiles, VariantRecord, read_manifest,
                               write_manifest)
from convbench.core.workers import Job, run_jobs, tick


@dataclass(frozen=True)
class OptimizeConfig:
    train: TrainConfig = field(default_factory=TrainConfig)
    variants: tuple[str, ...] = ()             # empty: all
    calibration_samples: int = 200             # train images for int8 calibration
    finetune_epochs: int | None = None         # override every variant's fine-tuning epochs
    max_finetune_samples: int | None = None    # tests: fine-tune on a few samples
    scaling_sides: tuple[int, ...] = ()        # also build the scaling benchmark's artifacts at these sides
    own_models: tuple[Path, ...] = ()          # users' classifiers (--model); then lessons only if named
    selective_budget_pp: float = DEFAULT_BUDGET_PP   # accuracy the selective variants may lose vs fp32
    layer_error_images: int = 64               # validation images for per-layer quantization errors

    def __post_init__(self) -> None:
        resolve_variants(list(self.variants))  # unknown names fail before any work
        bad = [s for s in self.scaling_sides if not 8 <= s <= 1024]
        if bad:
            raise UserError(f"--scaling-sides {bad}: each side must be 8..1024 pixels")
        if self.finetune_epochs is not None and self.finetune_epochs < 1:
            raise UserError(f"--fine-tune-epochs {self.finetune_epochs}: must be at least 1")
        if not 0 <= self.selective_budget_pp <= 100:
            raise UserError(f"--selective-budget {self.selective_budget_pp}: must be 0..100 percentage points")
        names = [own_model_name(p) for p in self.own_models]
        for path, name in zip(self.own_models, names):
            inspect_model_file(path)           # missing, pickle-based, corrupt: one line, before any work
            if name in CONVNETS or names.count(name) > 1:
                taken_by = "a lesson convnet" if name in CONVNETS else "another --model"
                raise UserError(f"{path}: its name {name!r} is taken by {taken_by}; rename the file")

    @property
    def lessons(self) -> list[str]:
        """Lesson convnets to run: those named, else all, except that --model alone runs none."""
        if self.own_models and not self.train.models:
            return []
        return [entry.name for entry in get_convnets(list(self.train.models))]


@dataclass
class ModelResult:
    """What one model's job hands back to the parent (paths absolute)."""

    trained: TrainedModel
    artifacts: list[ArtifactRecord]


# How the job list is run: core.workers.run_jobs (local processes), or another runner with its
# signature (convbench/fleet/optimize.py: each job a Ray task).
JobRunner = Callable[[list[Job], "int | None", str, bool], list[Any]]


def optimize_all(config: OptimizeConfig, progress: bool = True, run: JobRunner = run_jobs) -> Manifest:
    dataset = prepare_data(config.train)   # here, once: the workers then only read its .npz
    for path in config.own_models:         # bad models fail here, in one line, before any work
        load_own_model(path, dataset.input_shape, dataset.num_classes)
    variants = resolve_variants(list(config.variants))
    models = [(name, None) for name in config.lessons] + [(own_model_name(p), p) for p in config.own_models]
    # Longest first, so short scaling builds fill the gaps at the end.
    jobs = [Job(name, optimize_model_job, (config, name, path), units=1 + len(variants)) for name, path in models]
    jobs += [Job(f"scaling {arch} {side}px", scaling.scaling_job,
                 (config.train.out / "scaling", arch, side, dataset.num_classes))
             for side in sorted(config.scaling_sides, reverse=True) for arch in config.lessons]
    started = time.perf_counter()
    done = run(jobs, config.train.workers, "optimize", progress)
    results: list[ModelResult] = done[:len(models)]
    out = config.train.out
    info = dataset.describe()
    info.path = str(data_path(config.train).resolve())
    manifest = Manifest(
        created=datetime.now(UTC).isoformat(timespec="seconds"), dataset=info, versions=library_versions(),
        config={"variants": [v.name for v in variants], "calibration_samples": config.calibration_samples,
                "seed": config.train.seed, "workers": config.train.workers,
                "finetune_epochs": config.finetune_epochs, "selective_budget_pp": config.selective_budget_pp},
        optimize_seconds=time.perf_counter() - started,
        trained=[_with_folder(r.trained) for r in results],
        artifacts=[a for r in results for a in r.artifacts],
        scaling=[ScalingFiles(arch=r.arch, side=r.side, folder=str(Path(r.folder).resolve()))
                 for r in done[len(models):]],
        path=out / MANIFEST_FILE)       # paths above are absolute until written
    manifest = merged_with_previous(manifest, out / MANIFEST_FILE)
    write_manifest(out / "manifests" / f"{manifest.created.replace(':', '')}.json", manifest)
    return write_manifest(out / MANIFEST_FILE, manifest)


def merged_with_previous(new: Manifest, previous_path: Path) -> Manifest:
    """`optimize --models X --variants Y` replaces X's rows for Y and keeps every other row of
    the previous manifest, so a later bench still sees all models. Rows of a model whose trained
    fingerprint changed are dropped (they came from other weights), and nothing is kept from a
    manifest of another data set or an unreadable one."""
    if not previous_path.is_file():
        return new
    try:
        old = read_manifest(previous_path)
    except UserError:
        return new  # another schema or corrupt: this run's rows are the manifest
    if old.dataset.fingerprint != new.dataset.fingerprint:
        return new
    retrained = {t.name for t in new.trained if (o := old.trained_model(t.name)) and o.fingerprint != t.fingerprint}
    made = {(a.model, a.variant, a.format) for a in new.artifacts}
    kept = [replace(a, path=str(old.artifact_path(a).resolve()) if a.path else None) for a in old.artifacts
            if (a.model, a.variant, a.format) not in made and a.model not in retrained]
    new_models = {t.name for t in new.trained}
    trained = [replace(t, folder=str(old.resolve(t.folder).resolve())) for t in old.trained
               if t.name not in new_models] + new.trained
    order = {t.name: i for i, t in enumerate(trained)}
    artifacts = sorted(kept + new.artifacts, key=lambda a: order.get(a.model, len(order)))
    built = {(e.arch, e.side) for e in new.scaling}
    scaling = [replace(e, folder=str(old.resolve(e.folder).resolve())) for e in old.scaling
               if (e.arch, e.side) not in built and old.resolve(e.folder).is_dir()] + new.scaling
    return replace(new, trained=trained, artifacts=artifacts, scaling=scaling)


def _with_folder(trained: TrainedModel):
    return replace(trained.record, folder=str(trained.folder.resolve()))


def optimize_model_job(config: OptimizeConfig, name: str, own_path: Path | None = None) -> ModelResult:
    """One model, in a worker: a lesson convnet trained (cached) or a user's model taken as given,
    then every variant in registry order (parents first), those that cannot apply to it skipped.
    Ticks once when the model is ready and once per variant."""
    dataset = prepare_data(config.train)
    if own_path is None:
        trained = train_one(get_convnets([name])[0], dataset, config.train)
    else:
        trained = ingest(own_path, name, dataset, config.train)
    tick(f"{name} ready")
    result = _variants(config, trained, dataset, build=True)
    assert result is not None
    return result


def cached_model_job(config: OptimizeConfig, name: str, own_path: Path | None = None) -> ModelResult | None:
    """What optimize_model_job would return where it has no work to do: the trained model and
    every variant in the cache (a variant that cannot apply decided again, as there, without
    work); None otherwise. Ticks nothing. `optimize --ray`'s driver asks it before it sends a job."""
    dataset = prepare_data(config.train)
    if own_path is None:
        trained = cached_trained_only(get_convnets([name])[0], dataset, config.train)
    else:
        trained = cached_ingested(own_path, name, dataset, config.train)
    return None if trained is None else _variants(config, trained, dataset, build=False)


def _variants(config: OptimizeConfig, trained: TrainedModel, dataset, build: bool) -> ModelResult | None:
    """Every variant in registry order (parents first); without `build`, None at the first one
    that would need work."""
    ctx = ModelContext(trained, dataset, config, trained.reference_outputs(),
                       not_applicable(trained.load(inference=False)))
    artifacts = [_absolute(keras_artifact(ctx))]   # relative to the cwd otherwise (`--out artifacts`)
    records: dict[str, VariantRecord] = {}
    for variant in resolve_variants(list(config.variants)):
        record = None if build else cached_variant(ctx, variant, records)
        if record is None:
            if not build and ctx.skip_reason(variant) is None:
                return None
            record = optimize_one(ctx, variant, records)   # without build: a skip, decided without work
        records[variant.name] = record
        artifacts.extend(_absolute(a) for a in record.artifacts)
        if build:
            tick(f"{trained.name}/{variant.name}")
    return ModelResult(trained, artifacts)


def _absolute(artifact: ArtifactRecord) -> ArtifactRecord:
    return replace(artifact, path=str(Path(artifact.path).resolve())) if artifact.path else artifact
