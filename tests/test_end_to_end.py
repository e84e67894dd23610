"""One small real run through every stage: train -> optimize -> bench -> report, via the CLI in a
child process, so that its console is read at the file-descriptor level: what C++ code prints
lands there too."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convbench.benchmarks.bench import SUITES
from convbench.cli import main
from convbench.core.records import read_manifest


# A console line that a library printed, not convbench: C++ logs (absl/glog "I0000 00:00:..."
# and its pre-init notice), TFLite's "INFO: ..." and Python logging's "WARNING:root:..." format,
# Python warnings (header and source line), the TFLite converter's own prints, a library's file
# named in a warning or traceback, CUDA probing. A cold default run before the quiet console
# printed 584 lines: 331 were the libraries', 201 of them matching these patterns (the others are
# the continuation lines of multi-line warnings). After: 0 of 89.
NOISE = re.compile("|".join([
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d", r"^WARNING: All log messages before absl", r"^(INFO|WARNING|ERROR|DEBUG):",
    r"\w+Warning\b", r"^\s+warnings\.warn\(", r"fully_quantize: ", r"site-packages/", r"\bcuInit\b|cudart|cuda_",
    r"^Traceback ",
]))


def noise(text: str) -> list[str]:
    return [line for line in text.splitlines() if NOISE.search(line)]


def test_noise_patterns_catch_what_a_cold_run_printed_before():
    before = """I0000 00:00:1795544225.646245    7415 cudart_stub.cc:31] Could not find cuda drivers on your machine.
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
E0000 00:00:1795544232.272160    7505 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error
fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, output_inference_type: FLOAT32
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
WARNING:root:Please consider to run pre-processing before quantization.
/x/site-packages/tensorflow/lite/python/interpreter.py:457: UserWarning:     Warning: tf.lite.Interpreter is
  warnings.warn(_INTERPRETER_DELETION_WARNING)
optimize: lesson5_custom done at 481 s
lesson5_custom    tflite_int8    tflite_int8    litert    cpu    1    1    0.029    0.030    34044    98.2"""
    assert len(noise(before)) == 8


@pytest.mark.slow
def test_convbench_run_end_to_end(image_folder, tmp_path):
    from PIL import Image

    out = tmp_path / "artifacts"
    # A relative --out, as `make bench` uses: every recorded path must still resolve. Every suite
    # but the layers': its per-layer sums against the whole model need the machine to themselves
    # (test_roofline's timed tests check them), and this run shares it with another test worker.
    suites = [s for s in SUITES if s != "layers"]
    argv = ["run", "--data", str(image_folder), "--image-size", "16", "--color-mode", "grayscale",
            "--epochs", "1", "--models", "lesson5_custom", "--variants", "tflite_fp32", "tflite_int8", "onnx_fp32",
            "--quick", "--runtimes", "litert", "onnxruntime", "--batches", "1", "--suites", *suites,
            "--out", "artifacts"]
    # cwd: pytest-benchmark's autosave folder lands there, not in the repo
    proc = subprocess.run([sys.executable, "-c", "import sys; from convbench.cli import main; sys.exit(main())",
                           *argv], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    printed = proc.stdout
    # A quiet console: no library line on stdout or stderr; what they printed is in the logs
    assert noise(proc.stdout + proc.stderr) == []
    assert "optimize: lesson5_custom done at" in printed + proc.stderr and "what to ship" in printed
    report_html = tmp_path / re.search(r"report: (\S+report\.html)", printed).group(1)
    run_dir = report_html.parent
    logs = list((out / "logs").glob("*-run.log"))
    assert len(logs) == 1 and f"library output (TensorFlow, converters): artifacts/logs/{logs[0].name}" in printed
    assert noise(logs[0].read_text()) and noise((run_dir / "bench.log").read_text() + logs[0].read_text())
    assert "passed" in (run_dir / "bench.log").read_text()          # pytest's own output kept there

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
            # the discordant images against fp32 account for the whole accuracy difference
            fp32 = json.loads((run_dir / "manifest.json").read_text())["trained"][0]["test_accuracy"]
            assert info["gained_vs_fp32_images"] - info["lost_vs_fp32_images"] == \
                round((info["accuracy"] - fp32) * info["accuracy_images"])

    # The HTML is self-contained and every embedded figure decodes as a PNG.
    page = report_html.read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) >= 3 and page.count("class='vega-spec'") >= 4
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            img.verify()
    assert not re.findall(r"""(?:src|href)\s*=\s*['"]?(?:https?:)?//""", page)   # nothing to fetch

    md = (run_dir / "report.md").read_text()
    for section in ("## What to ship on cpu", "### Provenance", "### Model compression", "### Memory optimization",
                    "### Accelerator utilization", "### Hardware optimization", "### Data-pipeline optimization",
                    "### Model-parameter optimization", "### lesson5_custom", "## Serving"):
        assert section in md, section
    rec = json.loads((run_dir / "recommendation.json").read_text())
    pick = rec["devices"]["cpu"]["lesson5_custom"]["fastest"]
    assert pick["p50_ms"] > 0
    assert pick["accuracy"] == pytest.approx(independent_accuracy(run_dir, pick_row(bench, pick)))


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
