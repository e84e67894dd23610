"""One (model, variant): technique -> exports -> load-and-run check -> per-layer error of each
quantized file -> VariantRecord. Cached per variant in its own folder (record.json, artifact
paths relative to it), keyed by a fingerprint of the code that makes it. A failing variant is
recorded with its error, one that cannot apply to this model with why it was skipped; neither
raises."""

from __future__ import annotations

import gzip
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convbench.core import classes
from convbench.core.errors import NotApplicable
from convbench.core.fingerprint import code_of, fingerprint, library_versions, sha256_file
from convbench.core.formats import KERAS_FP32, family, file_name
from convbench.core.fsutil import atomic_dir
from convbench.models.convnets import strip_augmentation
from convbench.models.data import Dataset
from convbench.models.train import TrainedModel
from convbench.optimize import (export, inspect_artifact, keras3_export, layer_errors, litert_quantizer, quant_error,
                                selective, techniques)
from convbench.optimize.export import EXPORTERS, ExportInputs, Exported
from convbench.optimize.techniques import TECHNIQUES, FineTune, TechniqueResult
from convbench.optimize.variants import VARIANTS, Variant, is_parent
from convbench.core.records import ArtifactRecord, TrainedRecord, VariantRecord, Verification, read_record, write_record
from convbench.core.runtimes import runtime_for
from convbench.core.runtimes.keras_tf import load_keras_safely
from convbench.core.tfsetup import keras, seed_everything
from convbench.core.workers import tf_intra_op_threads

if TYPE_CHECKING:
    from convbench.optimize.stage import OptimizeConfig

VERIFY_BATCH = 100
VERIFY_THREADS = 1   # verification runs inside parallel optimize workers, one core each
RECORD_FILE = "record.json"


@dataclass
class ModelContext:
    trained: TrainedModel
    dataset: Dataset
    config: OptimizeConfig
    reference: np.ndarray                      # fp32 Keras outputs on the test split
    not_applicable: dict[str, str]             # technique -> why it cannot apply to this model

    @property
    def calibration(self) -> np.ndarray:
        rng = np.random.default_rng(self.config.train.seed)
        count = min(self.config.calibration_samples, len(self.dataset.x_train))
        return self.dataset.x_train[np.sort(rng.choice(len(self.dataset.x_train), count, replace=False))]

    @property
    def finetune_data(self):
        n = self.config.max_finetune_samples
        d = self.dataset
        return (d.x_train[:n], d.y_train[:n]) if n else (d.x_train, d.y_train)

    def export_inputs(self, model) -> ExportInputs:
        return ExportInputs(model=model, calibration=self.calibration,
                            validation=(self.dataset.x_val, self.dataset.y_val),
                            budget_pp=self.config.selective_budget_pp, error_images=self.config.layer_error_images)

    def skip_reason(self, variant: Variant) -> str | None:
        """Why `variant` cannot apply to this model (its technique, or a parent's), or None."""
        if variant.technique in self.not_applicable:
            return self.not_applicable[variant.technique]
        if variant.parent:
            reason = self.skip_reason(VARIANTS[variant.parent])
            return f"starts from {variant.parent}, which cannot apply: {reason}" if reason else None
        return None

    def artifact(self, **fields) -> ArtifactRecord:
        return ArtifactRecord(model=self.trained.name, input_shape=list(self.dataset.input_shape),
                              num_classes=self.dataset.num_classes,
                              flops_per_image=self.trained.record.flops_per_image, **fields)


def keras_artifact(ctx: ModelContext) -> ArtifactRecord:
    """The trained fp32 Keras model itself, for the Keras/TF runtimes downstream."""
    path = ctx.trained.file(TrainedRecord.INFERENCE_FILE).resolve()  # absolute until the manifest is written
    verification = Verification(runtime="tf_keras predict", device="cpu", threads=None, images=len(ctx.reference),
                                accuracy=ctx.trained.record.test_accuracy, agreement_vs_fp32=1.0,
                                max_abs_diff_vs_fp32=0.0)
    return ctx.artifact(variant=KERAS_FP32, format="keras", technique="none", path=str(path),
                        sha256=sha256_file(path), bytes=path.stat().st_size, verification=verification,
                        built_on=ctx.trained.record.built_on)


def variant_fingerprint(ctx: ModelContext, variant: Variant, records: dict[str, VariantRecord]) -> str:
    parent_fp = records[variant.parent].fingerprint if variant.parent else None
    return fingerprint({
        "trained": ctx.trained.record.fingerprint, "variant": asdict(variant), "parent": parent_fp,
        "finetune_epochs": ctx.config.finetune_epochs, "max_finetune_samples": ctx.config.max_finetune_samples,
        "calibration_samples": ctx.config.calibration_samples,
        "selective": [ctx.config.selective_budget_pp, ctx.config.layer_error_images],
        "code": [code_of(m) for m in (techniques, export, inspect_artifact, keras3_export, litert_quantizer, selective,
                                      quant_error, layer_errors, sys.modules[__name__])],
        "record": code_of(ArtifactRecord),
        "intra_op_threads": tf_intra_op_threads(),
        "versions": library_versions(),
    })


def variant_folder(ctx: ModelContext, variant: Variant, fp: str) -> Path:
    return (ctx.config.train.out / "optimized" / f"{ctx.trained.name}-{ctx.trained.record.fingerprint[:12]}"
            / f"{variant.name}-{fp[:12]}")


def cached_variant(ctx: ModelContext, variant: Variant, records: dict[str, VariantRecord]) -> VariantRecord | None:
    """The variant's complete record from its cache folder (artifact paths absolute), or None."""
    folder = variant_folder(ctx, variant, variant_fingerprint(ctx, variant, records))
    if (folder / RECORD_FILE).exists():
        record = read_record(folder / RECORD_FILE, VariantRecord)
        if record.complete:
            return _located(replace(record, cached=True,
                                    artifacts=[replace(a, cached=True) for a in record.artifacts]), folder)
    return None


def optimize_one(ctx: ModelContext, variant: Variant, records: dict[str, VariantRecord]) -> VariantRecord:
    """The variant's record, from its cache folder or made now; artifact paths are absolute."""
    cached = cached_variant(ctx, variant, records)
    if cached is not None:
        return cached
    fp = variant_fingerprint(ctx, variant, records)
    folder = variant_folder(ctx, variant, fp)
    base = dict(variant=variant.name, technique=variant.technique, technique_params=variant.params,
                parent=variant.parent or KERAS_FP32)
    skipped = ctx.skip_reason(variant)
    try:
        if skipped:
            raise NotApplicable(skipped)
        parent = _load_parent(ctx, variant, records)
        tune = variant.finetune or FineTune()
        if ctx.config.finetune_epochs is not None:
            tune = FineTune(ctx.config.finetune_epochs, tune.batch_size, tune.learning_rate)
        # Seeded per variant: the same trained model and seed give the same fine-tuned artifact,
        # whatever ran before it in this process.
        seed_everything(ctx.config.train.seed)
        result = TECHNIQUES[variant.technique](parent, ctx.finetune_data, tune, **variant.params)
    except Exception as exc:  # one variant's failure must not stop the others
        # Not cached: deciding again is cheap, and a fixed bug must not stay hidden behind a cache.
        outcome = {"skipped": str(exc)} if isinstance(exc, NotApplicable) else {"error": _describe(exc)}
        return VariantRecord(fingerprint=fp, complete="skipped" in outcome, error=outcome.get("error"),
                             artifacts=[ctx.artifact(format=f, **outcome, **base) for f in variant.exports])

    # QAT models convert as they are (their fake-quant ranges are the point); the others
    # export their inference form, without augmentation layers.
    model = result.model if variant.technique == "qat" else strip_augmentation(result.model)
    with atomic_dir(folder) as tmp:
        if is_parent(variant.name):
            result.model.save(tmp / "model.keras")     # later variants start from it
        outcome, inputs = Outcome(), ctx.export_inputs(model)
        for fmt in variant.exports:
            _produce(fmt, inputs, tmp, outcome)
        artifacts = [_artifact(ctx, fmt, base, result, outcome) for fmt in variant.exports]
        artifacts = [layer_errors.attach(a, outcome.produced.get(a.format), variant, outcome.produced, records,
                                         ctx.dataset.x_val[:ctx.config.layer_error_images]) for a in artifacts]
        for stray in set(outcome.produced) - set(variant.exports):
            outcome.produced[stray].unlink(missing_ok=True)   # intermediates (e.g. fp32 ONNX for onnx_dynamic)
        record = VariantRecord(fingerprint=fp, complete=not any(a.failed for a in artifacts),
                               finetune_history=result.history, artifacts=artifacts)
        write_record(tmp / RECORD_FILE, record)
    return _located(record, folder)


def _located(record: VariantRecord, folder: Path) -> VariantRecord:
    """The record with its folder set and artifact paths made absolute (they are stored relative)."""
    artifacts = [replace(a, path=str(folder / a.path)) if a.path else a for a in record.artifacts]
    return replace(record, folder=folder, artifacts=artifacts)


@dataclass
class Outcome:
    """What each format's exporter did in one variant folder: a file, or why there is none."""

    produced: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    exported: dict[str, Exported] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _artifact(ctx, fmt, base, result: TechniqueResult, outcome: Outcome) -> ArtifactRecord:
    common = dict(format=fmt, finetune_seconds=result.finetune_seconds, wrapped_layers=result.wrapped,
                  left_out_layers=result.left_out, layer_notes=result.notes, **base)
    if fmt in outcome.errors or fmt in outcome.skipped:
        return ctx.artifact(error=outcome.errors.get(fmt), skipped=outcome.skipped.get(fmt), **common)
    path, exported = outcome.produced[fmt], outcome.exported[fmt]
    data = path.read_bytes()
    return ctx.artifact(path=path.name, sha256=sha256_file(path), bytes=len(data),
                        gzip_bytes=len(gzip.compress(data, 9)), weights=inspect_artifact.artifact_weights(path),
                        verification=verify(path, fmt, ctx), conversion_seconds=outcome.seconds[fmt],
                        exported_by=exported.exported_by, selection=exported.selection, **common)


def verify(path: Path, fmt: str, ctx: ModelContext) -> Verification:
    """Run the artifact over the held-out split through the runtime registry (the same
    sessions the benchmarks time), and compare its decisions with the fp32 parent's."""
    runtime = runtime_for(family(fmt))
    outputs = runtime.load(path, threads=VERIFY_THREADS, batch=VERIFY_BATCH).predict_all(ctx.dataset.x_test)
    return Verification(runtime=runtime.name, device="cpu", threads=VERIFY_THREADS, images=len(outputs),
                        accuracy=classes.accuracy(outputs, ctx.dataset.y_test),
                        agreement_vs_fp32=classes.agreement(outputs, ctx.reference),
                        max_abs_diff_vs_fp32=float(np.max(np.abs(outputs.astype(np.float64) - ctx.reference))))


def _load_parent(ctx: ModelContext, variant: Variant, records: dict[str, VariantRecord]) -> keras.Model:
    if variant.parent is None:
        return ctx.trained.load(inference=False)       # the training model: fine-tuning keeps augmentation
    parent = records[variant.parent]
    if parent.error or not parent.complete:
        raise RuntimeError(f"parent variant {variant.parent} failed: {parent.error or 'an export failed'}")
    if parent.folder is None:   # skipped: nothing was made
        raise NotApplicable(f"starts from {variant.parent}, which cannot apply: {parent.artifacts[0].skipped}")
    if not (Path(parent.folder) / "model.keras").exists():
        raise RuntimeError(f"parent variant {variant.parent} has no saved model in {parent.folder}")
    # Reloaded, not reused: TFMOT cannot wrap the same in-memory model twice.
    return load_keras_safely(Path(parent.folder) / "model.keras")


def _produce(fmt: str, inputs: ExportInputs, folder: Path, outcome: Outcome) -> None:
    if fmt in outcome.produced or fmt in outcome.errors or fmt in outcome.skipped:
        return
    exporter = EXPORTERS[fmt]
    source = None
    if exporter.source:
        _produce(exporter.source, inputs, folder, outcome)
        if exporter.source in outcome.skipped:
            outcome.skipped[fmt] = (f"made from {exporter.source}, which cannot apply: "
                                    f"{outcome.skipped[exporter.source]}")
            return
        if exporter.source in outcome.errors:
            outcome.errors[fmt] = f"needs {exporter.source}, which failed"
            return
        source = outcome.produced[exporter.source]
    path = folder / file_name(fmt)
    started = time.perf_counter()
    try:
        outcome.exported[fmt] = exporter.make(inputs, path, source)
    except NotApplicable as exc:
        outcome.skipped[fmt] = str(exc)
        return
    except Exception as exc:
        outcome.errors[fmt] = _describe(exc)
        return
    outcome.seconds[fmt] = time.perf_counter() - started
    outcome.produced[fmt] = path


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{where}"[:500]
