"""One small real run through every stage: train -> optimize -> bench -> report, via the CLI."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest

from convbench.cli import main


@pytest.mark.slow
def test_convbench_run_end_to_end(image_folder, tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)  # pytest-benchmark's autosave folder lands here, not in the repo
    out = tmp_path / "artifacts"
    argv = ["run", "--data", str(image_folder), "--image-size", "16", "--color-mode", "grayscale",
            "--epochs", "1", "--models", "lesson5_custom", "--variants", "tflite_fp32", "tflite_int8", "onnx_fp32",
            "--quick", "--runtimes", "litert", "onnxruntime", "--batches", "1", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    report_html = out / re.search(r"report: (\S+report\.html)", printed).group(1).split(str(out) + "/")[-1]
    run_dir = report_html.parent

    bench = json.loads((run_dir / "bench.json").read_text())
    latency = [b for b in bench["benchmarks"] if b["extra_info"]["kind"] == "latency"]
    assert latency and all(len(b["stats"]["data"]) >= 3 for b in latency)
    assert {b["extra_info"]["runtime"] for b in latency} >= {"litert", "onnxruntime"}

    # The HTML is self-contained and every embedded figure decodes as a PNG.
    page = report_html.read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) >= 4
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            img.verify()
    assert "http://" not in page and "https://" not in page  # nothing to fetch

    md = (run_dir / "report.md").read_text()
    for section in ("## Provenance", "### Model compression", "### Memory optimization", "### Accelerator utilization",
                    "### Hardware optimization", "### Data-pipeline optimization", "### Model-parameter optimization",
                    "## Recommendation", "## lesson5_custom"):
        assert section in md, section
    rec = json.loads((run_dir / "recommendation.json").read_text())
    assert rec["devices"]["cpu"]["lesson5_custom"]["fastest"]["p50_ms"] > 0


def test_report_on_a_missing_run_is_a_clean_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope: no such file or folder" in err and "Traceback" not in err


def test_report_on_a_corrupt_run_is_a_clean_error(tmp_path, capsys):
    (tmp_path / "bench.json").write_text("{ not json")
    assert main(["report", str(tmp_path)]) == 2
    assert "not a JSON file" in capsys.readouterr().err
    (tmp_path / "bench.json").write_text(json.dumps({"benchmarks": [{"name": "x", "extra_info": {}}]}))
    assert main(["report", str(tmp_path)]) == 2
    assert "no convbench extra_info" in capsys.readouterr().err


def test_pareto_front_keeps_only_undominated_points():
    from convbench.report.plots import pareto_front

    points = [(1.0, 90.0), (2.0, 95.0), (3.0, 94.0), (0.5, 80.0), (2.5, 96.0)]
    assert pareto_front(points) == [(0.5, 80.0), (1.0, 90.0), (2.0, 95.0), (2.5, 96.0)]


def test_recommendation_respects_the_accuracy_budget(tmp_path):
    from convbench.report.build import recommend
    from convbench.report.results import Run

    def row(variant, p50, acc, size):
        return {"kind": "latency", "model": "m", "variant": variant, "format": variant, "runtime": "litert",
                "device": "cpu", "batch": 1, "threads": 1, "p50_ms": p50, "accuracy": acc, "bytes": size}

    manifest = {"artifacts": [{"model": "m", "variant": "keras_fp32", "accuracy": 0.98}]}
    rows = [row("fast_but_bad", 0.1, 0.90, 50), row("int8", 0.3, 0.975, 100), row("fp32", 0.4, 0.98, 400)]
    rec = recommend(Run(tmp_path, {}, rows, manifest), budget_pp=1.0)["devices"]["cpu"]["m"]
    assert rec["fastest"]["variant"] == "int8" and rec["smallest"]["variant"] == "int8"
    rec = recommend(Run(tmp_path, {}, rows, manifest), budget_pp=10.0)["devices"]["cpu"]["m"]
    assert rec["fastest"]["variant"] == "fast_but_bad"
