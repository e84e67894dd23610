"""Roofs, op counts, the roof check and per-layer latency on tiny real models (built here with
tf_keras, the TFLite converter, tf2onnx and ORT's quantizer). No test asserts a timing: only
positivity, orderings the CPU flags promise, and how parts add up to the whole."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from convbench.benchmarks import layer_ops as lo
from convbench.benchmarks import tflite_graph as tg
from convbench.benchmarks.bench import BenchOptions, run_bench_with_folder
from convbench.benchmarks.results import apply_roofs
from convbench.core.records import (DeviceRoofs, LatencyResult, LatencyStats, OutputAudit, RoofMeasurement, RunRoofs,
                                    from_jsonable, load_run, to_jsonable)
from tests.support.plugins import bench_plugin
from tests.support.tiny import TWO_CONV_INPUT_SHAPE as INPUT_SHAPE
SUM_TOLERANCE = 0.15   # the layers suite's, plus each method's resolution per layer (LayerProfile.tolerance)
GOP = 10**9


def _flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


@pytest.fixture(scope="module")
def roofs() -> DeviceRoofs:
    from convbench.benchmarks.roofs import RoofBudget, measure_cpu_roofs

    return measure_cpu_roofs(RoofBudget(rounds=2, round_s=0.005, attempts=1, triad_repeats=1))


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
def test_graph_op_count_matches_the_keras_count(tiny_two_conv):
    from convbench.benchmarks.artifact_ops import count_file

    for key in ("tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_static_qdq"):
        ops = count_file(str(tiny_two_conv[key]))
        assert ops.ops_dense == tiny_two_conv["keras_flops"], key   # models/flops.py counts the border too
        assert 0 < ops.ops_real < ops.ops_dense, key
        assert ops.input_bytes_per_image == 4 * math.prod(INPUT_SHAPE) and ops.output_bytes_per_image == 4 * 4, key
    params = 16 * 27 + 16 + 32 * 144 + 32 + 8 * 8 * 32 * 4 + 4
    # fp32 weights stored once
    assert count_file(str(tiny_two_conv["tflite_fp32"])).weight_bytes == pytest.approx(4 * params, rel=0.01)
    assert count_file(str(tiny_two_conv["tflite_int8"])).weight_bytes < 2 * params     # int8 kernels (int32 biases)


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
def test_each_single_op_model_reproduces_its_layer_of_the_whole_model(tiny_two_conv, key):
    from ai_edge_litert.interpreter import Interpreter

    model = tg.read_model(tiny_two_conv[key])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = Interpreter(model_path=str(tiny_two_conv[key]), experimental_preserve_all_tensors=True)
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
    methods = {m.method.split()[0] for m in roofs.measurements}
    assert {"litert", "onnxruntime", "numpy"} <= methods   # the benchmarked runtimes and BLAS all compete
    assert roofs.bandwidth and all(b.bytes_per_s > 0 for b in roofs.bandwidth)
    assert "bf16" in roofs.not_measured and roofs.usable_cores >= 1 and 0 <= roofs.foreign_cpu_share <= 1


@pytest.mark.slow
def test_int8_roof_is_above_fp32_where_the_cpu_has_vnni(roofs):
    vnni = _flags() & {"avx512_vnni", "avx_vnni", "asimddp"}
    if not vnni:
        pytest.skip("no VNNI / dot-product instructions in /proc/cpuinfo: int8 need not beat fp32 here")
    assert roofs.best("int8", 1).ops_per_s > roofs.best("fp32", 1).ops_per_s
    assert any(p.precision == "int8" for p in roofs.peaks)   # the flags promise an int8 peak


def _synthetic(fp32: float, int8: float, share: float = 0.0) -> DeviceRoofs:
    def probe(precision, threads, gops):
        return RoofMeasurement(precision=precision, method=f"{precision} probe", threads=threads, ops=int(gops * GOP),
                               seconds=1.0, runs=1)

    return DeviceRoofs(device="cpu", name="test", usable_cores=2, foreign_cpu_share=share, measurements=[
        probe("fp32", 1, fp32), probe("fp32", 2, 2 * fp32), probe("int8", 1, int8), probe("fp16", 1, fp32 / 2)])


def test_roof_rule_takes_the_best_precision_a_row_may_run_in():
    # A CPU without VNNI: int8 probes slower than fp32.
    r = _synthetic(fp32=100.0, int8=60.0)
    gops = {fmt: r.roof_for(fmt, 1).ops_per_s / GOP for fmt in
            ("tflite_int8", "onnx_static_qdq", "tflite_dynamic", "tflite_fp16", "something_new")}
    assert gops == {"tflite_int8": 60,        # full-integer: int8 kernels only
                    "onnx_static_qdq": 100,   # QDQ may leave ops in fp32
                    "tflite_dynamic": 100, "tflite_fp16": 100,   # fp16 weights computed in fp32
                    "something_new": 100}     # a format outside the registry: the best of any precision
    assert r.roof_for("tflite_fp32", 2).ops_per_s == 200 * GOP
    assert r.roof_for("tflite_fp32", None).ops_per_s == 200 * GOP   # runtime default: all cores
    assert r.roof_for("tflite_fp32", 8).ops_per_s == 200 * GOP      # more threads than cores
    assert r.roof_for("keras", 1).precision == "fp32"
    # A VNNI CPU: int8 rows get the int8 roof, never the lower fp32 one.
    assert _synthetic(fp32=100.0, int8=400.0).roof_for("onnx_static_qdq", 1).ops_per_s == 400 * GOP
    roofs = RunRoofs(at_start=[r])
    assert from_jsonable(RunRoofs, to_jsonable(roofs), "test") == roofs


def test_pooling_keeps_the_best_of_each_probe_and_never_lowers_a_roof():
    start, end = _synthetic(fp32=100.0, int8=60.0), _synthetic(fp32=80.0, int8=90.0, share=0.5)
    run = RunRoofs(at_start=[start], at_end=[end])
    pooled = run.pooled("cpu")
    assert pooled.best("fp32", 1).ops_per_s == 100 * GOP and pooled.best("int8", 1).ops_per_s == 90 * GOP
    assert len(pooled.measurements) == len(start.measurements) and pooled.foreign_cpu_share == 0.0
    assert run.drift("cpu") == pytest.approx(0.5)   # int8 60 -> 90
    assert run.pooled("gpu") is None and run.roof_for("gpu", "onnx_fp32", None) is None


def _row(fmt: str, gops: float, threads: int = 1) -> LatencyResult:
    return LatencyResult(model="m", variant=fmt, format=fmt, runtime="litert", device="cpu", batch=1, threads=threads,
                         stats=LatencyStats.from_seconds([1e-3] * 3, 1), load_ms=1.0, first_inference_ms=1.0, rounds=3,
                         warmup_calls=1, audit=OutputAudit(passed=True, checked=3, mismatched=0, max_abs_diff=0.0,
                                                           decision_changes=0),
                         ops_per_image=int(gops * 1e6), achieved_gflops=gops)


def test_a_row_above_its_roof_fails_the_check_and_is_not_clipped():
    roofs = RunRoofs(at_start=[_synthetic(fp32=100.0, int8=400.0)])
    output = [{"fullname": f"test_latency[{fmt}]", "extra_info": to_jsonable(_row(fmt, gops))}
              for fmt, gops in (("tflite_fp32", 50.0), ("tflite_int8", 300.0), ("tflite_fp16", 120.0))]
    above = apply_roofs(output, roofs)
    fractions = [b["extra_info"]["fraction_of_roof"] for b in output]
    assert fractions == pytest.approx([0.5, 0.75, 1.2])   # fp16 divided by the fp32 roof, 1.2 kept as measured
    assert [a.nodeid for a in above] == ["test_latency[tflite_fp16]"] and "120.0% of its roof" in above[0].reason
    assert [b["extra_info"]["roof_precision"] for b in output] == ["fp32", "int8", "fp32"]


def test_a_row_above_a_roof_that_starved_cores_left_unsettled_is_not_a_failure():
    # issue 21: an fp32 roof of 34 Gop/s before the rows and 83 after (other processes held the
    # cores), a row at 84 Gop/s: 101 % of the pooled roof, within the roof's own disagreement
    def output():
        return [{"fullname": "test_latency[tflite_fp32]", "extra_info": to_jsonable(_row("tflite_fp32", 84.0))}]

    unsettled = RunRoofs(at_start=[_synthetic(fp32=34.0, int8=34.0)], at_end=[_synthetic(fp32=83.0, int8=83.0)])
    rows = output()
    assert apply_roofs(rows, unsettled) == [] and rows[0]["extra_info"]["fraction_of_roof"] > 1   # kept as measured
    assert unsettled.spread("cpu", "tflite_fp32", 1) == pytest.approx(1 - 34 / 83)
    # the same row against a roof measured alike at both ends still fails, and so does a row far
    # above an unsettled one
    settled = RunRoofs(at_start=[_synthetic(fp32=83.0, int8=83.0)], at_end=[_synthetic(fp32=83.0, int8=83.0)])
    (failed,) = apply_roofs(output(), settled)
    assert "101.2% of its roof" in failed.reason and "agree within" not in failed.reason
    close = RunRoofs(at_start=[_synthetic(fp32=80.0, int8=80.0)], at_end=[_synthetic(fp32=83.0, int8=83.0)])
    faster = [{"fullname": "test_latency[tflite_fp32]", "extra_info": to_jsonable(_row("tflite_fp32", 90.0))}]
    (failed,) = apply_roofs(faster, close)
    assert "108.4% of its roof" in failed.reason and "agree within 4%" in failed.reason
    far = [{"fullname": "test_latency[tflite_fp32]", "extra_info": to_jsonable(_row("tflite_fp32", 200.0))}]
    assert len(apply_roofs(far, unsettled)) == 1


def test_a_row_above_its_roof_fails_the_run(tiny_bench_copy, monkeypatch, capsys):
    out = tiny_bench_copy
    rc, run_dir = run_bench_with_folder(BenchOptions(quick=True, runtimes=("litert",), batches=(1,), out=out,
                                                     storage=None, suites=("latency",),
                                                     pytest_args=bench_plugin(monkeypatch, "low_roofs")))
    run = load_run(run_dir)
    assert rc == 1 and run.latency and all(r.fraction_of_roof > 1 for r in run.latency)   # kept as measured
    assert len(run.record.failed) == len(run.latency)
    assert all("test_latency[" in f.nodeid and "of its roof" in f.reason for f in run.record.failed)
    assert "of its roof" in capsys.readouterr().out   # the bench summary lists each failed row


# --- per-layer latency ---------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timed  # the layers' sum against the whole model: the machine to itself
@pytest.mark.parametrize("key, onnx_method", [("tflite_fp32", None), ("tflite_int8", None),
                                              ("onnx_fp32", "profiler"), ("onnx_static_qdq", "profiler"),
                                              ("onnx_static_qdq", "sliced")])
def test_layer_times_add_up_to_the_whole_model(tiny_two_conv, key, onnx_method):
    from convbench.benchmarks.layers import profile

    p = profile(tiny_two_conv[key], threads=1, budget_s=0.3, onnx_method=onnx_method or "profiler")
    assert p.whole_us > 0 and p.overhead_us > 0 and p.layers
    layers_sum = sum(layer.time_us for layer in p.layers)
    # ORT's profiler times kernels only: the executor's time between nodes is in no layer, so
    # there the layers may add up to less than the whole (by machine), never to more.
    assert p.kernels_only == (onnx_method == "profiler")
    if onnx_method == "sliced":
        # The cross-check `inspect layers --onnx-method sliced` offers; no bench row is judged by
        # it. Its sum sat at 0.85-1.00 of the whole here (each one-node model runs with its inputs
        # warm, the whole graph does not), so only a plain mistake (a missed or doubled node, a
        # wrong subtraction) is asserted, not a timing agreement.
        assert 0.6 < p.sum_ratio < 1.4, (layers_sum, p.overhead_us, p.whole_us)
    else:
        assert p.explains_whole(SUM_TOLERANCE), (layers_sum, p.overhead_us, p.whole_us)
    assert 0 < p.sum_ratio
    # ORT's profiler rounds to whole µs; LiteRT subtracts a measured per-invoke overhead; ORT's
    # sliced models time each node on its own, with nothing subtracted or rounded
    assert (p.resolution_us > 0) == (onnx_method != "sliced")
    convs = [layer for layer in p.layers if "Conv" in layer.op_type or "CONV" in layer.op_type]
    assert len(convs) == 2 and all(c.ops > 0 and c.ops_dense >= c.ops for c in convs)
    assert sum(layer.ops_dense for layer in p.layers) == tiny_two_conv["keras_flops"]
    assert sum(layer.share for layer in p.layers) == pytest.approx(layers_sum / p.whole_us)


@pytest.mark.parametrize("kernels_only, layers_us, explains", [
    (False, 70.0, False), (False, 100.0, True), (False, 130.0, False),   # both ways
    (True, 70.0, True), (True, 100.0, True), (True, 130.0, False)])      # only above the whole
def test_the_layer_sum_check_is_one_sided_only_for_a_kernels_only_method(kernels_only, layers_us, explains):
    from convbench.benchmarks.layers import LayerProfile
    from convbench.core.records import LayerTiming

    layer = LayerTiming(index=0, name="conv", op_type="Conv", time_us=layers_us, share=layers_us / 100, ops=0,
                        ops_dense=0)
    p = LayerProfile("test", [layer], whole_us=100.0, overhead_us=0.0, kernels_only=kernels_only)
    assert p.explains_whole(0.15) == explains
