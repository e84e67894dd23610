"""Per-node latency of an .onnx file from ONNX Runtime's profiler (Chrome-trace JSON).

Warm-up is excluded by position: one profiled session runs `warmup` then `runs` inferences and
only nodes inside the last `runs` `model_run` spans count. The profiler writes whole µs
(truncated) and adds its own cost inside every node span (about 1-1.4 µs per node on Zen 5,
ORT 1.32: a one-element Add reads 1.38 µs, a Reshape 2 µs): a node's time is the mean of its
runs (the mean of truncated values keeps sub-µs information that a median loses; the slowest
5 % are dropped as interrupts) minus that per-node cost, measured on a one-element Add model
profiled the same way. Ops per node come from the graph ORT
really runs (saved with `optimized_model_filepath` at the same optimization level: fused
QLinearConv/QGemm/FusedConv/NCHWc Conv nodes, whose names are the profile's node names),
weights and attributes from that graph, activation shapes from the profile events.
The whole model is timed without the profiler, interleaved with a one-element model whose
median is the fixed cost of one `session.run`.

`profile_onnx_sliced` is the cross-check that needs no profiler: each node of the optimized
graph timed as a one-node model, like layers.py does for LiteRT. On lesson5 at one thread the
profiler's layers add up to 1.04-1.18 of the whole and the sliced ones to 0.90-1.00.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from convbench.benchmarks import layer_ops as lo
from convbench.benchmarks.layers import LayerProfile, interleaved_medians, layer_timing, sample_input

# The profiler writes whole µs and its own per-node cost, subtracted as one calibrated constant,
# varies by op: each node's time is uncertain by about half a µs (lesson1 fp16, 24 nodes: the
# layers added up to 0.85 of the whole; fp32, 14 nodes: 0.95-1.01).
PROFILER_RESOLUTION_US = 0.5
CONV_TYPES = {"Conv", "FusedConv", "NhwcFusedConv", "NhwcConv", "QLinearConv", "ConvInteger"}
GEMM_TYPES = {"MatMul", "Gemm", "FusedGemm", "FusedMatMul", "QGemm", "QLinearMatMul", "MatMulInteger",
              "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}


def _options(threads: int, opt_level: str = "ORT_ENABLE_ALL"):
    import onnxruntime as ort

    opts = ort.SessionOptions()   # as benchmarks/runtimes/ort.py sets them
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, opt_level)
    opts.log_severity_level = 3
    return opts


def _session(model, opts):
    import onnxruntime as ort

    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def trivial_onnx() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("Add", ["x", "c"], ["y"])], "overhead",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                              initializer=[numpy_helper.from_array(np.ones(1, np.float32), "c")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def node_events(trace: list[dict], warmup: int) -> tuple[dict[str, list[float]], dict[str, dict], list[float]]:
    """Per node name: its µs in each timed run, its last event's args; and the timed runs' µs."""
    runs = sorted((e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])[warmup:]
    spans = [(r["ts"], r["ts"] + r["dur"]) for r in runs]
    per_run: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(spans))
    args: dict[str, dict] = {}
    starts = np.array([s for s, _ in spans])
    for e in trace:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        i = int(np.searchsorted(starts, e["ts"], side="right")) - 1
        if i < 0 or e["ts"] > spans[i][1]:
            continue  # a warm-up run's node
        name = e["name"][: -len("_kernel_time")]
        per_run[name][i] += e["dur"]
        args[name] = e["args"]
    return dict(per_run), args, [float(r["dur"]) for r in runs]


def node_ops(node, inits: dict, args: dict) -> lo.LayerOps:
    """Ops of one node of ORT's optimized graph, from its weights, attributes and the
    activation shapes in its profile event."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    x_shape = list(next(iter(args["input_type_shape"][0].values())))
    y_shape = list(next(iter(args["output_type_shape"][0].values())))
    if node.op_type in CONV_TYPES:
        w = inits.get(node.input[3 if node.op_type == "QLinearConv" else 1])
        if w is None or len(w) != 4:
            return lo.NO_OPS
        out_c, per_group, kh, kw = w
        channels_last = attrs.get("channels_last", 0) or node.op_type.startswith("Nhwc")
        h, wd = (x_shape[1], x_shape[2]) if channels_last else (x_shape[2], x_shape[3])  # NCHW and NCHWc
        strides, dil = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
        pads = attrs.get("pads", [0, 0, 0, 0])
        auto = attrs.get("auto_pad", b"NOTSET")
        if auto in (b"SAME_UPPER", b"SAME_LOWER"):
            pairs = [lo.same_padding(s, k, st, d) for s, k, st, d in zip((h, wd), (kh, kw), strides, dil)]
            pairs = [p if auto == b"SAME_UPPER" else p[::-1] for p in pairs]
            pads = [pairs[0][0], pairs[1][0], pairs[0][1], pairs[1][1]]
        out = [lo.conv_output_size(s, k, st, pads[i], pads[i + 2], d)
               for i, (s, k, st, d) in enumerate(zip((h, wd), (kh, kw), strides, dil))]
        return lo.conv_ops((h, wd), tuple(out), (kh, kw), tuple(strides), (pads[0], pads[1]), tuple(dil),
                           per_group, out_c, batch=x_shape[0])
    if node.op_type in GEMM_TYPES:
        inner = x_shape[0] if attrs.get("transA", 0) else x_shape[-1]
        return lo.gemm_ops(lo.rows_of(y_shape, y_shape[-1]), inner, y_shape[-1])
    return lo.NO_OPS


def _profiled_session(model, threads: int, opt_level: str, prefix: Path):
    opts = _options(threads, opt_level)
    opts.enable_profiling, opts.profile_file_prefix = True, str(prefix)
    return _session(model, opts)


def _trace(session) -> list[dict]:
    return json.loads(Path(session.end_profiling()).read_text())


def _trimmed_mean(values, drop: float = 0.05) -> float:
    v = np.sort(np.asarray(values, dtype=float))
    return float(v[: max(1, int(round(len(v) * (1 - drop))))].mean())


def _optimized(path: Path, threads: int, opt_level: str):
    """A session as benchmarked, the graph it really runs, and a batch-1 feed."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="convbench-ortopt-") as tmp:
        opts = _options(threads, opt_level)
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        sess = _session(str(path), opts)
        optimized = onnx.load(opts.optimized_model_filepath)
    inp = sess.get_inputs()[0]
    return sess, optimized, {inp.name: sample_input([1, *inp.shape[1:]])}


def profile_onnx(path, threads: int = 1, method: str = "profiler", warmup: int = 20, budget_s: float = 1.5,
                 opt_level: str = "ORT_ENABLE_ALL") -> LayerProfile:
    """Per-node times by ORT's profiler (method="profiler", the default) or by timing each
    node of ORT's optimized graph as a model of its own (method="sliced", the cross-check).
    The profiled runs are interleaved with the unprofiled whole model and both one-element
    models, so that load from other processes hits the layers and the whole alike."""
    if method == "sliced":
        return profile_onnx_sliced(path, threads, budget_s, opt_level)
    if method != "profiler":
        raise ValueError(f"method {method!r}: expected 'profiler' or 'sliced'")
    path = Path(path)
    sess, optimized, feed = _optimized(path, threads, opt_level)
    one = {"x": np.ones(1, np.float32)}
    with tempfile.TemporaryDirectory(prefix="convbench-ortprof-") as tmp:
        profiled = _profiled_session(str(path), threads, opt_level, Path(tmp) / "model")
        profiled_trivial = _profiled_session(trivial_onnx(), threads, opt_level, Path(tmp) / "trivial")
        overhead_sess = _session(trivial_onnx(), _options(threads, opt_level))
        for _ in range(warmup):   # arena growth and first-run costs stay out of the profile
            profiled.run(None, feed)
            profiled_trivial.run(None, one)
        medians = interleaved_medians({"whole": lambda: sess.run(None, feed),
                                       "overhead": lambda: overhead_sess.run(None, one),
                                       "profiled": lambda: profiled.run(None, feed),
                                       "profiled trivial": lambda: profiled_trivial.run(None, one)}, budget_s)
        skip = warmup + 1   # interleaved_medians warms each callable up once more
        per_run, args, model_runs = node_events(_trace(profiled), skip)
        trivial_runs, _, _ = node_events(_trace(profiled_trivial), skip)
    inflation = _trimmed_mean(next(iter(trivial_runs.values())))
    whole_us = medians["whole"]
    inits = {i.name: list(i.dims) for i in optimized.graph.initializer}
    nodes = {n.name: n for n in optimized.graph.node}
    order = {n.name: i for i, n in enumerate(optimized.graph.node)}
    layers = []
    for name, times in sorted(per_run.items(), key=lambda kv: order.get(kv[0], math.inf)):
        t = _trimmed_mean(times) - inflation
        node = nodes.get(name)
        counted = node_ops(node, inits, args[name]) if node is not None else lo.NO_OPS
        layers.append(layer_timing(order.get(name, -1), name, args[name].get("op_name", "?"), t, whole_us, counted))
    raw_sum = sum(_trimmed_mean(t) for t in per_run.values())
    notes = [f"Profiler: {len(model_runs)} runs after {warmup} warm-up runs; model_run median "
             f"{np.median(model_runs):.1f} µs; raw node sum {raw_sum:.1f} µs; per-node profiler cost "
             f"{inflation:.2f} µs subtracted from each node (it varies by op by about ±0.5 µs, so a node under "
             "0.5 µs can read below 0)."]
    method = ("ONNX Runtime profiler (enable_profiling), warm-up runs dropped by position, node time = trimmed mean "
              "minus the profiler's per-node cost (a profiled one-element Add); whole model timed without the "
              "profiler, interleaved with the profiled runs; one-element Add model = per-run overhead")
    return LayerProfile(method, layers, whole_us, medians["overhead"], tuple(sess.get_providers()), notes,
                        resolution_us=PROFILER_RESOLUTION_US, kernels_only=True)


def profile_onnx_sliced(path, threads: int = 1, budget_s: float = 1.5,
                        opt_level: str = "ORT_ENABLE_ALL") -> LayerProfile:
    """Each node of ORT's optimized graph (NCHWc convs, fused QLinearConv, ...) as a one-node
    model, loaded with optimizations off so it stays that node, fed the whole graph's
    intermediate values, timed interleaved with the whole model; one session.run's overhead
    (a one-element Add) is subtracted from each node. Every node's output is checked to equal
    the whole graph's. lesson5 (1 thread): 0.90-1.00 of the whole, where the profiler gave
    1.04-1.18."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    path = Path(path)
    sess, optimized, feed = _optimized(path, threads, opt_level)
    raw = _options(threads, opt_level)
    raw.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    capture = onnx.ModelProto()
    capture.CopyFrom(optimized)
    outputs = {o.name for o in capture.graph.output}
    for node in capture.graph.node:
        for t in node.output:
            if t and t not in outputs:
                capture.graph.output.append(onnx.ValueInfoProto(name=t))
                outputs.add(t)
    capture_sess = _session(capture.SerializeToString(), raw)
    names = [o.name for o in capture_sess.get_outputs()]
    values = {**dict(zip(names, capture_sess.run(names, feed))), **feed}
    inits = {i.name: i for i in optimized.graph.initializer}
    one = {"x": np.ones(1, np.float32)}
    overhead_sess = _session(trivial_onnx(), _options(threads, opt_level))
    runs = {"whole": lambda: sess.run(None, feed), "overhead": lambda: overhead_sess.run(None, one)}
    sessions, shapes = [], {}
    for i, node in enumerate(optimized.graph.node):
        dynamic = [t for t in node.input if t and t not in inits]
        graph = helper.make_graph(
            [node], "one_node",
            [helper.make_tensor_value_info(t, helper.np_dtype_to_tensor_dtype(values[t].dtype), list(values[t].shape))
             for t in dynamic],
            [onnx.ValueInfoProto(name=t) for t in node.output if t],
            initializer=[inits[t] for t in dict.fromkeys(node.input) if t in inits])
        model = helper.make_model(graph, opset_imports=optimized.opset_import, ir_version=optimized.ir_version)
        one_sess = _session(model.SerializeToString(), raw)
        node_feed = {t: values[t] for t in dynamic}
        if not np.array_equal(one_sess.run(None, node_feed)[0], values[node.output[0]]):
            raise RuntimeError(f"node {node.name} alone does not reproduce its output in the whole graph")
        sessions.append(one_sess)
        runs[i] = lambda s=one_sess, f=node_feed: s.run(None, f)
        shapes[i] = {"input_type_shape": [{"t": list(values[dynamic[0]].shape) if dynamic else []}],
                     "output_type_shape": [{"t": list(values[node.output[0]].shape)}]}
    medians = interleaved_medians(runs, budget_s)
    overhead, whole_us = medians.pop("overhead"), medians.pop("whole")
    dims = {name: list(t.dims) for name, t in inits.items()}
    layers = []
    for i, node in enumerate(optimized.graph.node):
        t = medians[i] - overhead
        counted = node_ops(node, dims, shapes[i]) if shapes[i]["input_type_shape"][0]["t"] else lo.NO_OPS
        layers.append(layer_timing(i, node.name, node.op_type, t, whole_us, counted))
    method = ("one-node models cut from ORT's optimized graph, run with optimizations off, fed the whole graph's "
              "intermediate values, timed interleaved with the whole model; one session.run overhead subtracted")
    return LayerProfile(method, layers, whole_us, overhead, tuple(sess.get_providers()))
