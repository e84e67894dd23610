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
    assert "nope/bench.json: no such result file" in err and "Traceback" not in err


def test_report_on_a_corrupt_run_is_a_clean_error(tmp_path, capsys):
    (tmp_path / "bench.json").write_text("{ not json")
    assert main(["report", str(tmp_path)]) == 2
    assert "corrupt result file" in capsys.readouterr().err
    (tmp_path / "bench.json").write_text(json.dumps({"benchmarks": [{"name": "x", "extra_info": {}}]}))
    assert main(["report", str(tmp_path)]) == 2
    assert "foreign result file" in capsys.readouterr().err
