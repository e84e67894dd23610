"""The selective int8 variant end to end for one model, by either post-training path:
full int8 -> per-layer error vs fp32 -> keep the worst layers float one at a time until the
validation accuracy is within the budget of fp32's. Layers are chosen on the validation split,
so the held-out test accuracy reported afterwards was not used to choose them."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from convbench.fsutil import write_bytes_atomic
from convbench.models.train import predicted_labels
from convbench.optimize import litert_quantizer, selective
from convbench.optimize.evaluate import run_artifact

QUANTIZERS = ("converter", "litert_quantizer")
ERROR_IMAGES = 200   # validation images for the per-layer error pass (all tensors are kept in memory)


@dataclass
class SelectiveVariant:
    quantizer: str
    path: str
    bytes: int
    float_layers: list[str]
    met_budget: bool
    budget_pp: float
    fp32_val_accuracy: float
    val_accuracy: float
    full_int8_val_accuracy: float
    full_int8_bytes: int
    ranking: list[dict]          # per-layer errors of the full int8 file, largest added error first
    trace: list[dict]            # every try: float layers, validation accuracy, within budget

    def as_dict(self) -> dict:
        return asdict(self)


def converter_for(source):
    """An fp32 TFLiteConverter for a tf_keras or Keras 3 model, or a SavedModel folder. The
    variables holder keeps backing tf.Variables (Keras 3 wraps them; see keras3_export)."""
    from convbench.tfsetup import tf

    if isinstance(source, (str, Path)):
        return tf.lite.TFLiteConverter.from_saved_model(str(source))
    spec = tf.TensorSpec([None, *source.inputs[0].shape[1:]], tf.float32, name="input")
    fn = tf.function(lambda x: source(x, training=False)).get_concrete_function(spec)
    holder = tf.Module()
    holder.model_variables = [v if isinstance(v, tf.Variable) else v.value for v in source.variables]
    return tf.lite.TFLiteConverter.from_concrete_functions([fn], holder)


def build_selective_int8(fp32_path: Path, out_path: Path, calibration: np.ndarray, x_val: np.ndarray,
                         y_val: np.ndarray, quantizer: str = "converter", source=None,
                         budget_pp: float = selective.DEFAULT_BUDGET_PP) -> SelectiveVariant:
    """fp32_path: the fp32 .tflite (the reference, and the LiteRT Quantizer's input). source: the
    Keras model or SavedModel folder the converter path starts from (unused by litert_quantizer)."""
    if quantizer not in QUANTIZERS:
        raise ValueError(f"unknown quantizer {quantizer!r}; valid: {QUANTIZERS}")
    if quantizer == "converter" and source is None:
        raise ValueError("the converter path needs the source model")
    fp32_accuracy = _accuracy(fp32_path, x_val, y_val)
    work = Path(tempfile.mkdtemp(prefix=".selective-", dir=Path(out_path).parent))
    try:
        make = _maker(quantizer, fp32_path, calibration, source)
        tries: dict[tuple, tuple[float, Path]] = {}

        def build_and_evaluate(float_layers):
            key = tuple(float_layers)
            if key not in tries:
                path = work / f"try{len(tries)}.tflite"
                make(list(float_layers), path)
                tries[key] = (_accuracy(path, x_val, y_val), path)
            return tries[key]

        full_accuracy, full_path = build_and_evaluate([])
        full_bytes = full_path.stat().st_size
        errors = selective.layer_errors(fp32_path, full_path, x_val[:ERROR_IMAGES])
        # Ops that add no error of their own (pooling, reshape) gain nothing from staying float.
        ranked = [e.name for e in errors if e.added > 0]
        result = selective.select_float_layers(ranked, build_and_evaluate, fp32_accuracy, budget_pp)
        write_bytes_atomic(out_path, Path(result.artifact).read_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SelectiveVariant(
        quantizer, str(out_path), Path(out_path).stat().st_size, result.float_layers, result.met_budget, budget_pp,
        fp32_accuracy, result.accuracy, full_accuracy, full_bytes,
        [asdict(e) for e in errors], [asdict(t) for t in result.trace])


def _maker(quantizer: str, fp32_path: Path, calibration: np.ndarray, source):
    if quantizer == "litert_quantizer":
        return lambda float_layers, path: litert_quantizer.quantize(
            fp32_path, path, "static_int8", calibration, float_layers=float_layers)
    debugger = selective.converter_quantizer(converter_for(source), calibration)
    return lambda float_layers, path: write_bytes_atomic(path, debugger.quantize(float_layers))


def _accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    return float((predicted_labels(run_artifact(Path(path), x).outputs) == y).mean())
