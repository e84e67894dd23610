"""The report's judgements on small synthetic runs: the notes' tables and where they contradict
the textbook (said once, not per model), the first screen's picks, and how the exact McNemar test reads."""

from __future__ import annotations


from convbench.core.records import RoofMeasurement, TheoreticalPeak
from convbench.report import notes, notes_speed
from convbench.report.significance import difference
from convbench.report.summary import device_summaries
from convbench.report.table import AGREES
from tests.support.reportdata import M4, M5, artifact, full_run, lat, memory, pipeline, run_of


def column(note, header: str) -> list[str]:
    i = note.table.headers.index(header)
    return [row[i].text for row in note.table.rows]


def test_a_rows_difference_from_fp32_with_its_mcnemar_p():
    # the p-values themselves: test_paired_stats.py
    row = lat("tflite_int8", 0.1, 0.97, lost=12, gained=2)
    diff = difference(row, 0.98)
    assert (diff.text(), diff.significant) == ("-1.00 pp (p=0.013*)", True)
    assert difference(lat("x", 0.1, 0.97), 0.98) is None             # counts not recorded: no test


def test_first_screen_picks_baseline_fastest_and_smallest_per_model():
    (cpu,) = device_summaries(full_run(), 1.0)
    rows = {(row[0].text or model, row[1].text): row for model, row in _with_model(cpu.table.rows)}
    col = {h: i for i, h in enumerate(cpu.table.headers)}
    base, pick = rows[(M5, "fp32 baseline")], rows[(M5, "fastest (pick of 2 tied)")]
    small = rows[(M5, "smallest download")]
    # baseline: the fastest plain fp32 conversion at batch 1 and one thread (0.2 ms; 0.12 ms at two
    # threads), as the picks are compared; not keras_eager
    assert [base[col[h]].text for h in ("variant (format)", "runtime", "p50 / p99 (ms)", "speed-up (× baseline)")] \
        == ["tflite_fp32", "litert t1", "0.200 / 0.204", "1.00"]
    # files are compared at one thread: pruned_80's 0.09 ms and tflite_int8's 0.10 ms cannot be told
    # apart (within 50 %): the plain int8 conversion is picked; pruned_80 stays the smallest download
    assert [pick[col[h]].text for h in ("variant (format)", "speed-up (× baseline)", "size / gzip (KiB)",
                                        "accuracy (%)", "Δ vs fp32 (pp, McNemar p)")] == \
        ["tflite_int8", "2.00", "1.1 / 0.5", "97.50", "-0.50 (p=0.18)"]
    assert [small[col[h]].text for h in ("variant (format)", "size / gzip (KiB)", "Δ vs fp32 (pp, McNemar p)")] == \
        ["pruned_80 (tflite_int8)", "0.3 / 0.1", "-1.00 (p=0.013*)"]
    assert small[col["Δ vs fp32 (pp, McNemar p)"]].mark == "contra"     # a real loss, within the budget
    assert base[col["peak RSS (MiB)"]].text == "100"                    # its memory row, batch 1
    assert [(r[0].text, r[1].text) for r in cpu.table.rows if r[0].text == M4] == [(M4, "fp32 baseline")]
    assert cpu.verdicts[0].startswith(f"{M4}: nothing to recommend — no batch-1 row")
    assert cpu.verdicts[1] == (
        f"{M5}: for latency tflite_int8 on litert t1 (2.00x the baseline's speed, accuracy -0.50 pp (p=0.18), no "
        "significant change), picked by the tie rule from 2 rows that cannot be told apart on speed (median over the "
        "lowest, 0.090 ms: pruned_80 (tflite_int8) litert t1 1.00x, tflite_int8 litert t1 1.11x); for size pruned_80 "
        "(tflite_int8) (download (gzip) 0.1 KiB, file 0.3 KiB, a 13.3x smaller download than the baseline's, "
        "accuracy -1.00 pp (p=0.013*), a real difference).")


def _with_model(rows):
    model = ""
    for row in rows:
        model = row[0].text or model
        yield model, row


def test_int8_speed_decides_the_contradiction_and_the_cpu_reason_is_said_once():
    def hardware(int8_ms, int8_roof_ops=None, instruction=None):
        rows = [lat("tflite_fp32", 0.2), lat("tflite_int8", int8_ms), lat("tflite_fp32", 0.2, model=M4),
                lat("tflite_int8", int8_ms, model=M4)]
        run = run_of(rows, models=(M5, M4))
        cpu = run.record.roofs.at_start[0]   # an fp32 roof of 10 Gop/s on one thread
        if int8_roof_ops:
            cpu.measurements.append(RoofMeasurement(precision="int8", method="test int8 GEMM", threads=1,
                                                    ops=int8_roof_ops, seconds=1.0, runs=1))
        if instruction:
            cpu.peaks.append(TheoreticalPeak(precision="int8", instruction=instruction, ops_per_instruction=128,
                                             cores=2, clock_hz=None, clock_source="unknown"))
        return notes_speed.hardware_optimization(run)

    fast = hardware(0.1)   # 2x the speed of fp32: the claim holds
    assert not fast.contradicted and column(fast, "int8 speed (× fp32)") == ["2.00", "2.00"]
    assert column(fast, "verdict") == [AGREES, AGREES] and column(fast, "LiteRT fp32 → int8 (µs)") == ["200 → 100"] * 2
    slow = hardware(0.2 / 0.9)
    assert slow.contradicted == [f"{M4}: int8 0.90x, not 2-4x", f"{M5}: int8 0.90x, not 2-4x"]
    assert column(slow, "verdict") == ["✗ int8 0.90x, not 2-4x"] * 2
    # Why, from the run's measured roofs (not from CPU flag names), said once for all models.
    assert [line for line in slow.lines if "int8 roof" in line or "no int8" in line] == [
        "This run measured no int8 and fp32 roofs to tell whether this CPU has a fast int8 path."]
    no_path = hardware(0.2 / 0.9, int8_roof_ops=9 * 10**9)
    assert [line for line in no_path.lines if "int8 roof" in line] == [
        "This CPU's measured int8 roof is 0.9x its fp32 roof on one thread (its flags name no int8 dot-product "
        "instruction): int8 kernels have no fast path here."]
    vnni = " ".join(hardware(0.2 / 0.9, int8_roof_ops=4 * 10**10, instruction="VPDPBUSD").lines)
    assert "int8 roof is 4.0x its fp32 roof on one thread (its flags name VPDPBUSD), yet some models" in vnni
    assert column(fast, "accuracy fp32 → int8 (%, row)") == ["98.0 → 98.0"] * 2


def test_thread_and_pruning_columns():
    note = notes_speed.hardware_optimization(run_of([lat("tflite_fp32", 0.2), lat("tflite_fp32", 0.125, threads=2),
                                                     lat("pruned_80", 0.2, 0.97, fmt="tflite_fp32")]))
    assert column(note, "2 threads (× 1)") == ["1.60"] and column(note, "pruned_80 fp32 (× dense)") == ["1.00"]
    assert note.contradicted == [f"{M5}: 80 % sparsity 1.00x, not ~5x"]
    assert "Dense kernels still multiply the pruned zeros: sparsity saves size, not time." in note.lines
    faster = notes_speed.hardware_optimization(run_of([lat("tflite_fp32", 0.2),
                                                       lat("pruned_80", 0.05, fmt="tflite_fp32")]))
    assert not faster.contradicted and column(faster, "pruned_80 fp32 (× dense)") == ["4.00"]


def test_roof_contradiction_only_when_a_row_exceeds_it():
    def accel(*fractions):
        rows = [lat("tflite_fp32", 1.0 / (i + 1), batch=2 ** i, fraction=f) for i, f in enumerate(fractions)]
        return notes_speed.accelerator_utilization(run_of(rows))

    grows = accel(0.2, 0.5)
    assert not grows.contradicted and column(grows, "of roof (%)") == ["20"]
    over = accel(0.5, 1.3)
    assert over.contradicted == [f"1 row(s) exceed 100 % of their roof (highest: {M5}/tflite_fp32/tflite_fp32 litert "
                                 "cpu b2 t1 at 130% of fp32 SGEMM 1 thread): for them the roof is not an upper bound, "
                                 "so their '% of roof' is not a utilization."]
    assert accel(0.5, 0.52).contradicted == [f"{M5}: batching raised utilization by less than 10 %"]


def test_file_memory_pipeline_and_finetuning_notes():
    arts = [artifact("tflite_fp32", 4000), artifact("tflite_int8", 1000, 0.97)]
    compression = notes.model_compression(run_of([], arts))
    assert not compression.contradicted and column(compression, "int8 smaller (×)") == ["4.00"]
    assert "verification on the held-out split (litert)" in compression.lines[0]
    arts[1] = artifact("tflite_int8", 1000, 0.9699)
    assert notes.model_compression(run_of([], arts)).contradicted == [f"{M5}: int8 loses 1.0 pp"]
    mem = notes.memory_optimization(run_of([memory("tflite_fp32", 100.0), memory("tflite_int8", 90.0)]))
    assert mem.contradicted == [f"{M5} on litert: int8 saves only 10.0% of the peak"]
    assert any("the runtime itself dominates" in line for line in mem.lines)
    assert column(mem, "process peak fp32 → int8 (MiB)") == ["100 → 90"]
    halved = notes.memory_optimization(run_of([memory("tflite_fp32", 100.0), memory("tflite_int8", 45.0)]))
    assert not halved.contradicted
    slow = notes_speed.data_pipeline(run_of([pipeline("naive", 1000.0), pipeline("cache", 1200.0)]))
    assert slow.contradicted and column(slow, "× naive (same step)") == ["1.00", "1.20"]
    assert not notes_speed.data_pipeline(run_of([pipeline("naive", 1000.0), pipeline("cache", 3000.0)])).contradicted
    tuned = notes.model_parameter_optimization(run_of([], [artifact("pruned_80", 10, 0.97, finetune_seconds=3.0)]))
    assert not tuned.contradicted and column(tuned, "worst Δ (pp)") == ["-1.0"]


def test_no_note_repeats_a_sentence_per_model():
    """Four models or one: each note's run-wide lines are the same sentences, its table one row per model."""
    def notes_of(models):
        rows = [r for m in models for r in (lat("tflite_fp32", 0.2, model=m), lat("tflite_int8", 0.25, model=m),
                                              lat("pruned_80", 0.2, fmt="tflite_fp32", model=m))]
        arts = [a for m in models for a in (artifact("tflite_fp32", 4000, model=m),
                                             artifact("tflite_int8", 3000, 0.9, model=m))]
        return notes.all_notes(run_of(rows, arts, models=models))

    one, four = notes_of((M5,)), notes_of(("a_model", "b_model", "c_model", M5))
    for a, b in zip(one, four):
        assert a.lines == b.lines, a.title
        assert len(b.table.rows) in (0, 4 * len(a.table.rows)) or a.title.startswith("Data"), a.title
