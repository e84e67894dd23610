"""Bring your own model through the CLI: a tiny classifier saved by tf_keras and one saved by
Keras 3 go through `convbench run --model` end to end; what cannot apply to a model is skipped
with its reason (exit 0); bad models are one line naming the file, exit 2, before any work."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from convbench.cli import main
from convbench.core.fingerprint import sha256_file
from convbench.core.tfsetup import import_keras3, keras

SHAPE = (16, 16, 1)        # the image folder at --image-size 16 --color-mode grayscale
DATA_ARGS = ["--image-size", "16", "--color-mode", "grayscale", "--workers", "0"]


def tf_keras_model(path: Path, head=None, shape=SHAPE) -> Path:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.MaxPool2D(), keras.layers.Flatten(),
                              head or keras.layers.Dense(1, activation="sigmoid")])
    model.save(path)
    return path


@pytest.mark.slow
def test_own_tf_keras_and_keras3_models_run_end_to_end(image_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pytest-benchmark's autosave folder lands here, not in the repo
    k3 = import_keras3()
    k3.utils.set_random_seed(0)
    k3.Sequential([k3.Input(SHAPE), k3.layers.Conv2D(4, 3, activation="relu"), k3.layers.Flatten(),
                   k3.layers.Dense(1, activation="sigmoid")]).save(tmp_path / "k3_model.keras")
    tk = tf_keras_model(tmp_path / "tk_model.keras")
    out = tmp_path / "artifacts"
    argv = ["run", "--model", str(tk), "--model", str(tmp_path / "k3_model.keras"), "--data", str(image_folder),
            *DATA_ARGS, "--variants", "tflite_int8", "selective_int8", "lrq_int8", "pruned_50",
            "--fine-tune-epochs", "1", "--quick", "--runtimes", "litert", "--batches", "1", "--out", str(out)]
    assert main(argv) == 0      # pruned_50 cannot apply to the Keras 3 model: skipped, not failed
    printed = capsys.readouterr().out
    run_dir = Path(re.search(r"report: (\S+)report\.html", printed).group(1))

    manifest = json.loads((out / "manifest.json").read_text())
    trained = {t["name"]: t for t in manifest["trained"]}
    assert trained["tk_model"]["source"]["sha256"] == sha256_file(tk)
    assert trained["k3_model"]["source"]["framework"] == "keras3" and trained["tk_model"]["epochs"] == 0
    arts = {(a["model"], a["variant"], a["format"]): a for a in manifest["artifacts"]}
    for fmt in ("tflite_fp32", "tflite_int8", "onnx_fp32"):
        skipped = arts["k3_model", "pruned_50", fmt]
        assert "Keras 3" in skipped["skipped"] and skipped["error"] is None and skipped["path"] is None
        assert arts["tk_model", "pruned_50", fmt]["verification"]["images"] > 0
    assert arts["k3_model", "tflite_int8", "tflite_int8"]["exported_by"] == "keras.Model.export(format='litert')"
    for model in ("tk_model", "k3_model"):
        for variant in ("tflite_int8", "selective_int8", "lrq_int8"):
            art = arts[model, variant, variant]
            assert art["layer_errors_reference"] == "tflite_fp32/tflite_fp32" and art["layer_errors"], art
        search = arts[model, "selective_int8", "selective_int8"]["selection"]
        assert search["trace"][0]["float_layers"] == [] and search["met_budget"]
    assert arts["tk_model", "pruned_50", "tflite_int8"]["layer_errors_reference"] == "pruned_50/tflite_fp32"

    bench = json.loads((run_dir / "bench.json").read_text())
    timed = {(b["extra_info"]["model"], b["extra_info"]["variant"]) for b in bench["benchmarks"]
             if b["extra_info"]["kind"] == "latency" and b["extra_info"]["batch"] == 1}
    assert {(m, v) for m in ("tk_model", "k3_model") for v in ("selective_int8", "lrq_int8")} <= timed
    report = (run_dir / "report.md").read_text()
    for text in ("## tk_model", "## k3_model", "## Post-training paths: TFLite converter vs LiteRT Quantizer",
                 "Techniques that cannot apply to k3_model", "k3_model/selective_int8 (tflite_converter): kept float"):
        assert text in report, text


def test_an_op_no_converter_knows_is_skipped_with_exit_0(image_folder, tmp_path, capsys):
    """Gaussian resizing is TF's ScaleAndTranslate, which tf2onnx cannot convert."""
    model = tmp_path / "resize.keras"
    keras.Sequential([keras.Input(SHAPE), keras.layers.Resizing(8, 8, interpolation="gaussian"), keras.layers.Flatten(),
                      keras.layers.Dense(1, activation="sigmoid")]).save(model)
    out = tmp_path / "artifacts"
    assert main(["optimize", "--model", str(model), "--data", str(image_folder), *DATA_ARGS,
                 "--variants", "onnx_fp32", "onnx_dynamic", "--out", str(out)]) == 0
    arts = {a["variant"]: a for a in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert "tf2onnx cannot convert TensorFlow op(s) ScaleAndTranslate" in arts["onnx_fp32"]["skipped"]
    assert arts["onnx_dynamic"]["skipped"].startswith("made from onnx_fp32, which cannot apply")
    assert "skipped resize/onnx_fp32/onnx_fp32" in capsys.readouterr().out


def _two_inputs(path: Path) -> Path:
    a, b = keras.Input(SHAPE), keras.Input(SHAPE)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(keras.layers.Concatenate()([a, b])))
    keras.Model([a, b], out).save(path)
    return path


def _truncated(path: Path) -> Path:
    data = tf_keras_model(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_MODELS = {
    "wrong_shape.keras": (lambda p: tf_keras_model(p, shape=(8, 8, 1)),
                          "takes 8x8x1 images but the data's images are 16x16x1"),
    "two_inputs.keras": (_two_inputs, "the model has 2 inputs"),
    "regression.keras": (lambda p: tf_keras_model(p, head=keras.layers.Dense(1)),
                         "a regression head, not a classifier"),
    "corrupt.keras": (lambda p: p.write_bytes(b"PK\x03\x04" + np.random.default_rng(0).bytes(500)),
                      "corrupt or truncated"),
    "truncated.keras": (_truncated, "corrupt or truncated .keras file"),
    "weights.pkl": (lambda p: p.write_bytes(pickle.dumps({"w": [1.0]})), "pickle-based format refused"),
}


@pytest.mark.parametrize("name", BAD_MODELS)
def test_bad_models_exit_2_with_one_line_naming_the_file(image_folder, tmp_path, capsys, name):
    make, words = BAD_MODELS[name]
    path = tmp_path / name
    make(path)
    out = tmp_path / "artifacts"
    # With a lesson convnet beside it: the bad model must stop the command before that one trains.
    argv = ["optimize", "--model", str(path), "--models", "lesson5_custom", "--epochs", "1",
            "--data", str(image_folder), *DATA_ARGS, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and words in err and "Traceback" not in err
    assert not (out / "manifest.json").exists() and not (out / "trained").exists()


@pytest.mark.parametrize("extra, words", [
    (["--fine-tune-epochs", "0"], "--fine-tune-epochs 0: must be at least 1"),
    (["--selective-budget", "-1"], "--selective-budget -1.0: must be 0..100"),
    (["--model", "lesson5_custom.keras"], "its name 'lesson5_custom' is taken by a lesson convnet"),
])
def test_bad_optimize_options_exit_2_before_any_work(tmp_path, capsys, monkeypatch, extra, words):
    monkeypatch.chdir(tmp_path)
    tf_keras_model(tmp_path / "lesson5_custom.keras")
    assert main(["optimize", *extra, "--out", str(tmp_path / "artifacts")]) == 2
    assert words in capsys.readouterr().err and not (tmp_path / "artifacts").exists()
