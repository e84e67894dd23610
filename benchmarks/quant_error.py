"""Per-layer error of a quantized artifact against its fp32 parent on the same inputs: SNR (dB)
and relative L2 error of every layer's output, and agreement of the final class decisions.

TFLite: both interpreters keep every intermediate tensor (experimental_preserve_all_tensors;
with the default resolver XNNPACK then runs one delegate node per op, so the values are
XNNPACK's, as benchmarked; checked: the final output equals a normal interpreter's). int8
tensors are dequantized with their own scale and zero point.
ONNX: every layer output becomes a graph output (as onnxruntime.quantization.qdq_loss_debug
does) and the model runs with graph optimizations off, so a QDQ model is evaluated node by node
(DQ -> float op -> Q) rather than as fused QLinearConv: same quantization grid, the
requantization rounding may differ by one step from the fused kernels.
Layers are matched by output tensor name (the TFLite converter keeps Keras names; ORT's
quantizer keeps the float names and adds `_DequantizeLinear_Output`), then, for the rest, by
order among layers of the same op type with the same shape; `matched_by` says which.

Run: python -m convbench.benchmarks.quant_error QUANTIZED FP32_PARENT [--data file.npz] [-n 64]
"""

from __future__ import annotations

import argparse
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SKIP_TFLITE = {"QUANTIZE", "DEQUANTIZE"}
SKIP_ONNX = {"QuantizeLinear", "DequantizeLinear", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze",
             "Identity", "Cast", "Shape", "Gather", "Concat", "Constant"}


@dataclass(frozen=True)
class Layer:
    name: str             # output tensor name
    op_type: str
    shape: tuple[int, ...]
    key: object           # how to fetch its value (tensor index or output name)


@dataclass(frozen=True)
class LayerError:
    name: str             # the quantized model's tensor name
    op_type: str
    matched_by: str       # "name" or "order"
    snr_db: float         # 10 log10(sum ref^2 / sum (q - ref)^2); inf when identical
    rel_l2: float         # ||q - ref|| / ||ref||
    max_abs: float


@dataclass(frozen=True)
class QuantErrorReport:
    quantized: str
    reference: str
    samples: int
    layers: tuple[LayerError, ...]
    output: LayerError
    decision_agreement: float     # fraction of samples with the same class decision
    unmatched: tuple[str, ...]    # quantized-model layers with no fp32 counterpart

    @property
    def worst(self) -> LayerError | None:
        return min(self.layers, key=lambda e: e.snr_db) if self.layers else None


def error_stats(name, op_type, matched_by, q: list[np.ndarray], ref: list[np.ndarray]) -> LayerError:
    qa = np.concatenate([np.ravel(a) for a in q]).astype(np.float64)
    ra = np.concatenate([np.ravel(a) for a in ref]).astype(np.float64)
    signal, noise = float(np.sum(ra * ra)), float(np.sum((qa - ra) ** 2))
    snr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    rel = 0.0 if noise == 0 else (math.sqrt(noise / signal) if signal > 0 else math.inf)
    return LayerError(name, op_type, matched_by, snr, rel, float(np.max(np.abs(qa - ra))) if qa.size else 0.0)


def decisions(outputs: np.ndarray) -> np.ndarray:
    """One sigmoid unit: output > 0.5 (two classes); otherwise argmax."""
    flat = outputs.reshape(len(outputs), -1)
    return (flat[:, 0] > 0.5).astype(int) if flat.shape[1] == 1 else flat.argmax(1)


def match_layers(quant: list[Layer], ref: list[Layer], aliases) -> list[tuple[Layer, Layer, str]]:
    """One-to-one pairs: by name (aliases(name) lists the reference names to try), then by order
    among the still-unmatched layers of the same op type and shape."""
    by_name = {r.name: r for r in ref}
    used, pairs, left = set(), [], []
    for q in quant:
        r = next((by_name[a] for a in aliases(q.name) if a in by_name and a not in used
                  and by_name[a].shape == q.shape), None)
        if r is None:
            left.append(q)
        else:
            used.add(r.name)
            pairs.append((q, r, "name"))
    remaining = [r for r in ref if r.name not in used]
    for q in left:
        r = next((r for r in remaining if r.op_type == q.op_type and r.shape == q.shape), None)
        if r is not None:
            remaining.remove(r)
            pairs.append((q, r, "order"))
    return pairs


# --- TFLite ------------------------------------------------------------------------------

def _tflite_run(path: Path, xs: np.ndarray):
    from ai_edge_litert.interpreter import Interpreter

    from convbench.benchmarks import tflite_graph as tg
    from convbench.optimize.int8_io import dequantize_output, quantize_input

    model = tg.read_model(path)
    layers = [Layer(op.name, op.op_type, (), op.outputs[0]) for op in tg.graph_ops(model)
              if not op.folded and op.op_type not in SKIP_TFLITE]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        interp = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    plain = Interpreter(model_path=str(path))
    details = {d["index"]: d for d in interp.get_tensor_details()}
    values = {layer.key: [] for layer in layers}
    outputs, consistent = [], True
    for i, x in enumerate(xs):
        for it in ((interp, plain) if i == 0 else (interp,)):
            it.allocate_tensors()
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], quantize_input(x[None], d))
            it.invoke()
        for layer in layers:
            values[layer.key].append(_dequantize(interp.get_tensor(layer.key), details[layer.key]))
        out = interp.get_output_details()[0]
        outputs.append(dequantize_output(interp.get_tensor(out["index"]), out))
        if i == 0:
            p_out = plain.get_output_details()[0]
            consistent = np.array_equal(outputs[0], dequantize_output(plain.get_tensor(p_out["index"]), p_out))
    layers = [Layer(layer.name, layer.op_type, tuple(values[layer.key][0].shape), layer.key) for layer in layers]
    return layers, values, np.concatenate(outputs), consistent


def _dequantize(value: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] not in (np.int8, np.uint8, np.int16, np.int32):
        return np.asarray(value, dtype=np.float32)
    params = detail["quantization_parameters"]
    scales, zeros = params["scales"], params["zero_points"]
    if len(scales) == 0:
        return value.astype(np.float32)
    shape = [1] * value.ndim
    if len(scales) > 1:
        shape[params["quantized_dimension"]] = len(scales)
    return ((value.astype(np.float32) - zeros.reshape(shape)) * scales.reshape(shape)).astype(np.float32)


# --- ONNX --------------------------------------------------------------------------------

def _onnx_run(path: Path, xs: np.ndarray):
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    produced = {o for n in model.graph.node for o in n.output}
    layers = []
    for node in model.graph.node:
        if node.op_type in SKIP_ONNX or not node.output or not node.output[0]:
            continue
        out = node.output[0]
        fetch = out + "_DequantizeLinear_Output"   # the value after the activation's Q/DQ pair
        layers.append(Layer(out, node.op_type, (), fetch if fetch in produced else out))
    existing = {o.name for o in model.graph.output}
    for layer in layers:
        if layer.key not in existing:
            model.graph.output.append(onnx.ValueInfoProto(name=layer.key))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    values = {layer.key: [] for layer in layers}
    outputs = []
    for x in xs:
        result = dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: x[None]})))
        for layer in layers:
            values[layer.key].append(result[layer.key])
        outputs.append(np.asarray(result[names[0]], dtype=np.float32))
    # Integer tensors (ConvInteger's int32 accumulators, DynamicQuantizeLinear's uint8) have no
    # float counterpart; float ones are compared.
    layers = [Layer(layer.name, layer.op_type, tuple(values[layer.key][0].shape), layer.key) for layer in layers
              if np.issubdtype(np.asarray(values[layer.key][0]).dtype, np.floating)]
    return layers, values, np.concatenate(outputs), True


def compare(quantized, reference, xs: np.ndarray) -> QuantErrorReport:
    """Run both artifacts (both .tflite or both .onnx) on every sample of xs (float32 NHWC,
    one at a time at batch 1) and compare layer by layer."""
    quantized, reference = Path(quantized), Path(reference)
    if quantized.suffix != reference.suffix or quantized.suffix not in (".tflite", ".onnx"):
        raise ValueError(f"compare two .tflite or two .onnx files, got {quantized.name} and {reference.name}")
    run = _tflite_run if quantized.suffix == ".tflite" else _onnx_run
    q_layers, q_values, q_out, q_ok = run(quantized, xs)
    r_layers, r_values, r_out, r_ok = run(reference, xs)
    if not (q_ok and r_ok):
        raise RuntimeError("preserved-tensor run disagrees with a normal run: intermediate values are not trustworthy")
    pairs = match_layers(q_layers, r_layers, lambda name: [name])
    matched = {q.name for q, _, _ in pairs}
    errors = tuple(error_stats(q.name, q.op_type, how, q_values[q.key], r_values[r.key]) for q, r, how in pairs)
    output = error_stats("output", "output", "graph output", [q_out], [r_out])
    agreement = float(np.mean(decisions(q_out) == decisions(r_out)))
    return QuantErrorReport(str(quantized), str(reference), len(xs), errors, output, agreement,
                            tuple(q.name for q in q_layers if q.name not in matched))


def format_report(r: QuantErrorReport) -> str:
    lines = [f"{r.quantized}\n  vs {r.reference}  ({r.samples} samples)",
             f"{'op':<18} {'SNR dB':>8} {'rel L2':>9} {'max abs':>9} {'match':>6}  name"]
    for e in (*r.layers, r.output):
        lines.append(f"{e.op_type[:18]:<18} {e.snr_db:8.2f} {e.rel_l2:9.4f} {e.max_abs:9.4f} {e.matched_by[:6]:>6}"
                     f"  {e.name[:70]}")
    lines.append(f"class decisions agree on {100 * r.decision_agreement:.1f} % of samples")
    if r.worst:
        lines.append(f"largest error: {r.worst.op_type} {r.worst.name[:70]} ({r.worst.snr_db:.2f} dB)")
    if r.unmatched:
        lines.append(f"unmatched layers: {', '.join(n[:50] for n in r.unmatched)}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("quantized", type=Path)
    parser.add_argument("reference", type=Path)
    parser.add_argument("--data", type=Path, help="a convbench dataset .npz (test split used); default: random")
    parser.add_argument("-n", type=int, default=64, help="samples")
    args = parser.parse_args(argv)
    if args.data:
        from convbench.models.data import Dataset

        xs = Dataset.load(args.data).x_test[: args.n]
    else:
        from convbench.benchmarks import tflite_graph  # noqa: F401 (shape comes from the model)

        shape = _input_shape(args.reference)
        xs = np.random.default_rng(0).random((args.n, *shape), dtype=np.float32)
    print(format_report(compare(args.quantized, args.reference, xs)))


def _input_shape(path: Path) -> tuple[int, ...]:
    if path.suffix == ".onnx":
        import onnx

        dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
        return tuple(int(d.dim_value) for d in dims[1:])
    from ai_edge_litert.interpreter import Interpreter

    return tuple(int(d) for d in Interpreter(model_path=str(path)).get_input_details()[0]["shape"][1:])


if __name__ == "__main__":
    main()
