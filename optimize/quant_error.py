"""Per-layer error of a quantized artifact against its fp32 parent on the same inputs: SNR (dB),
relative L2 and max abs error of every layer's output (records.LayerError), plus the graph's
edges (which layers feed each layer) so that callers can tell the error a layer adds from the
error it inherits.

TFLite: both interpreters keep every intermediate tensor (experimental_preserve_all_tensors;
with the default resolver XNNPACK then runs one delegate node per op, so the values are
XNNPACK's, as benchmarked; checked on the first sample against a normal interpreter). int8
tensors are dequantized with their own scale and zero point.
ONNX: every layer output becomes a graph output (as onnxruntime.quantization.qdq_loss_debug
does) and the model runs with graph optimizations off, so a QDQ model is evaluated node by node
(DQ -> float op -> Q) rather than as fused QLinearConv: same quantization grid, the
requantization rounding may differ by one step from the fused kernels.
Layers are matched by output tensor name (the TFLite converter and the LiteRT Quantizer keep
Keras names; ORT's quantizer keeps the float names and adds `_DequantizeLinear_Output`), then,
for the rest, by order among layers of the same op type with the same shape; `matched_by` says
which. A layer is named by its fp32 parent's tensor name: what quantizers select layers by.

On any two files: convbench inspect quant-error QUANTIZED FP32_PARENT [--data file.npz] [--samples 64]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convbench.core import classes
from convbench.core.errors import UserError
from convbench.core.records import LayerError

# DELEGATE: with preserve_all_tensors, XNNPACK adds one delegate node per op after the model's
# own ops (same output tensors); the model's ops name the layers.
SKIP_TFLITE = {"QUANTIZE", "DEQUANTIZE", "DELEGATE"}
SKIP_ONNX = {"QuantizeLinear", "DequantizeLinear", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze",
             "Identity", "Cast", "Shape", "Gather", "Concat", "Constant"}


@dataclass(frozen=True)
class Layer:
    name: str                     # output tensor name
    op_type: str
    shape: tuple[int, ...]
    key: object                   # how to fetch its value (tensor index or output name)
    inputs: tuple[str, ...] = ()  # names of the tensors it reads (weights included)


@dataclass(frozen=True)
class QuantErrorReport:
    quantized: str
    reference: str
    samples: int
    layers: tuple[LayerError, ...]            # named by the fp32 parent's tensors, in its order
    output: LayerError
    decision_agreement: float                 # fraction of samples with the same class decision
    unmatched: tuple[str, ...]                # quantized-model layers with no fp32 counterpart
    inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)   # fp32 layer -> tensors it reads

    @property
    def worst(self) -> LayerError | None:
        finite = [e for e in self.layers if e.snr_db is not None]
        return min(finite, key=lambda e: e.snr_db) if finite else None


def error_stats(name, op_type, matched_by, q: list[np.ndarray], ref: list[np.ndarray]) -> LayerError | None:
    """None when the fp32 output is all zeros (no signal to relate the error to)."""
    qa = np.concatenate([np.ravel(a) for a in q]).astype(np.float64)
    ra = np.concatenate([np.ravel(a) for a in ref]).astype(np.float64)
    signal, noise = float(np.sum(ra * ra)), float(np.sum((qa - ra) ** 2))
    if signal == 0:
        return None
    snr = None if noise == 0 else 10 * math.log10(signal / noise)
    return LayerError(name=name, op_type=op_type, matched_by=matched_by, snr_db=snr, rel_l2=math.sqrt(noise / signal),
                      max_abs=float(np.max(np.abs(qa - ra))) if qa.size else 0.0)


def match_layers(quant: list[Layer], ref: list[Layer]) -> list[tuple[Layer, Layer, str]]:
    """One-to-one pairs: by name, then by order among the still-unmatched layers of the same op
    type and shape. Returned in the reference's order."""
    by_name = {r.name: r for r in ref}
    used, pairs, left = set(), [], []
    for q in quant:
        r = by_name.get(q.name)
        if r is None or r.name in used or r.shape != q.shape:
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
    order = {r.name: i for i, r in enumerate(ref)}
    return sorted(pairs, key=lambda p: order[p[1].name])


# --- TFLite ------------------------------------------------------------------------------

def _tflite_layers(interp) -> list[Layer]:
    """Every op computed per inference, named by its first output tensor, in execution order.
    Ops whose inputs are all constant (fp16 weights through DEQUANTIZE) run once at init."""
    details = {d["index"]: d for d in interp.get_tensor_details()}
    ops = interp._get_ops_details()   # private, but the only reader of op inputs LiteRT ships
    produced = {i for op in ops for i in op["outputs"]}
    graph_inputs = {d["index"] for d in interp.get_input_details()}
    constant = {i for i in details if i not in produced and i not in graph_inputs}
    layers = []
    for op in ops:
        inputs = [i for i in op["inputs"] if i >= 0]
        if inputs and all(i in constant for i in inputs):
            constant.update(op["outputs"])
            continue
        if op["op_name"] in SKIP_TFLITE or not len(op["outputs"]):
            continue
        out = int(op["outputs"][0])
        layers.append(Layer(details[out]["name"], op["op_name"], (), out,
                            tuple(details[i]["name"] for i in inputs if i in details)))
    return layers


def _tflite_run(path: Path, xs: np.ndarray):
    from ai_edge_litert.interpreter import Interpreter

    from convbench.core.runtimes.int8_io import dequantize_output, quantize_input

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        interp = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    plain = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    layers = _tflite_layers(interp)
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
    layers = [Layer(layer.name, layer.op_type, tuple(values[layer.key][0].shape), layer.key, layer.inputs)
              for layer in layers]
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
        layers.append(Layer(out, node.op_type, (), fetch if fetch in produced else out, tuple(node.input)))
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
    layers = [Layer(layer.name, layer.op_type, tuple(values[layer.key][0].shape), layer.key, layer.inputs)
              for layer in layers if np.issubdtype(np.asarray(values[layer.key][0]).dtype, np.floating)]
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
    pairs = match_layers(q_layers, r_layers)
    matched = {q.name for q, _, _ in pairs}
    errors = [error_stats(r.name, r.op_type, how, q_values[q.key], r_values[r.key]) for q, r, how in pairs]
    output = error_stats("output", "output", "graph output", [q_out], [r_out])
    return QuantErrorReport(
        str(quantized), str(reference), len(xs), tuple(e for e in errors if e is not None), output,
        classes.agreement(q_out, r_out), tuple(q.name for q in q_layers if q.name not in matched),
        {r.name: r.inputs for r in r_layers})


def format_report(r: QuantErrorReport) -> str:
    def snr(e: LayerError) -> str:
        return "     inf" if e.snr_db is None else f"{e.snr_db:8.2f}"

    lines = [f"{r.quantized}\n  vs {r.reference}  ({r.samples} samples)",
             f"{'op':<18} {'SNR dB':>8} {'rel L2':>9} {'max abs':>9} {'match':>6}  name"]
    for e in (*r.layers, *([r.output] if r.output else [])):
        lines.append(f"{e.op_type[:18]:<18} {snr(e)} {e.rel_l2:9.4f} {e.max_abs:9.4f} {e.matched_by[:6]:>6}  "
                     f"{e.name[:70]}")
    lines.append(f"class decisions agree on {100 * r.decision_agreement:.1f} % of samples")
    if r.worst:
        lines.append(f"largest error: {r.worst.op_type} {r.worst.name[:70]} ({r.worst.snr_db:.2f} dB)")
    if r.unmatched:
        lines.append(f"unmatched layers: {', '.join(n[:50] for n in r.unmatched)}")
    return "\n".join(lines)


def inputs_for(reference, data=None, samples: int = 64) -> np.ndarray:
    """What `convbench inspect quant-error` compares on: the first `samples` validation images of a
    convbench dataset file (`data`, artifacts/data/<key>.npz), else seeded random images; either of
    the shape `reference` takes (a dataset of another shape is a UserError naming both)."""
    from convbench.core.formats import family_of_path
    from convbench.core.runtimes import runtime_for

    shape = tuple(runtime_for(family_of_path(reference)).load(reference).input_shape[1:])
    if data is None:
        return np.random.default_rng(0).random((samples, *shape), dtype=np.float32)
    from convbench.models.data import Dataset

    xs = Dataset.load(Path(data)).x_val[:samples]
    if tuple(xs.shape[1:]) != shape:
        raise UserError(f"{data}: images of shape {tuple(xs.shape[1:])}, but {reference} takes {shape}")
    return np.ascontiguousarray(xs, dtype=np.float32)
