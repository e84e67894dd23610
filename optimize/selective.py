"""Accuracy-aware selective quantization: start from full int8 and keep the layers that add the
largest quantization error in float, one at a time, until validation accuracy is within a budget
of fp32's. Either post-training path builds the tries: the TFLite converter (`ConverterQuantizer`,
ops denylisted by name) or the LiteRT Quantizer (litert_quantizer.quantize(float_layers=...)).

A "layer" is named by its op's first output tensor in the fp32 .tflite file; both quantizers
select ops by that name, and quant_error names layers the same way. Layers are chosen on the
validation split, so the held-out test accuracy reported afterwards was not used to choose them.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from convbench.core import classes
from convbench.core.records import RankedLayer, SelectionStep, SelectiveSearch

DEFAULT_BUDGET_PP = 0.5   # percentage points of accuracy below fp32 that a selective variant may lose
QUANTIZERS = ("tflite_converter", "litert_quantizer")


@dataclass
class SearchResult:
    float_layers: list[str]          # the layers that stayed float in the chosen try
    accuracy: float
    artifact: Any                    # whatever build_and_evaluate returned for the chosen try
    met_budget: bool                 # False: even all ranked layers float did not reach fp32 - budget
    trace: list[SelectionStep] = field(default_factory=list)


def select_float_layers(ranked_layers: Sequence[str], build_and_evaluate: Callable[[list[str]], tuple[float, Any]],
                        fp32_accuracy: float, budget_pp: float = DEFAULT_BUDGET_PP) -> SearchResult:
    """Try full int8, then keep ranked_layers[:1], [:2], ... float until
    accuracy >= fp32_accuracy - budget_pp/100. Accuracies are fractions (0.899), the budget is in
    percentage points. When every ranked layer float still misses the budget, the last try is
    returned with met_budget=False, so the caller can still report it."""
    if budget_pp < 0:
        raise ValueError(f"budget {budget_pp} pp must be >= 0")
    threshold = fp32_accuracy - budget_pp / 100.0
    trace: list[SelectionStep] = []
    for count in range(len(ranked_layers) + 1):
        float_layers = list(ranked_layers[:count])
        accuracy, artifact = build_and_evaluate(float_layers)
        # A tiny epsilon: 0.899 - 0.005 is 0.89399999... in floats and must accept 0.894.
        ok = accuracy >= threshold - 1e-9
        trace.append(SelectionStep(float_layers=float_layers, val_accuracy=float(accuracy), within_budget=ok))
        if ok:
            break
    return SearchResult(float_layers, float(accuracy), artifact, ok, trace)


def rank_layers(report) -> list[RankedLayer]:
    """The layers of a quant_error.QuantErrorReport by the error each adds over its inputs
    (its output's relative L2 error minus the largest of the layers feeding it), largest first;
    layers that add none (pooling, reshapes) are left out: keeping them float gains nothing."""
    errors = {e.name: e for e in report.layers}
    ranked = []
    for e in report.layers:
        upstream = max((errors[i].rel_l2 for i in report.inputs.get(e.name, ()) if i in errors), default=0.0)
        if e.rel_l2 - upstream > 0:
            ranked.append(RankedLayer(name=e.name, op_type=e.op_type, added_rel_l2=e.rel_l2 - upstream))
    return sorted(ranked, key=lambda r: r.added_rel_l2, reverse=True)


def build(quantizer: str, inputs, out_path: Path, fp32_path: Path) -> SelectiveSearch:
    """The whole search for one model by one quantizer; the chosen try's bytes end up at out_path.
    inputs: export.ExportInputs (model, calibration, validation, budget). fp32_path: the fp32
    .tflite (the reference, and the LiteRT Quantizer's input). Tries live in a scratch folder
    beside out_path, removed afterwards."""
    from convbench.core.fsutil import write_bytes_atomic
    from convbench.optimize import litert_quantizer, quant_error

    if quantizer not in QUANTIZERS:
        raise ValueError(f"unknown quantizer {quantizer!r}; valid: {QUANTIZERS}")
    if inputs.validation is None:
        raise ValueError("the selective search chooses on the validation split: none given")
    if quantizer == "tflite_converter":
        from convbench.optimize.export import tflite_converter

        converter = ConverterQuantizer(tflite_converter(inputs.model), inputs.calibration)

        def make(float_layers: list[str], path: Path) -> None:
            write_bytes_atomic(path, converter.quantize(float_layers))
    else:
        def make(float_layers: list[str], path: Path) -> None:
            litert_quantizer.quantize(fp32_path, path, "static_int8", inputs.calibration, float_layers=float_layers)

    x_val, y_val = inputs.validation
    with tempfile.TemporaryDirectory(prefix=".selective-", dir=Path(out_path).parent) as scratch:
        tries: dict[tuple, tuple[float, Path]] = {}

        def build_and_evaluate(float_layers: list[str]) -> tuple[float, Path]:
            key = tuple(float_layers)
            if key not in tries:
                path = Path(scratch) / f"try{len(tries)}.tflite"
                make(list(float_layers), path)
                tries[key] = (_val_accuracy(path, x_val, y_val), path)
            return tries[key]

        full_accuracy, full_path = build_and_evaluate([])
        ranking = rank_layers(quant_error.compare(full_path, fp32_path, x_val[:inputs.error_images]))
        fp32_accuracy = _val_accuracy(fp32_path, x_val, y_val)
        result = select_float_layers([r.name for r in ranking], build_and_evaluate, fp32_accuracy, inputs.budget_pp)
        write_bytes_atomic(out_path, Path(result.artifact).read_bytes())
        full_bytes = full_path.stat().st_size
    return SelectiveSearch(quantizer=quantizer, budget_pp=inputs.budget_pp, fp32_val_accuracy=fp32_accuracy,
                           full_int8_val_accuracy=full_accuracy, full_int8_bytes=full_bytes,
                           float_layers=result.float_layers, val_accuracy=result.accuracy,
                           met_budget=result.met_budget, ranking=ranking, trace=result.trace)


def _val_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Through the runtime registry's LiteRT session: the same one that verifies and benchmarks."""
    from convbench.core.runtimes import runtime_for

    return classes.accuracy(runtime_for("tflite").load(path, threads=1, batch=100).predict_all(x), y)


class ConverterQuantizer:
    """Full int8 by tf.lite.TFLiteConverter with named ops denylisted (kept float), calibrated once.
    tf.lite.experimental.QuantizationDebugger calibrates (its public entry point); each call then
    runs the MLIR quantizer on the calibrated model with denylisted_nodes = op output tensor names,
    exactly as its get_nondebug_quantized_model() does with QuantizationDebugOptions(
    denylisted_nodes=...) and as converter.convert() does with no denylist (same defaults: the
    full-int8 file equals tflite_int8's accuracy on lesson1). Calling mlir_quantize directly skips
    the debugger's per-option rebuild of its instrumented model, which also fails ("Please check
    if the quantized model is in debug mode") when every op is denylisted."""

    def __init__(self, converter, calibration: np.ndarray):
        import tensorflow as tf

        from convbench.optimize.export import representative_dataset

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        self._disable_per_channel = converter._experimental_disable_per_channel
        with warnings.catch_warnings():   # the debugger runs tf.lite.Interpreter itself
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=converter.representative_dataset)
        self._calibrated = debugger.calibrated_model

    def quantize(self, float_layers: Sequence[str] = ()) -> bytes:
        from tensorflow.lite.python import convert

        return convert.mlir_quantize(self._calibrated, disable_per_channel=self._disable_per_channel,
                                     denylisted_nodes=list(float_layers) or None)
