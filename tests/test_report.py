"""The report on small synthetic runs (tests/support/reportdata.py): one data model rendered into
report.md and report.html in reading order, the charts' data and specs, the detail tables and
their filters, the recommendation's budget, missing figure data stated, and bad run files named.
The notes, the summary and the significance test are in test_report_notes.py; the page in a real
browser in test_report_browser.py."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from convbench.core.errors import UserError
from convbench.core.records import BENCH_SCHEMA, BenchRun, Recommendation, load_run, read_record
from convbench.report.build import build_report
from convbench.report.columns import COLUMNS
from convbench.report.details import results_table
from convbench.report.model import build_model
from convbench.report.recommend import recommend
from convbench.report.vega import spec
from tests.support.factories import write_run
from tests.support.reportdata import M4, M5, artifact, full_run, lat, run_of


def external_references(page: str) -> list[str]:
    """Every src/href that would make the browser fetch something (nothing may)."""
    return re.findall(r"""(?:src|href)\s*=\s*['"]?((?:https?:)?//[^'" >]+)""", page)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, BenchRun]:
    folder = write_run(tmp_path_factory.mktemp("runs") / "full", full_run(), illustrations=(M5,))
    build_report(folder)
    return folder, load_run(folder)


def test_markdown_and_html_render_the_same_data_model_in_reading_order(built):
    folder, run = built
    md, page = (folder / "report.md").read_text(), (folder / "report.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", " ", page, flags=re.S)))
    report = build_model(run)
    tables = [s.table for s in report.summaries] + [n.table for n in report.notes if n.table] + \
             [s.table for s in report.models] + [report.harness]
    expected = [report.title, *(v for s in report.summaries for v in s.verdicts), *(s.model for s in report.models),
                *(n.title for n in report.notes), *(n.claim for n in report.notes),
                *(x for n in report.notes for x in n.lines),
                *(c.text for t in tables for row in t.rows for c in row), *(c.caption for c in report.all_charts),
                *(f.caption for f in report.lessons)]
    for s in expected:
        assert s in md and s in text, s
    assert "| " + " | ".join(c.header for c in COLUMNS) + " |" in md   # the columns are defined once
    assert text.count("not measured") >= 1 and "ORT session could not run the split" in md
    # What to ship first, then the notes, then the details
    order = ["What to ship on cpu", "Notes: the textbook claim", "Details", "Harness overhead", "Provenance"]
    for doc in (md, text):
        assert [doc.index(h) for h in order] == sorted(doc.index(h) for h in order)


def test_html_is_self_contained_and_charts_are_vega_lite(built):
    from PIL import Image

    folder, run = built
    page = (folder / "report.html").read_text()
    assert external_references(page) == [] and "<script src" not in page
    assert page.count("vegaEmbed") >= 2 and len(page) < 5 * 2**20
    # report.html draws its charts itself (one spec per chart, valid JSON); report.md links PNGs
    report = build_model(run)
    specs = re.findall(r"<script type='application/json' class='vega-spec' data-target='chart-([\w-]+)'>(.*?)</script>",
                       page, flags=re.S)
    drawn = [c for c in report.all_charts if c.points]
    assert sorted(n for n, _ in specs) == sorted(c.name for c in drawn) and len(drawn) >= 7
    for name, text in specs:
        assert json.loads(text)["data"]["values"], name
    linked = re.findall(r"\]\(figures/([\w-]+)\.png\)", (folder / "report.md").read_text())
    assert {"latency_accuracy_cpu", "kernels_lesson5_custom", "feature_maps", "stride", "scaling_side",
            "pipeline"} <= set(linked)
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == len(report.lessons) == 3      # only the lesson drawings are pictures in the page
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            img.verify()
    for name in linked:
        assert (folder / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_chart_hover_shows_the_row_and_its_numbers():
    report = build_model(full_run())
    chart = report.summaries[0].chart
    tips = [t["field"] for t in spec(chart)["spec"]["layer"][0]["encoding"]["tooltip"]]
    assert tips[:6] == ["model", "variant", "format", "runtime", "threads", "batch"]
    assert {"p50_ms", "p99_ms", "accuracy_pct", "delta_vs_fp32"} <= set(tips)
    points = {(p.model, p.variant, p.runtime, p.threads): p for p in chart.points}
    assert (M5, "onnx_fp32", "onnxruntime", "1") not in points            # no accuracy measured: not placed
    assert all(p.runtime != "null" for p in chart.points)                # the harness is not a model
    assert points[(M5, "pruned_80", "litert", "1")].delta_vs_fp32 == "-1.00 pp (p=0.013*)"
    front = sorted((p.p50_ms, p.accuracy_pct) for p in chart.points if p.model == M5 and p.on_frontier)
    assert front == [(pytest.approx(0.09), 97.0), (pytest.approx(0.10), 97.5), (pytest.approx(0.12), 98.0)]
    legend = spec(chart)["spec"]["layer"][0]["params"][0]
    assert legend["bind"] == "legend" and legend["select"]["fields"] == ["runtime"]


def test_pareto_front_keeps_only_undominated_points():
    from convbench.report.charts import pareto_front

    points = [(1.0, 90.0), (2.0, 95.0), (3.0, 94.0), (0.5, 80.0), (2.5, 96.0)]
    assert pareto_front(points) == [(0.5, 80.0), (1.0, 90.0), (2.0, 95.0), (2.5, 96.0)]


def test_the_report_imports_no_tensorflow(built, tmp_path):
    folder, _ = built
    code = ("import sys; from convbench.report.build import build_report; build_report(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras')))")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_recommendation_json_is_the_typed_record(built):
    folder, _ = built
    rec = read_record(folder / "recommendation.json", Recommendation)
    fastest, ties = rec.devices["cpu"][M5].fastest, rec.devices["cpu"][M5].speed_ties
    # Files are compared at one thread: pruned_80 (0.97, exactly 1 pp under fp32) is within the 1 pp
    # budget and has the lowest median, 0.09 ms; tflite_int8's 0.10 ms cannot be told apart from it,
    # and the tie rule prefers the plain conversion to the fine-tuned one; tflite_fp32's 0.12 ms is
    # at 2 threads, so it is not compared. The null runtime's row is never picked.
    assert (fastest.variant, fastest.runtime, fastest.accuracy_drop_pp) == ("tflite_int8", "litert", 0.5)
    assert [(t.variant, round(t.ratio, 2)) for t in ties] == [("tflite_int8", 1.11), ("pruned_80", 1.0)]
    assert "one thread" in rec.tie_rule and "Ties: " in rec.tie_rule and "gzip" in rec.size_rule
    assert rec.devices["cpu"][M5].smallest.bytes == 300   # the smallest download (gzip 150 bytes)
    assert "no batch-1 row" in rec.not_recommended["cpu"][M4]   # its rows measured 90 % and 50 %
    assert json.loads((folder / "recommendation.json").read_text())["devices"]["cpu"][M5]["fastest"]["p50_ms"] > 0


def test_a_drop_of_exactly_the_budget_is_within_it():
    assert (0.98 - 0.97) * 100 == pytest.approx(1.0) and (0.98 - 0.97) * 100 > 1.0   # the float trap
    rows = [lat("fast_but_bad", 0.1, 0.90), lat("int8", 0.3, 0.97), lat("fp32", 0.4, 0.98),
            lat("unmeasured_fastest", 0.01, None)]
    arts = [artifact("fast_but_bad", 50), artifact("int8", 100), artifact("fp32", 400),
            artifact("unmeasured_fastest", 1)]
    rec = recommend(run_of(rows, arts), budget_pp=1.0).devices["cpu"][M5]
    assert rec.fastest.variant == "int8" and rec.smallest.variant == "int8"
    assert recommend(run_of(rows, arts), budget_pp=10.0).devices["cpu"][M5].fastest.variant == "fast_but_bad"
    assert recommend(run_of([lat("int8", 0.3, 0.9699)]), 1.0).not_recommended["cpu"][M5].startswith("no batch-1")
    assert recommend(run_of([lat("x", 0.3, None)]), 1.0).not_recommended["cpu"][M5] == "no row measured accuracy"
    with pytest.raises(UserError, match="--accuracy-budget"):
        recommend(run_of(rows), float("nan"))


def test_columns_read_sizes_from_the_artifact_and_accuracy_from_the_row():
    run = run_of([lat("keras_fp32", 2.0, fmt="keras", runtime="keras_eager", threads=None),
                  lat("pruned_80", 0.5, 0.97, fmt="tflite_int8", lost=12, gained=2),
                  lat("tflite_fp32", 1.0, None, note="skipped")],
                 [artifact("pruned_80", 3072, 0.5, fmt="tflite_int8", sparsity=0.8)])
    table = results_table(run, M5)
    col = {c.header: i for i, c in enumerate(COLUMNS)}
    by_variant = {row[col["variant"]].text: row for row in table.rows}
    pruned, dense = by_variant["pruned_80"], by_variant["tflite_fp32"]
    assert [pruned[col[h]].text for h in ("size (KiB)", "gzip (KiB)", "sparsity (%)", "accuracy (%)",
                                          "Δ vs fp32 (pp)", "McNemar p")] == \
        ["3", "1.5", "80", "97", "-1.00", "0.013*"]   # 97 % measured by the row, not the file's 50 %
    assert pruned[col["speed-up vs keras_eager (×)"]].text == "4" and pruned[col["p50 (ms)"]].sort == "0.5"
    assert [dense[col[h]].text for h in ("accuracy (%)", "Δ vs fp32 (pp)", "McNemar p", "size (KiB)")] == \
        ["not measured", "–", "–", "–"]
    assert by_variant["keras_fp32"][col["threads"]].text == "auto"
    # units in every numeric header
    for c in COLUMNS:
        assert c.filter or c.header in ("variant", "format", "roof", "McNemar p") or "(" in c.header, c.header


def test_detail_tables_hold_no_harness_row_and_filter_by_runtime_batch_threads_device(built):
    folder, run = built
    report = build_model(run)
    col = {c.header: i for i, c in enumerate(COLUMNS)}
    runtimes = {row[col["runtime"]].text for s in report.models for row in s.table.rows}
    assert "null" not in runtimes and runtimes == {"keras_eager", "litert", "litert_noxnnpack", "onnxruntime"}
    assert [row[0].text for row in report.harness.rows] == [M5] and report.harness.headers[4] == "p50 (µs)"
    assert report.filters == {"runtime": ["keras_eager", "litert", "litert_noxnnpack", "onnxruntime"],
                              "device": ["cpu"], "batch": ["1", "8"], "threads": ["1", "2", "auto"]}
    page = (folder / "report.html").read_text()
    rows = re.findall(r"<tr data-runtime='(\w+)' data-device='cpu' data-batch='(\d+)' data-threads='(\w+)'>", page)
    assert len(rows) == sum(len(s.table.rows) for s in report.models) and ("litert", "8", "1") in rows
    assert "<select name='batch'><option value=''>all</option><option>1</option><option>8</option>" in page


def test_missing_figure_data_is_stated(tmp_path):
    folder = write_run(tmp_path / "bare", run_of([lat("tflite_fp32", 0.2, None)]), illustrations=())
    page = html.unescape(build_report(folder).read_text())
    md = (folder / "report.md").read_text()
    for line in ("Latency vs input side (random weights): not drawn — no scaling rows in this run.",
                 ("Lessons 2-3: filter (convolution), detect (ReLU), condense (max pool): not drawn — no lesson "
                  "illustration data in the run folder (illustrations/lesson5_custom.npz"),
                 "not drawn — no batch-1 latency row on cpu measured accuracy.",
                 "lesson5_custom: nothing to recommend — no row measured accuracy."):
        assert line in md and line in page, line
    assert "figures/scaling_side.png" not in md and not (folder / "figures" / "scaling_side.png").exists()


def test_bad_run_files_are_one_user_error_naming_the_file(tmp_path):
    good = write_run(tmp_path / "good", run_of([lat("tflite_fp32", 0.2)]), illustrations=(M5,))
    cases = {"nope": None, "not_json": "{ not json", "foreign": json.dumps({"benchmarks": [{"name": "x"}]}),
             "old_schema": (good / "bench.json").read_text().replace(BENCH_SCHEMA, "convbench.bench/1")}
    for name, text in cases.items():
        folder = tmp_path / name
        if text is not None:
            folder.mkdir()
            (folder / "bench.json").write_text(text)
        with pytest.raises(UserError) as err:
            build_report(folder)
        assert str(folder) in str(err.value) and "\n" not in str(err.value), name
    (good / "manifest.json").write_text("[]")
    with pytest.raises(UserError, match=re.escape(str(good / "manifest.json"))):
        build_report(good)


def test_corrupt_illustration_is_named(tmp_path):
    folder = write_run(tmp_path / "run", run_of([lat("tflite_fp32", 0.2)]), illustrations=())
    (folder / "illustrations").mkdir()
    (folder / "illustrations" / f"{M5}.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match=re.escape(str(folder / "illustrations" / f"{M5}.npz"))):
        build_report(folder)
