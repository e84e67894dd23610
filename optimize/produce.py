"""One (lesson convnet, variant): technique -> exports -> load-and-run check -> record.
Cached per variant in its own folder, keyed by a fingerprint that includes this module's
source; a failing variant is recorded and does not raise."""

from __future__ import annotations

import gzip
import json
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convbench.fingerprint import fingerprint, library_versions, sha256_file, source_of
from convbench.fsutil import atomic_dir, write_json_atomic
from convbench.models.convnets import strip_augmentation
from convbench.models.data import Dataset
from convbench.models.train import TrainedModel
from convbench.optimize import evaluate, export, inspect_artifact, techniques
from convbench.optimize.techniques import FineTune, TechniqueResult
from convbench.optimize.variants import Variant, is_parent
from convbench.tfsetup import keras, seed_everything
from convbench.workers import tf_intra_op_threads

if TYPE_CHECKING:
    from convbench.optimize.pipeline import OptimizeConfig

TECHNIQUES = {
    "none": lambda model, data, tune, **_: TechniqueResult(model),
    "prune": techniques.prune,
    "cluster": techniques.cluster,
    "qat": techniques.quantization_aware,
}

# format -> (producer(model, out_path, calibration, inputs), the format whose file it converts)
EXPORTERS = {
    **{f"tflite_{mode}": ((lambda mode: lambda m, p, cal, _: export.to_tflite(m, p, mode, cal))(mode), None)
       for mode in export.TFLITE_MODES},
    "onnx_fp32": (lambda m, p, cal, _: export.to_onnx(m, p), None),
    "onnx_int8": (lambda m, p, cal, src: export.tflite_to_onnx(src, p), "tflite_int8"),
    "onnx_dynamic": (lambda m, p, cal, src: export.onnx_dynamic(src, p), "onnx_fp32"),
    "onnx_static_qdq": (lambda m, p, cal, src: export.onnx_static_qdq(src, p, cal), "onnx_fp32"),
    "onnx_fp16": (lambda m, p, cal, src: export.onnx_fp16(src, p), "onnx_fp32"),
}


@dataclass
class ModelContext:
    trained: TrainedModel
    dataset: Dataset
    config: OptimizeConfig
    reference: np.ndarray                      # fp32 Keras outputs on the test split

    @property
    def calibration(self) -> np.ndarray:
        rng = np.random.default_rng(self.config.train.seed)
        idx = rng.choice(len(self.dataset.x_train), min(self.config.calibration_samples, len(self.dataset.x_train)), replace=False)
        return self.dataset.x_train[np.sort(idx)]

    @property
    def finetune_data(self):
        n = self.config.max_finetune_samples
        return (self.dataset.x_train[:n], self.dataset.y_train[:n]) if n else (self.dataset.x_train, self.dataset.y_train)


def keras_row(ctx: ModelContext) -> dict:
    """The trained fp32 Keras model itself, for the Keras/TF runtimes downstream."""
    s = ctx.trained.summary
    return {
        "model": ctx.trained.name, "variant": "keras_fp32", "format": "keras", "technique": "none",
        "path": str(ctx.trained.inference_path), "bytes": ctx.trained.inference_path.stat().st_size,
        "params": s["params"], "flops_per_image": s["flops_per_image"], "parent": None,
        "input_shape": list(ctx.dataset.input_shape), "num_classes": ctx.dataset.num_classes,
        "runtime": "keras", **evaluate.compare(ctx.reference, ctx.dataset.y_test, ctx.reference), "error": None,
    }


def variant_fingerprint(ctx: ModelContext, variant: Variant, records: dict) -> str:
    parent_fp = records[variant.parent]["fingerprint"] if variant.parent else None
    return fingerprint({
        "trained": ctx.trained.summary["fingerprint"], "variant": asdict(variant), "parent": parent_fp,
        "finetune_epochs": ctx.config.finetune_epochs, "max_finetune_samples": ctx.config.max_finetune_samples,
        "calibration_samples": ctx.config.calibration_samples,
        "code": [source_of(m) for m in (techniques, export, evaluate, inspect_artifact, sys.modules[__name__])],
        "intra_op_threads": tf_intra_op_threads(),
        "versions": library_versions(),
    })


def optimize_one(ctx: ModelContext, variant: Variant, records: dict) -> dict:
    fp = variant_fingerprint(ctx, variant, records)
    folder = ctx.config.train.out / "optimized" / f"{ctx.trained.name}-{ctx.trained.summary['fingerprint'][:12]}" / f"{variant.name}-{fp[:12]}"
    record_path = folder / "record.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record["complete"]:
            return {**record, "folder": str(folder), "cached": True}
    base = {"model": ctx.trained.name, "variant": variant.name, "technique": variant.technique,
            "params_technique": variant.params, "parent": variant.parent or "keras_fp32",
            "input_shape": list(ctx.dataset.input_shape), "num_classes": ctx.dataset.num_classes}
    try:
        parent = _load_parent(ctx, variant, records)
        tune = variant.finetune or FineTune()
        if ctx.config.finetune_epochs is not None:
            tune = FineTune(ctx.config.finetune_epochs, tune.batch_size, tune.learning_rate)
        # Seeded per variant: the same trained model and seed give the same fine-tuned artifact,
        # whatever ran before it in this process.
        seed_everything(ctx.config.train.seed)
        result = TECHNIQUES[variant.technique](parent, ctx.finetune_data, tune, **variant.params)
    except Exception as exc:  # one variant's failure must not stop the others
        error = _describe(exc)
        return {"fingerprint": fp, "complete": False, "cached": False, "error": error,
                "artifacts": [{**base, "format": f, "error": error} for f in variant.exports]}

    # QAT models convert as they are (their fake-quant ranges are the point); the others
    # export their inference form, without augmentation layers.
    model = result.model if variant.technique == "qat" else strip_augmentation(result.model)
    with atomic_dir(folder) as tmp:
        if is_parent(variant.name):
            result.model.save(tmp / "model.keras")     # later variants start from it
        produced, seconds, errors = {}, {}, {}
        for fmt in variant.exports:
            _produce(fmt, model, tmp, ctx.calibration, produced, seconds, errors)
        for stray in set(produced) - set(variant.exports):
            produced[stray].unlink(missing_ok=True)    # intermediates (e.g. fp32 ONNX for onnx_dynamic)
        artifacts = []
        for fmt in variant.exports:
            row = {**base, "format": fmt, "finetune_seconds": result.finetune_seconds,
                   "wrapped_layers": result.wrapped, "left_out_layers": result.left_out, "layer_notes": result.notes,
                   "flops_per_image": ctx.trained.summary["flops_per_image"]}
            if fmt in errors:
                artifacts.append({**row, "error": errors[fmt]})
                continue
            final_path = folder / produced[fmt].name
            artifacts.append({**row, **_verify(produced[fmt], ctx), "path": str(final_path),
                              "conversion_seconds": seconds[fmt], "error": None})
        record = {"fingerprint": fp, "folder": str(folder), "complete": not any(a["error"] for a in artifacts),
                  "finetune_history": result.history, "artifacts": artifacts}
        write_json_atomic(tmp / "record.json", record)
    return {**record, "cached": False}


def _load_parent(ctx: ModelContext, variant: Variant, records: dict) -> keras.Model:
    if variant.parent is None:
        return ctx.trained.load(inference=False)       # the training model: fine-tuning keeps augmentation
    parent = records[variant.parent]
    if parent.get("error"):
        raise RuntimeError(f"parent variant {variant.parent} failed: {parent['error']}")
    folder = Path(parent["folder"])
    if not (folder / "model.keras").exists():
        raise RuntimeError(f"parent variant {variant.parent} has no saved model in {folder}")
    # Reloaded, not reused: TFMOT cannot wrap the same in-memory model twice.
    return keras.models.load_model(folder / "model.keras")


def _produce(fmt: str, model, folder: Path, calibration, produced: dict, seconds: dict, errors: dict) -> None:
    if fmt in produced or fmt in errors:
        return
    producer, source_fmt = EXPORTERS[fmt]
    source = None
    if source_fmt:
        _produce(source_fmt, model, folder, calibration, produced, seconds, errors)
        if source_fmt in errors:
            errors[fmt] = f"needs {source_fmt}, which failed"
            return
        source = produced[source_fmt]
    path = folder / f"{fmt}{'.tflite' if fmt.startswith('tflite') else '.onnx'}"
    started = time.perf_counter()
    try:
        producer(model, path, calibration, source)
    except Exception as exc:
        errors[fmt] = _describe(exc)
        return
    seconds[fmt] = time.perf_counter() - started
    produced[fmt] = path


def _verify(path: Path, ctx: ModelContext) -> dict:
    """Load and run the artifact in its runtime over the test split, read its weights back."""
    data = path.read_bytes()
    deployed = evaluate.run_artifact(path, ctx.dataset.x_test)
    return {
        "sha256": sha256_file(path), "bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9)),
        **inspect_artifact.artifact_weights(path).as_dict(),
        "runtime": deployed.runtime, **evaluate.compare(deployed.outputs, ctx.dataset.y_test, ctx.reference),
    }


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{where}"[:500]
