"""`convbench inspect quant-error | layers | roofs`: the former `python -m` entry points as commands,
with the quiet console, the library log and one-line errors (exit 2) before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convbench.cli import main
from tests.support.console import one_error_line

BAD = [  # argv ({tmp}: the test's folder; a.tflite, b.onnx, data.npz and notes.txt exist in it), the error
    (["quant-error", "{tmp}/nope.tflite", "{tmp}/a.tflite"], "QUANTIZED {tmp}/nope.tflite: no such model file"),
    (["quant-error", "{tmp}/a.tflite", "{tmp}"], "FP32 {tmp}: a folder, not a model file"),
    (["quant-error", "{tmp}/notes.txt", "{tmp}/a.tflite"],
     "QUANTIZED {tmp}/notes.txt: expected a .tflite or .onnx model file"),
    (["quant-error", "{tmp}/a.tflite", "{tmp}/a.tflite", "-n", "0"], "-n/--samples 0: must be at least 1"),
    (["quant-error", "{tmp}/a.tflite", "{tmp}/a.tflite", "--samples", "many"],
     "-n/--samples many: expected a whole number"),
    (["quant-error", "{tmp}/a.tflite", "{tmp}/a.tflite", "--data", "{tmp}/nope.npz"],
     "--data {tmp}/nope.npz: no such data file"),
    (["quant-error", "{tmp}/a.tflite", "{tmp}/a.tflite", "--data", "{tmp}/notes.txt"],
     "--data {tmp}/notes.txt: expected a .npz data file"),
    (["quant-error", "{tmp}/a.tflite"], "the following arguments are required: FP32"),
    (["layers", "{tmp}/a.tflite", "--threads", "0"], "--threads 0: must be at least 1"),
    (["layers", "{tmp}/a.tflite", "--budget-s", "0"], "--budget-s 0.0: must be > 0 seconds"),
    (["layers", "{tmp}/a.tflite", "--budget-s", "nan"], "--budget-s nan: must be > 0 seconds"),
    (["layers", "{tmp}/a.tflite", "--onnx-method", "guess"], "argument --onnx-method: invalid choice: 'guess'"),
    (["layers", "{tmp}/a.tflite", "{tmp}/missing.onnx"], "MODEL {tmp}/missing.onnx: no such model file"),
    (["layers", "{tmp}/a.tflite", "--out", "{tmp}/notes.txt"], "--out {tmp}/notes.txt: exists and is not a folder"),
    (["roofs", "--devices", "tpu"], "argument --devices: invalid choice: 'tpu'"),
    (["roofs", "--json", "{tmp}"], "--json {tmp}: a folder, not a file"),
    (["roofs", "--json", "{tmp}/notes.txt/roofs.json"], "--json {tmp}/notes.txt/roofs.json: {tmp}/notes.txt is a file"),
    (["guess"], "argument WHAT: invalid choice: 'guess'"),
]


@pytest.fixture
def files(tmp_path, monkeypatch):
    for name in ("a.tflite", "b.onnx", "data.npz"):
        (tmp_path / name).write_bytes(b"not what the name says")
    (tmp_path / "notes.txt").write_text("notes")
    monkeypatch.chdir(tmp_path)
    return tmp_path



@pytest.mark.parametrize("argv, says", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_inspect_option_is_one_line_and_exit_2_before_any_work(files, capsys, monkeypatch, argv, says):
    from convbench.cli import inspect

    for name in [n for n in vars(inspect) if n.startswith("_cmd_")]:
        monkeypatch.setattr(inspect, name, lambda args: pytest.fail("the command started despite a bad option"))
    fill = lambda s: s.replace("{tmp}", str(files))   # noqa: E731
    assert main(["inspect", *map(fill, argv)]) == 2
    assert fill(says) in one_error_line(capsys)
    assert not (files / "artifacts").exists()


@pytest.mark.parametrize("argv, says", [
    (["quant-error", "{tmp}/b.onnx", "{tmp}/a.tflite"],
     "{tmp}/b.onnx and {tmp}/a.tflite: compare two .tflite or two .onnx files"),
    (["quant-error", "{tmp}/a.tflite", "{tmp}/a.tflite"], "{tmp}/a.tflite: not a .tflite model the runtime can load"),
    (["layers", "{tmp}/b.onnx"], "{tmp}/b.onnx: not a .onnx model the runtime can load"),
])
def test_files_that_are_not_models_are_one_line(files, capsys, argv, says):
    fill = lambda s: s.replace("{tmp}", str(files))   # noqa: E731
    assert main(["inspect", *map(fill, argv)]) == 2
    assert fill(says) in one_error_line(capsys)


def test_the_roofs_child_entry_point_is_internal_and_says_what_to_run(tmp_path):
    done = subprocess.run([sys.executable, "-m", "convbench.benchmarks.roofs", "--quick"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 2 and "convbench inspect roofs" in done.stdout, done.stdout + done.stderr


# --- the commands on real files (the tiny artifacts: seconds) ------------------------------------

@pytest.fixture
def tiny_files(tiny_manifest) -> dict[str, Path]:
    """The shared tiny artifacts folder's files (read only)."""
    folder = tiny_manifest.parent
    art = folder / "tiny_artifacts"
    (data,) = (folder / "data").glob("*.npz")
    return {"fp32": art / "tiny.tflite", "int8": art / "tiny_int8.tflite", "onnx": art / "tiny.onnx", "data": data}


@pytest.mark.slow
def test_quant_error_prints_each_layer_and_keeps_library_output_in_the_log(tiny_files, tmp_path):
    """A fresh process, as a user runs it: LiteRT's delegate line goes to the log, not the console."""
    out = tmp_path / "artifacts"
    argv = ["inspect", "quant-error", str(tiny_files["int8"]), str(tiny_files["fp32"]), "-n", "8", "--out", str(out)]
    done = subprocess.run([sys.executable, "-m", "convbench.cli", *argv, "--data", str(tiny_files["data"])],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stdout + done.stderr
    assert "(8 samples)" in done.stdout and "CONV_2D" in done.stdout and "class decisions agree" in done.stdout
    (log,) = (out / "logs").iterdir()
    assert log.name.endswith("-inspect-quant-error.log") and "XNNPACK" in log.read_text()
    assert f"library output (TensorFlow, converters): {log}" in done.stdout
    assert main(argv) == 0   # in this process too, on random images of the file's input shape


@pytest.mark.slow
def test_quant_error_refuses_a_data_set_of_another_shape(tiny_files, tmp_path, capsys):
    from convbench.models.data import Dataset

    x, y = np.zeros((4, 16, 16, 3), np.float32), np.zeros(4, int)
    Dataset("rgb", ["a", "b"], x, y, x, y, x, y, 0.0, 1.0, "f" * 16).save(tmp_path / "rgb.npz")
    argv = ["inspect", "quant-error", str(tiny_files["int8"]), str(tiny_files["fp32"]),
            "--data", str(tmp_path / "rgb.npz"), "--out", str(tmp_path / "artifacts")]
    assert main(argv) == 2
    assert "rgb.npz: images of shape (16, 16, 3), but" in one_error_line(capsys)


@pytest.mark.slow
def test_layers_prints_a_table_per_file(tiny_files, tmp_path, capsys):
    argv = ["inspect", "layers", str(tiny_files["fp32"]), str(tiny_files["onnx"]), "--budget-s", "0.2",
            "--out", str(tmp_path / "artifacts")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert all(f"{tiny_files[k]} (1 thread(s), batch 1)" in printed for k in ("fp32", "onnx"))
    assert printed.count("sum of layers + one call's overhead") == 2


@pytest.mark.slow
def test_roofs_measures_in_a_child_prints_and_writes_the_record(tmp_path, capsys):
    from convbench.core.records import RunRoofs, read_record

    record = tmp_path / "roofs" / "cpu.json"
    assert main(["inspect", "roofs", "--quick", "--json", str(record)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("cpu: ") and "bandwidth 1t" in printed and f"roofs record: {record}" in printed
    roofs = read_record(record, RunRoofs)
    assert [d.device for d in roofs.at_start] == ["cpu"] and roofs.at_start[0].measurements
