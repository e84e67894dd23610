"""Deployed accuracy: run each artifact in its own runtime (LiteRT for .tflite, ONNX Runtime
for .onnx, CPU) over the held-out test split, and compare its outputs with the fp32 parent's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convbench.models.train import predicted_labels
from convbench.optimize.int8_io import dequantize_output, quantize_input

EVAL_BATCH = 100
EVAL_THREADS = 1   # evaluation runs inside parallel optimize workers, one core each


@dataclass
class Deployed:
    runtime: str
    outputs: np.ndarray            # float32 class scores, dequantized where the file is int8


def run_artifact(path: Path, x: np.ndarray) -> Deployed:
    if Path(path).suffix == ".tflite":
        return Deployed("litert", _run_tflite(path, x))
    if Path(path).suffix == ".onnx":
        return Deployed("onnxruntime", _run_onnx(path, x))
    raise ValueError(f"{path}: cannot run {Path(path).suffix!r} files")


def _run_tflite(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=EVAL_THREADS)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], [EVAL_BATCH, *x.shape[1:]])
    interp.allocate_tensors()
    results = []
    for start in range(0, len(x), EVAL_BATCH):
        chunk = x[start:start + EVAL_BATCH]
        padded = np.concatenate([chunk, np.zeros((EVAL_BATCH - len(chunk), *x.shape[1:]), x.dtype)])
        interp.set_tensor(inp["index"], quantize_input(padded, inp))
        interp.invoke()
        results.append(dequantize_output(interp.get_tensor(out["index"]), out)[: len(chunk)])
    return np.concatenate(results)


def _run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = EVAL_THREADS
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i:i + EVAL_BATCH]})[0]
                           for i in range(0, len(x), EVAL_BATCH)]).astype(np.float32)


def compare(outputs: np.ndarray, y_true: np.ndarray, reference: np.ndarray) -> dict:
    """Accuracy on the held-out labels; agreement and max |difference| vs the fp32 parent."""
    labels = predicted_labels(outputs)
    return {
        "accuracy": float((labels == y_true).mean()),
        "agreement_vs_fp32": float((labels == predicted_labels(reference)).mean()),
        "max_abs_diff_vs_fp32": float(np.max(np.abs(outputs.astype(np.float64) - reference))),
    }
