"""Roofs, per-layer latency and per-layer quantization error on tiny real models (built here
with tf_keras, the TFLite converter, tf2onnx and ORT's quantizer). No test asserts a timing:
only positivity, orderings the CPU flags promise, and how parts add up to the whole."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from convbench.benchmarks import layer_ops as lo
from convbench.benchmarks import tflite_graph as tg
from convbench.benchmarks.roofs import Measurement, Roofs

INPUT_SHAPE = (32, 32, 3)
# The LiteRT layers sum to 0.97-1.03 of the whole on lesson5; the ORT profiler writes whole µs
# and its per-node cost is calibrated to about +-0.5 µs per node (layers_onnx.py), so the ONNX
# check allows that much per node on top of the relative tolerance.
SUM_TOLERANCE = 0.15
ORT_PER_NODE_US = 0.5


def _flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """fp32 and int8 TFLite, fp32 and static QDQ ONNX of a two-conv net with 'same' padding."""
    from convbench.tfsetup import keras, tf

    folder = tmp_path_factory.mktemp("roofline")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input(INPUT_SHAPE),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPool2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPool2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="softmax"),
    ])
    calibration = np.random.default_rng(0).random((16, *INPUT_SHAPE), dtype=np.float32)
    paths = {k: folder / f"{k}{'.onnx' if k.startswith('onnx') else '.tflite'}"
             for k in ("tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_static_qdq")}
    paths["tflite_fp32"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        paths["tflite_int8"].write_bytes(conv.convert())
    import tf2onnx

    spec = [tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name="input")]
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=str(paths["onnx_fp32"]))
    from convbench.optimize.export import onnx_static_qdq

    onnx_static_qdq(paths["onnx_fp32"], paths["onnx_static_qdq"], calibration)
    from convbench.models.flops import count_flops

    paths["keras_flops"] = count_flops(model)
    return paths


@pytest.fixture(scope="module")
def roofs():
    from convbench.benchmarks.roofs import measure_roofs

    return measure_roofs(rounds=3, round_s=0.01, attempts=1)


# --- op counts -----------------------------------------------------------------------------

def test_conv_ops_count_only_real_pixels_for_real_and_every_tap_for_dense():
    # 4x4 input, 3x3 'same' (pad 1): per axis the taps on real pixels are 2+3+3+2 = 10 of 12.
    ops = lo.conv_ops((4, 4), (4, 4), (3, 3), (1, 1), (1, 1), (1, 1), in_channels_per_group=2, out_channels=5)
    assert ops.ops_dense == 2 * 4 * 4 * 3 * 3 * 2 * 5
    assert ops.ops_real == 2 * 10 * 10 * 2 * 5
    valid = lo.conv_ops((4, 4), (2, 2), (3, 3), (1, 1), (0, 0), (1, 1), 2, 5)
    assert valid.ops_real == valid.ops_dense == 2 * 2 * 2 * 9 * 2 * 5
    assert lo.same_padding(28, 5, 1, 1) == (2, 2) and lo.same_padding(7, 3, 2, 1) == (1, 1)
    assert lo.gemm_ops(1, 1152, 64).ops_real == 2 * 1152 * 64


@pytest.mark.slow
def test_graph_op_count_matches_the_keras_count(tiny):
    from convbench.benchmarks.roofline_check import model_ops

    for key in ("tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_static_qdq"):
        ops = model_ops(tiny[key])
        assert ops.ops_dense == tiny["keras_flops"], key   # models/flops.py counts the border too
        assert 0 < ops.ops_real < ops.ops_dense, key


# --- flatbuffer building and slicing -------------------------------------------------------

def test_built_fully_connected_probe_computes_x_times_w_transposed():
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((3, 5), dtype=np.float32), rng.standard_normal((2, 5), dtype=np.float32)
    b = tg.Builder()
    xi, wi = b.tensor("x", [2, 5], "float32"), b.tensor("w", [3, 5], "float32", w)
    bi, yi = b.tensor("b", [3], "float32", np.zeros(3, np.float32)), b.tensor("y", [2, 3], "float32")
    b.op("FULLY_CONNECTED", [xi, wi, bi], [yi], b.options("FullyConnectedOptionsT"), "FullyConnectedOptions")
    interp = Interpreter(model_content=b.build([xi], [yi]))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    np.testing.assert_allclose(interp.get_tensor(interp.get_output_details()[0]["index"]), x @ w.T, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["tflite_fp32", "tflite_int8"])
def test_each_single_op_model_reproduces_its_layer_of_the_whole_model(tiny, key):
    from ai_edge_litert.interpreter import Interpreter

    model = tg.read_model(tiny[key])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = Interpreter(model_path=str(tiny[key]), experimental_preserve_all_tensors=True)
    full.allocate_tensors()
    d = full.get_input_details()[0]
    full.set_tensor(d["index"], np.random.default_rng(1).random(d["shape"], dtype=np.float32))
    full.invoke()
    ops = [op for op in tg.graph_ops(model) if not op.folded]
    assert {"CONV_2D", "FULLY_CONNECTED"} <= {op.op_type for op in ops}
    for op in ops:
        content, inputs = tg.single_op_model(model, op.index)
        one = Interpreter(model_content=content)
        one.allocate_tensors()
        for detail, t in zip(one.get_input_details(), inputs):
            one.set_tensor(detail["index"], full.get_tensor(t))
        one.invoke()
        got = one.get_tensor(one.get_output_details()[0]["index"])
        np.testing.assert_array_equal(got, full.get_tensor(op.outputs[0]), err_msg=f"{op.index} {op.op_type}")


# --- roofs -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_roofs_are_positive_for_every_measured_precision(roofs):
    assert roofs.measurements and all(m.ops_per_s > 0 and m.runs >= 1 for m in roofs.measurements)
    for precision in ("fp32", "int8"):
        for threads in (1, None):
            assert roofs.best(precision, threads).ops_per_s > 0
    assert all(t.bytes_per_s > 0 for t in roofs.triads)
    assert "bf16" in roofs.not_measured
    assert roofs.machine["usable_cores"] >= 1 and 0 <= roofs.foreign_cpu_share <= 1


@pytest.mark.slow
def test_int8_roof_is_above_fp32_where_the_cpu_has_vnni(roofs):
    vnni = _flags() & {"avx512_vnni", "avx_vnni"}
    if not vnni:
        pytest.skip("no AVX512-VNNI/AVX-VNNI in /proc/cpuinfo: int8 need not beat fp32 here")
    assert roofs.best("int8", 1).ops_per_s > roofs.best("fp32", 1).ops_per_s


def _synthetic_roofs(fp32: float, int8: float) -> Roofs:
    ms = (Measurement("fp32", "a", 1, int(fp32), 1.0, 1), Measurement("fp32", "a", 2, int(2 * fp32), 1.0, 1),
          Measurement("int8", "b", 1, int(int8), 1.0, 1), Measurement("fp16", "c", 1, int(fp32 / 2), 1.0, 1))
    return Roofs(ms, (), (), {}, {"usable_cores": 2}, 0.0, 0.0)


def test_roof_rule_takes_the_best_precision_a_row_may_run_in():
    # A CPU without VNNI: int8 probes slower than fp32.
    r = _synthetic_roofs(fp32=100.0, int8=60.0)
    assert r.roof_for("tflite_int8", 1).ops_per_s == 60      # full-integer: int8 kernels only
    assert r.roof_for("onnx_static_qdq", 1).ops_per_s == 100  # QDQ may leave ops in fp32
    assert r.roof_for("tflite_dynamic", 1).ops_per_s == 100
    assert r.roof_for("tflite_fp16", 1).ops_per_s == 100      # fp16 weights computed in fp32
    assert r.roof_for("tflite_fp32", 2).ops_per_s == 200
    assert r.roof_for("tflite_fp32", None).ops_per_s == 200   # runtime default: all cores
    assert r.roof_for("tflite_fp32", 8).ops_per_s == 200      # more threads than cores
    assert r.roof_for("something_new", 1).ops_per_s == 100    # unknown: best of any precision
    assert Roofs.from_dict(r.to_dict()) == r


# --- per-layer latency ---------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("key, onnx_method", [("tflite_fp32", None), ("tflite_int8", None),
                                              ("onnx_fp32", "profiler"), ("onnx_static_qdq", "profiler"),
                                              ("onnx_fp32", "sliced"), ("onnx_static_qdq", "sliced")])
def test_layer_times_add_up_to_the_whole_model(tiny, key, onnx_method):
    from convbench.benchmarks.layers import profile

    p = profile(tiny[key], threads=1, budget_s=0.5, onnx_method=onnx_method or "profiler")
    assert p.whole_us > 0 and p.overhead_us > 0 and p.layers
    slack = SUM_TOLERANCE * p.whole_us + (ORT_PER_NODE_US * len(p.layers) if onnx_method == "profiler" else 0)
    assert abs(p.layers_sum_us + p.overhead_us - p.whole_us) <= slack, (p.layers_sum_us, p.overhead_us, p.whole_us)
    convs = [layer for layer in p.layers if "Conv" in layer.op_type or "CONV" in layer.op_type]
    assert len(convs) == 2 and all(c.ops > 0 and c.ops_dense >= c.ops for c in convs)
    assert sum(layer.ops_dense for layer in p.layers) == tiny["keras_flops"]


# --- quantization error --------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("key", ["tflite_fp32", "onnx_fp32"])
def test_an_fp32_artifact_against_itself_has_zero_error(tiny, key):
    from convbench.benchmarks.quant_error import compare

    xs = np.random.default_rng(2).random((4, *INPUT_SHAPE), dtype=np.float32)
    r = compare(tiny[key], tiny[key], xs)
    assert len(r.layers) >= 5 and not r.unmatched
    for e in (*r.layers, r.output):
        assert e.snr_db == math.inf and e.rel_l2 == 0.0 and e.max_abs == 0.0
    assert r.decision_agreement == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("quantized, reference", [("tflite_int8", "tflite_fp32"), ("onnx_static_qdq", "onnx_fp32")])
def test_an_int8_artifact_has_finite_positive_error_in_every_layer(tiny, quantized, reference):
    from convbench.benchmarks.quant_error import compare

    xs = np.random.default_rng(3).random((8, *INPUT_SHAPE), dtype=np.float32)
    r = compare(tiny[quantized], tiny[reference], xs)
    types = {e.op_type for e in r.layers}
    assert len([t for t in (e.op_type for e in r.layers) if t in ("CONV_2D", "Conv")]) == 2, types
    for e in (*r.layers, r.output):
        assert math.isfinite(e.snr_db) and e.rel_l2 > 0, e
    assert 0.0 <= r.decision_agreement <= 1.0


def test_decisions_use_a_threshold_for_one_sigmoid_unit_and_argmax_otherwise():
    from convbench.benchmarks.quant_error import decisions

    assert decisions(np.array([[0.2], [0.7]])).tolist() == [0, 1]
    assert decisions(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])).tolist() == [1, 0]


def test_pooling_keeps_the_best_of_each_probe_and_never_lowers_a_roof():
    from dataclasses import replace

    from convbench.benchmarks.roofs import pool

    a = _synthetic_roofs(fp32=100.0, int8=60.0)
    b = replace(_synthetic_roofs(fp32=80.0, int8=90.0), foreign_cpu_share=0.5)
    pooled = pool(a, b)
    assert pooled.best("fp32", 1).ops_per_s == 100 and pooled.best("int8", 1).ops_per_s == 90
    assert len(pooled.measurements) == len(a.measurements) and pooled.foreign_cpu_share == 0.0
