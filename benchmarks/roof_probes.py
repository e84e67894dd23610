"""The compute probes behind roofs.py: one large GEMM and one convolution per precision, built
in memory without TensorFlow (ONNX through onnx.helper, TFLite through tflite_graph.Builder)
and run by LiteRT (XNNPACK), ONNX Runtime (MLAS) and numpy (BLAS).

Every form that a benchmarked artifact may use is a candidate, and the roof keeps the fastest,
because forms differ by CPU: on a Zen 5 with AVX512-VNNI (ORT 1.32) QLinearMatMul u8s8 ran
980 Gop/s on one thread and s8s8 51 Gop/s, while the same s8 weights as a QDQ MatMul ran 930.
Not measured, with the reason in `not_measured`: int8 and fp16 through numpy (no BLAS kernel:
numpy loops), bf16 (no benchmarked runtime has a CPU bf16 GEMM: ORT 1.32 has no bf16 MatMul
kernel, LiteRT's Python API exposes no bf16 path).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import numpy as np

from convbench.benchmarks.layer_ops import gemm_ops


@dataclass
class Probe:
    precision: str
    method: str
    threads: int | None    # None: a GPU probe
    ops: int
    run: Callable[[], object]


NOT_MEASURED = {
    "bf16": "no benchmarked runtime runs a bf16 GEMM on CPU here (ORT 1.32: no bf16 MatMul kernel; "
            "LiteRT's Python API exposes no bf16 path); theoretical peak only",
    "int8 (numpy)": "numpy has no int8 BLAS: integer matmul runs in numpy's own loops",
    "fp16 (numpy)": "numpy has no fp16 BLAS",
}


def make_probes(threads_list, gemm_mkn, conv_hwc_k) -> tuple[dict[str, Probe], dict[str, str]]:
    m, k, n = gemm_mkn
    side, ch, kern = conv_hwc_k
    out = side - kern + 1
    gemm = gemm_ops(m, k, n).ops_real
    conv = 2 * out * out * ch * ch * kern * kern
    rng = np.random.default_rng(0)
    probes: dict[str, Probe] = {}
    not_measured = dict(NOT_MEASURED)
    for t in threads_list:
        numpy_probes = _numpy_probes(t, m, k, n, rng, gemm)
        if not numpy_probes:
            not_measured["fp32 (numpy)"] = "threadpoolctl finds no BLAS behind numpy: its threads cannot be limited"
        for precision, method, ops, run in (_litert_probes(t, m, k, n, side, ch, kern, rng, gemm, conv)
                                            + _ort_probes(t, m, k, n, side, ch, kern, rng, gemm, conv)
                                            + numpy_probes):
            probes[f"{method} t{t}"] = Probe(precision, method, t, ops, run)
    return probes, not_measured


# --- LiteRT / XNNPACK --------------------------------------------------------------------

def _litert_probes(t, m, k, n, side, ch, kern, rng, gemm, conv):
    from convbench.benchmarks.tflite_graph import Builder

    def fc(kind: str) -> bytes:
        b = Builder()
        if kind == "int8":
            x = b.tensor("x", [m, k], "int8", scale=0.05, zero_point=0)
            w = b.tensor("w", [n, k], "int8", rng.integers(-127, 128, (n, k), dtype=np.int8), scale=0.01, zero_point=0)
            bias = b.tensor("b", [n], "int32", np.zeros(n, np.int32), scale=0.0005, zero_point=0)
            y = b.tensor("y", [m, n], "int8", scale=0.5, zero_point=0)
            opts, version = b.options("FullyConnectedOptionsT"), 4
        else:
            x = b.tensor("x", [m, k], "float32")
            weights = rng.standard_normal((n, k), dtype=np.float32)
            if kind == "dynamic":   # int8 weights, float activations: the converter's dynamic range
                w = b.tensor("w", [n, k], "int8", rng.integers(-127, 128, (n, k), dtype=np.int8),
                             scale=np.full(n, 0.01), zero_point=np.zeros(n, int), quantized_dimension=0)
                opts, version = b.options("FullyConnectedOptionsT", asymmetricQuantizeInputs=True), 12
            elif kind == "fp16":    # fp16 weights through DEQUANTIZE, as the converter writes them
                w16 = b.tensor("w16", [n, k], "float16", weights.astype(np.float16))
                w = b.tensor("w", [n, k], "float32")
                b.op("DEQUANTIZE", [w16], [w], version=3)
                opts, version = b.options("FullyConnectedOptionsT"), 1
            else:
                w = b.tensor("w", [n, k], "float32", weights)
                opts, version = b.options("FullyConnectedOptionsT"), 1
            bias = b.tensor("b", [n], "float32", np.zeros(n, np.float32))
            y = b.tensor("y", [m, n], "float32")
        b.op("FULLY_CONNECTED", [x, w, bias], [y], opts, "FullyConnectedOptions", version)
        return b.build([x], [y])

    def conv2d(int8: bool) -> bytes:
        b = Builder()
        shape_w = [ch, kern, kern, ch]
        if int8:   # per-channel weights, as the converter writes full-integer convs
            w_scale = np.full(ch, 0.01)
            x = b.tensor("x", [1, side, side, ch], "int8", scale=0.05, zero_point=0)
            w = b.tensor("w", shape_w, "int8", rng.integers(-127, 128, shape_w, dtype=np.int8),
                         scale=w_scale, zero_point=np.zeros(ch, int), quantized_dimension=0)
            bias = b.tensor("b", [ch], "int32", np.zeros(ch, np.int32), scale=0.05 * w_scale,
                            zero_point=np.zeros(ch, int))
            y = b.tensor("y", [1, side - kern + 1, side - kern + 1, ch], "int8", scale=0.5, zero_point=0)
        else:
            x = b.tensor("x", [1, side, side, ch], "float32")
            w = b.tensor("w", shape_w, "float32", rng.standard_normal(shape_w, dtype=np.float32))
            bias = b.tensor("b", [ch], "float32", np.zeros(ch, np.float32))
            y = b.tensor("y", [1, side - kern + 1, side - kern + 1, ch], "float32")
        opts = b.options("Conv2DOptionsT", padding=1, strideW=1, strideH=1, dilationWFactor=1, dilationHFactor=1)
        b.op("CONV_2D", [x, w, bias], [y], opts, "Conv2DOptions", 3 if int8 else 1)
        return b.build([x], [y])

    shape = f"{m}x{k}x{n}"
    cshape = f"{side}x{side}x{ch}->{ch} {kern}x{kern}"
    return [("fp32", f"litert FULLY_CONNECTED fp32 {shape}", gemm, _litert_runner(fc("fp32"), t)),
            ("fp32", f"litert CONV_2D fp32 {cshape}", conv, _litert_runner(conv2d(False), t)),
            ("int8", f"litert FULLY_CONNECTED int8 {shape}", gemm, _litert_runner(fc("int8"), t)),
            ("int8", f"litert CONV_2D int8 per-channel {cshape}", conv, _litert_runner(conv2d(True), t)),
            ("int8", f"litert FULLY_CONNECTED dynamic-range {shape}", gemm, _litert_runner(fc("dynamic"), t)),
            ("fp16", f"litert FULLY_CONNECTED fp16 weights {shape}", gemm, _litert_runner(fc("fp16"), t))]


def _litert_runner(content: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=content, num_threads=threads)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    data = np.random.default_rng(1).integers(-20, 20, detail["shape"]).astype(detail["dtype"])
    interp.set_tensor(detail["index"], data)
    return interp.invoke


# --- ONNX Runtime / MLAS -----------------------------------------------------------------

def _ort_probes(t, m, k, n, side, ch, kern, rng, gemm, conv):
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    def model(nodes, inits, x_type, x_shape, y_shape, y_type=None):
        graph = h.make_graph(nodes, "probe", [h.make_tensor_value_info("x", x_type, x_shape)],
                             [h.make_tensor_value_info("y", y_type or x_type, y_shape)], initializer=inits)
        return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)], ir_version=8)

    def scalar(name, value, dtype):
        return nh.from_array(np.array(value, dtype), name)

    w32 = rng.standard_normal((k, n), dtype=np.float32)
    w8 = rng.integers(-127, 128, (k, n), dtype=np.int8)
    cw32 = rng.standard_normal((ch, ch, kern, kern), dtype=np.float32)
    cw8 = rng.integers(-127, 128, (ch, ch, kern, kern), dtype=np.int8)
    models = {
        "fp32 MatMul": ("fp32", model([h.make_node("MatMul", ["x", "W"], ["y"])], [nh.from_array(w32, "W")],
                                      TP.FLOAT, [m, k], [m, n]), np.float32, gemm),
        "fp32 Conv": ("fp32", model([h.make_node("Conv", ["x", "W"], ["y"])], [nh.from_array(cw32, "W")],
                                    TP.FLOAT, [1, ch, side, side], [1, ch, side - kern + 1, side - kern + 1]),
                      np.float32, conv),
        "fp16 MatMul": ("fp16", model([h.make_node("MatMul", ["x", "W"], ["y"])],
                                      [nh.from_array(w32.astype(np.float16), "W")], TP.FLOAT16, [m, k], [m, n]),
                        np.float16, gemm),
    }
    for act, act_type, act_dtype in (("u8", TP.UINT8, np.uint8), ("s8", TP.INT8, np.int8)):
        qparams = [scalar("xs", 0.05, np.float32), scalar("xz", 0, act_dtype), scalar("ws", 0.01, np.float32),
                   scalar("wz", 0, np.int8), scalar("ys", 0.5, np.float32), scalar("yz", 0, act_dtype)]
        qlinear = h.make_node("QLinearMatMul", ["x", "xs", "xz", "W", "ws", "wz", "ys", "yz"], ["y"])
        models[f"int8 QLinearMatMul {act}s8"] = ("int8", model([qlinear], [nh.from_array(w8, "W")] + qparams,
                                                              act_type, [m, k], [m, n]), act_dtype, gemm)
        qdq = [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
               h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xf"]),
               h.make_node("DequantizeLinear", ["W", "ws", "wz"], ["wf"]),
               h.make_node("MatMul", ["xf", "wf"], ["yf"]),
               h.make_node("QuantizeLinear", ["yf", "ys", "yz"], ["yq"]),
               h.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
        models[f"int8 QDQ MatMul {act} activations"] = ("int8", model(qdq, [nh.from_array(w8, "W")] + qparams,
                                                                      TP.FLOAT, [m, k], [m, n]), np.float32, gemm)
    cparams = [scalar("xs", 0.05, np.float32), scalar("xz", 0, np.uint8),
               nh.from_array(np.full(ch, 0.01, np.float32), "ws"), nh.from_array(np.zeros(ch, np.int8), "wz"),
               scalar("ys", 0.5, np.float32), scalar("yz", 0, np.uint8)]
    qconv = h.make_node("QLinearConv", ["x", "xs", "xz", "W", "ws", "wz", "ys", "yz"], ["y"])
    models["int8 QLinearConv u8s8 per-channel"] = ("int8", model([qconv], [nh.from_array(cw8, "W")] + cparams,
                                                                 TP.UINT8, [1, ch, side, side],
                                                                 [1, ch, side - kern + 1, side - kern + 1]),
                                                   np.uint8, conv)
    shapes = {True: f"{side}x{side}x{ch}->{ch} {kern}x{kern}", False: f"{m}x{k}x{n}"}
    return [(precision, f"onnxruntime {name} {shapes['Conv' in name]}", ops, _ort_runner(proto, dtype, t))
            for name, (precision, proto, dtype, ops) in models.items()]


def _ort_runner(proto, dtype, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()   # as benchmarks/runtimes/ort.py sets them
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    # The probes of one thread count run interleaved: an ORT pool that spins after its run keeps
    # the cores busy while the next probe (LiteRT's, numpy's) runs, which then measured at the
    # 1-thread level or below (LiteRT fp32 FULLY_CONNECTED, 2 threads: 52 vs 257 Gop/s on 1).
    # A GEMM of milliseconds loses nothing to waking its threads.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    shape = [int(d.dim_value) for d in proto.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).integers(0, 40, shape).astype(dtype)
    feed = {"x": x}
    return lambda: sess.run(None, feed)


# --- numpy BLAS --------------------------------------------------------------------------

def _numpy_probes(t, m, k, n, rng, gemm):
    from threadpoolctl import threadpool_info, threadpool_limits

    if not any(i["user_api"] == "blas" for i in threadpool_info()):
        return []   # no BLAS found: its thread count could not be limited
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)

    def run():
        with threadpool_limits(limits=t, user_api="blas"):
            np.matmul(a, b, out=out)

    blas = next(i for i in threadpool_info() if i["user_api"] == "blas")
    return [("fp32", f"numpy {blas['internal_api']} SGEMM {m}x{k}x{n}", gemm, run)]
