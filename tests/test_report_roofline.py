"""The report's roofline and per-layer parts on synthetic typed records: the figure renders, the
roofs table marks the winners, fp32 and int8 layers join with the manifest's per-layer error by
name or by kind, and the note sentences cite the layers the numbers single out."""

from __future__ import annotations

from convbench.core.records import (ArtifactRecord, BandwidthMeasurement, BenchRun, DeviceRoofs, LatencyResult,
                                    LatencyStats, LayerError, LayerProfileResult, LayerTiming, OutputAudit,
                                    RoofMeasurement, RunRoofs)
from convbench.report.layers import compression_layers, hardware_layers, layer_sections
from convbench.report.roofline import roofline_figures, roofs_section
from tests.support.reportdata import run_of

M = "lesson5_custom"
# (name, op type, fp32 µs, int8 µs): the first conv is slower in int8, conv_b holds the time.
LAYERS = [("seq/conv_a/Relu", "CONV_2D", 10.0, 20.0), ("seq/pool/MaxPool", "MAX_POOL_2D", 2.0, 1.0),
          ("seq/conv_b/Relu", "CONV_2D", 60.0, 15.0), ("seq/conv_c/Relu", "CONV_2D", 25.0, 8.0),
          ("seq/dense/MatMul", "FULLY_CONNECTED", 3.0, 1.0)]
SNR_DB = {"seq/conv_a/Relu": 40.0, "seq/pool/MaxPool": 40.0, "seq/conv_b/Relu": 30.0, "seq/conv_c/Relu": 12.0,
          "seq/dense/MatMul": 11.0}


def profile(fmt: str, runtime: str, layers: list[tuple[str, str, float]]) -> LayerProfileResult:
    whole = sum(us for *_, us in layers) + 0.5
    timings = [LayerTiming(index=i, name=n, op_type=op, time_us=us, share=us / whole, ops=10**6 if "CONV" in op else 0,
                           ops_dense=10**6 if "CONV" in op else 0) for i, (n, op, us) in enumerate(layers)]
    return LayerProfileResult.of(dict(model=M, variant=fmt, format=fmt, runtime=runtime, device="cpu", batch=1,
                                      threads=1), method="test", layers=timings, whole_us=whole, overhead_us=0.5,
                                 tolerance=0.15)


def latency(fmt: str, accuracy: float, gops: float, intensity: float) -> LatencyResult:
    return LatencyResult(model=M, variant=fmt, format=fmt, runtime="litert", device="cpu", batch=1, threads=1,
                         stats=LatencyStats.from_seconds([1e-4] * 3, 1), load_ms=1.0, first_inference_ms=1.0,
                         rounds=3, warmup_calls=1, audit=OutputAudit(passed=True, checked=3, mismatched=0,
                                                                     max_abs_diff=0.0, decision_changes=0),
                         accuracy=accuracy, agreement_vs_fp32=0.91, accuracy_images=100, ops_per_image=10**6,
                         bytes_per_call=int(10**6 / intensity), achieved_gflops=gops, roof_gflops=100.0,
                         roof_precision="fp32", roof_name="fp32 roof: test", fraction_of_roof=gops / 100)


def layered_run(errors: list[LayerError], int8_layers=None) -> BenchRun:
    """A run with per-layer profiles of fp32 and int8 TFLite, their latency rows, an int8
    artifact with these per-layer errors, and cpu roofs of 100 (fp32) and 400 (int8) Gop/s."""
    cpu = DeviceRoofs(device="cpu", name="Test CPU", usable_cores=2, measurements=[
        RoofMeasurement(precision=p, method=f"{p} probe", threads=1, ops=g * 10**9, seconds=1.0, runs=3)
        for p, g in (("fp32", 100), ("int8", 400))], bandwidth=[
        BandwidthMeasurement(method="triad", threads=1, bytes_per_s=2e10, array_bytes=2**26)])
    roofs = RunRoofs(at_start=[cpu], not_measured={"gpu": "no NVIDIA GPU here"})
    int8 = ArtifactRecord(model=M, variant="tflite_int8", format="tflite_int8", technique="ptq", layer_errors=errors,
                          layer_errors_reference="tflite_fp32/tflite_fp32" if errors else None)
    int8_layers = int8_layers or ([("tfl.quantize", "QUANTIZE", 0.5)] + [(n, op, i) for n, op, _, i in LAYERS]
                                  + [("out", "DEQUANTIZE", 0.5)])
    results = [profile("tflite_fp32", "litert", [(n, op, f) for n, op, f, _ in LAYERS]),
               profile("tflite_int8", "litert", int8_layers),
               latency("tflite_fp32", 0.98, 50.0, 20.0), latency("tflite_int8", 0.952, 200.0, 80.0)]
    return run_of(results, [int8], models=(M,), roofs=roofs, cpu_flags={})


def errors(names=None) -> list[LayerError]:
    names = names or list(SNR_DB)
    return [LayerError(name=name, op_type=op, matched_by="name", snr_db=SNR_DB[key], rel_l2=10 ** (-SNR_DB[key] / 20),
                       max_abs=0.1) for name, (key, op, *_) in zip(names, LAYERS)]


def test_layer_table_joins_fp32_int8_and_the_error_of_each_layer():
    section = layer_sections(layered_run(errors()), M)[0]
    rows = [[c.text for c in row] for row in section.table.rows]
    assert rows[0][:5] == ["conv_a/Relu (CONV_2D)", "10.00", "10.0", "20.00", "0.50"] and rows[0][7] == "40.0"
    assert rows[3][0] == "conv_c/Relu (CONV_2D)" and rows[3][7] == "12.0"
    assert [r[0] for r in rows[5:]] == ["tfl.quantize (QUANTIZE)", "out (DEQUANTIZE)"] and rows[5][1] == "–"
    assert "1.00 (fp32), 1.00 (tflite_int8)" in section.summary and "against tflite_fp32/tflite_fp32" in section.summary


def test_errors_named_otherwise_join_by_kind_and_order():
    # ORT profiles name the nodes of its optimized graph: errors then pair by kind and occurrence.
    section = layer_sections(layered_run(errors([f"node_{i}" for i in range(5)])), M)[0]
    snr = [row[7].text for row in section.table.rows[:5]]
    assert snr == ["40.0", "40.0", "30.0", "12.0", "11.0"]


def test_without_per_layer_errors_the_table_says_not_measured():
    section = layer_sections(layered_run([]), M)[0]
    assert "Per-layer quantization error: not measured" in section.summary
    assert all(row[7].text == "–" for row in section.table.rows)
    assert compression_layers(layered_run([])) is None


def test_hardware_note_cites_the_layers_that_hold_the_time_and_the_one_int8_slowed():
    [row] = [[c.text for c in r] for r in hardware_layers(layered_run(errors())).rows]
    assert row[0] == M and row[2] == "2.16"   # 100.5 / 46.5
    assert row[3] == "conv_b/Relu (CONV_2D): 60%, 4.00x, conv_c/Relu (CONV_2D): 25%, 3.12x"
    assert row[4] == "slower: conv_a/Relu (CONV_2D): 10%, 0.50x"
    assert row[5].startswith("1.00 ")


def test_compression_note_cites_the_worst_layer_and_where_the_error_grows():
    [row] = [[c.text for c in r] for r in compression_layers(layered_run(errors())).rows]
    assert row[:4] == [M, "tflite_int8 (litert)", "-2.8", "91.0"]
    assert row[4] == "dense/MatMul (FULLY_CONNECTED) (11.0)"
    assert row[5] == "conv_c/Relu (CONV_2D) (30.0 → 12.0)"


def test_roofline_figure_renders_and_a_device_without_roofs_says_why():
    cpu, gpu = roofline_figures(layered_run([]))
    assert cpu.png and cpu.png.startswith(b"\x89PNG") and cpu.missing is None
    assert gpu.png is None and gpu.missing == "no NVIDIA GPU here"


def test_roofs_table_marks_the_winner_and_states_the_largest_efficiency():
    section = roofs_section(layered_run([]))
    rows = [[c.text for c in row] for row in section.table.rows]
    assert ["cpu", "int8", "1", "400.0", "400.0", "–", "int8 probe", "roof"] in rows
    assert any(r[1] == "memory" and r[3] == "20.0 GB/s" and r[-1] == "roof" for r in rows)
    assert any("Largest efficiency of any row: 200.0%" in p and "rows above 100 % of their roof: 1 of 2" in p
               for p in section.paragraphs)
    assert any(p.startswith("Ops: real-pixel ops") for p in section.paragraphs)
