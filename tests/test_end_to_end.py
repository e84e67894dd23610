"""One small real run through every stage: train -> optimize -> bench -> report, via the CLI."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from convbench.cli import main
from convbench.records import read_manifest


@pytest.mark.slow
def test_convbench_run_end_to_end(image_folder, tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)  # pytest-benchmark's autosave folder lands here, not in the repo
    # A relative --out, as `make bench` uses: every recorded path must still resolve.
    argv = ["run", "--data", str(image_folder), "--image-size", "16", "--color-mode", "grayscale",
            "--epochs", "1", "--models", "lesson5_custom", "--variants", "tflite_fp32", "tflite_int8", "onnx_fp32",
            "--quick", "--runtimes", "litert", "onnxruntime", "--batches", "1", "--out", "artifacts"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    report_html = tmp_path / re.search(r"report: (\S+report\.html)", printed).group(1)
    run_dir = report_html.parent

    bench = json.loads((run_dir / "bench.json").read_text())
    latency = [b for b in bench["benchmarks"] if b["extra_info"]["kind"] == "latency"]
    assert latency and all(len(b["stats"]["data"]) >= 3 for b in latency)
    assert {b["extra_info"]["runtime"] for b in latency} >= {"litert", "onnxruntime"}
    snapshot = read_manifest(run_dir / "manifest.json")
    assert {a.format for a in snapshot.artifacts} >= {"keras", "tflite_fp32"}
    assert all(snapshot.artifact_path(a).is_file() for a in snapshot.artifacts)  # keras rows included
    for b in latency:
        if b["extra_info"]["runtime"] in ("litert", "onnxruntime"):
            info = b["extra_info"]
            assert info["accuracy"] == pytest.approx(independent_accuracy(run_dir, info)), info["format"]

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
    pick = rec["devices"]["cpu"]["lesson5_custom"]["fastest"]
    assert pick["p50_ms"] > 0 and pick["accuracy"] == pytest.approx(independent_accuracy(run_dir, pick_row(bench, pick)))


def pick_row(bench: dict, pick: dict) -> dict:
    """The latency row of bench.json that the recommendation picked."""
    return next(b["extra_info"] for b in bench["benchmarks"] if b["extra_info"]["kind"] == "latency"
                and all(b["extra_info"][k] == pick[k] for k in ("variant", "format", "runtime", "batch", "threads")))


def independent_accuracy(run_dir: Path, info: dict) -> float:
    """The row's artifact evaluated on the held-out split with the runtimes' own Python APIs and
    numpy alone: the split read straight from the .npz, one sigmoid unit thresholded at 0.5
    (the car/truck folder has two classes)."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    with np.load(run_dir / manifest["dataset"]["path"], allow_pickle=False) as npz:
        x, y = npz["x_test"], npz["y_test"]
    path = run_dir / info["artifact"]
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path))
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        interp.allocate_tensors()
        scores = []
        for image in x:
            interp.set_tensor(inp["index"], image[None])
            interp.invoke()
            scores.append(float(interp.get_tensor(out["index"])[0, 0]))
    else:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        scores = session.run(None, {session.get_inputs()[0].name: x})[0][:, 0]
    return float(np.mean((np.asarray(scores) > 0.5) == y))


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
    assert "no convbench run record" in capsys.readouterr().err


def test_pareto_front_keeps_only_undominated_points():
    from convbench.report.plots import pareto_front

    points = [(1.0, 90.0), (2.0, 95.0), (3.0, 94.0), (0.5, 80.0), (2.5, 96.0)]
    assert pareto_front(points) == [(0.5, 80.0), (1.0, 90.0), (2.0, 95.0), (2.5, 96.0)]
