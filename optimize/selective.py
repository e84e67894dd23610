"""Accuracy-aware selective quantization: start from full int8 and keep the layers with the largest
quantization error in float, one at a time, until held-out accuracy is within a budget of fp32.

A "layer" is named by its op's first output tensor in the fp32 .tflite file; the converter
(denylisted_nodes) and the LiteRT Quantizer (scope regex) both select ops by that name.
The search is generic (`select_float_layers`); `layer_errors` ranks layers (minimal on purpose,
replaceable by a fuller per-layer error module); `converter_quantizer` expresses "keep these
float" for tf.lite.TFLiteConverter; litert_quantizer.quantize(float_layers=...) for the other path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

DEFAULT_BUDGET_PP = 0.5   # percentage points of accuracy below fp32 that a selective variant may lose


@dataclass
class Attempt:
    float_layers: list[str]
    accuracy: float
    within_budget: bool


@dataclass
class SelectiveResult:
    float_layers: list[str]          # the layers that stayed float in the chosen artifact
    accuracy: float
    artifact: Any                    # whatever build_and_evaluate returned for the chosen try
    met_budget: bool                 # False: even all ranked layers float did not reach fp32 - budget
    fp32_accuracy: float
    budget_pp: float
    trace: list[Attempt] = field(default_factory=list)


def select_float_layers(ranked_layers: Sequence[str], build_and_evaluate: Callable[[list[str]], tuple[float, Any]],
                        fp32_accuracy: float, budget_pp: float = DEFAULT_BUDGET_PP,
                        max_float_layers: int | None = None) -> SelectiveResult:
    """Try full int8, then keep ranked_layers[:1], [:2], ... float until
    accuracy >= fp32_accuracy - budget_pp/100. Accuracies are fractions (0.899), the budget is in
    percentage points. Stops at max_float_layers (default: all); returns the last try then, with
    met_budget=False, so the caller can still report (or drop) it."""
    if budget_pp < 0:
        raise ValueError(f"budget {budget_pp} pp must be >= 0")
    threshold = fp32_accuracy - budget_pp / 100.0
    limit = len(ranked_layers) if max_float_layers is None else min(max_float_layers, len(ranked_layers))
    trace: list[Attempt] = []
    for count in range(limit + 1):
        float_layers = list(ranked_layers[:count])
        accuracy, artifact = build_and_evaluate(float_layers)
        # A tiny epsilon: 0.899 - 0.005 is 0.89399999... in floats and must accept 0.894.
        ok = accuracy >= threshold - 1e-9
        trace.append(Attempt(float_layers, float(accuracy), ok))
        if ok:
            break
    return SelectiveResult(float_layers, float(accuracy), artifact, ok, fp32_accuracy, budget_pp, trace)


@dataclass
class LayerError:
    name: str              # op's first output tensor name in the fp32 file
    op: str                # e.g. CONV_2D
    relative_rmse: float   # RMS(int8 - fp32) / RMS(fp32) of the op's output, error accumulated from the input
    added: float           # relative_rmse minus the largest relative_rmse among its inputs: what this op adds


def layer_errors(fp32_path: Path, int8_path: Path, x: np.ndarray) -> list[LayerError]:
    """Per-op output error of an int8 .tflite vs its fp32 parent on images x, largest `added`
    first. Both files run in LiteRT without XNNPACK (delegated ops keep no intermediate tensors)
    and with experimental_preserve_all_tensors; int8 tensors are dequantized with their own
    scale and zero point. Ops are matched by output tensor name (the converter and the LiteRT
    Quantizer keep the fp32 names)."""
    fp32 = _all_tensors(fp32_path, x)
    int8 = _all_tensors(int8_path, x)
    errors: dict[str, float] = {}
    rows = []
    for op, inputs, output in fp32["ops"]:
        if output not in int8["values"]:
            continue   # e.g. the output softmax, renamed where a DEQUANTIZE follows it
        ref, got = fp32["values"][output], int8["values"][output]
        if ref.shape != got.shape:
            continue
        rms_ref = float(np.sqrt(np.mean(ref.astype(np.float64) ** 2)))
        error = float(np.sqrt(np.mean((got.astype(np.float64) - ref) ** 2))) / max(rms_ref, 1e-12)
        errors[output] = error
        upstream = max((errors.get(name, 0.0) for name in inputs), default=0.0)
        rows.append(LayerError(output, op, error, error - upstream))
    return sorted(rows, key=lambda row: row.added, reverse=True)


def _all_tensors(path: Path, x: np.ndarray) -> dict:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from convbench.optimize.int8_io import dequantize_output, quantize_input

    interp = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True, num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    inp = interp.get_input_details()[0]
    interp.resize_tensor_input(inp["index"], [len(x), *x.shape[1:]])
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], quantize_input(x.astype(np.float32), inp))
    interp.invoke()
    details = {t["index"]: t for t in interp.get_tensor_details()}
    values, ops = {}, []
    for op in interp._get_ops_details():   # LiteRT has no public per-op listing
        outputs = [i for i in op["outputs"] if i in details]
        if not outputs:
            continue
        names = [details[i]["name"] for i in op["inputs"] if i in details]
        ops.append((op["op_name"], names, details[outputs[0]]["name"]))
        for index in outputs:
            try:
                raw = interp.get_tensor(index)
            except ValueError:   # tensors that were never allocated
                continue
            values[details[index]["name"]] = dequantize_output(raw, details[index])
    return {"values": values, "ops": ops}


class converter_quantizer:
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

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        self._disable_per_channel = converter._experimental_disable_per_channel
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=converter.representative_dataset)
        self._calibrated = debugger.calibrated_model

    def quantize(self, float_layers: Sequence[str] = ()) -> bytes:
        from tensorflow.lite.python import convert

        return convert.mlir_quantize(self._calibrated, disable_per_channel=self._disable_per_channel,
                                     denylisted_nodes=list(float_layers) or None)
