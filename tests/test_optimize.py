"""Every technique on a tiny model yields artifacts that load and run in their own runtime;
sparsity and unique values are read back from the artifact; one failure does not stop the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convbench.cli import main
from convbench.errors import UserError
from convbench.models.data import DataConfig
from convbench.models.train import TrainConfig
from convbench.optimize import produce
from convbench.optimize.inspect_artifact import artifact_weights
from convbench.optimize.pipeline import OptimizeConfig, optimize_all
from convbench.optimize.variants import VARIANTS, resolve_variants
from convbench.tfsetup import keras


def tiny(image_folder, out, variants=()) -> OptimizeConfig:
    data = DataConfig(data_dir=image_folder, image_size=16, color_mode="grayscale")
    train = TrainConfig(models=("lesson5_custom",), epochs=1, data=data, out=out, workers=0)
    return OptimizeConfig(train=train, variants=tuple(variants), calibration_samples=8,
                          finetune_epochs=1, max_finetune_samples=32)


@pytest.fixture(scope="module")
def all_variants(tmp_path_factory):
    from tests.conftest import write_image_folder

    root = tmp_path_factory.mktemp("opt")
    folder = write_image_folder(root / "cars", splits=("train", "valid"))
    # Every variant but cqat/pqat: they run the same code paths as pcqat/qat, at twice the time.
    config = tiny(folder, root / "artifacts", [v for v in VARIANTS if v not in ("cqat", "pqat")])
    return config, optimize_all(config, progress=False)


def rows(manifest, variant):
    return {r["format"]: r for r in manifest["artifacts"] if r["variant"] == variant}


@pytest.mark.slow
def test_every_variant_exports_verified_artifacts(all_variants):
    config, manifest = all_variants
    failed = [(r["variant"], r["format"], r["error"]) for r in manifest["artifacts"] if r["error"]]
    assert failed == []
    listed = {(r["variant"], r["format"]) for r in manifest["artifacts"]}
    for variant in resolve_variants(list(config.variants)):
        for fmt in variant.exports:
            assert (variant.name, fmt) in listed
    for r in manifest["artifacts"]:
        if r["format"] == "keras":
            continue
        assert r["runtime"] in ("litert", "onnxruntime")
        assert r["bytes"] > 0 and r["gzip_bytes"] > 0 and len(r["sha256"]) == 64
        assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["agreement_vs_fp32"] <= 1.0


@pytest.mark.slow
def test_deployed_accuracy_comes_from_the_runtime(all_variants):
    """Recompute one int8 artifact's accuracy with LiteRT directly: it must match the manifest."""
    from ai_edge_litert.interpreter import Interpreter
    from convbench.models.data import Dataset
    import glob

    config, manifest = all_variants
    row = rows(manifest, "tflite_int8_io")["tflite_int8_io"]
    ds = Dataset.load(glob.glob(str(config.train.out / "data" / "*.npz"))[0])
    interp = Interpreter(model_path=row["path"])
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    interp.allocate_tensors()
    (in_scale, in_zero), (out_scale, out_zero) = inp["quantization"], out["quantization"]
    correct = 0
    for x, y in zip(ds.x_test, ds.y_test):
        q = np.clip(np.round(x / in_scale + in_zero), -128, 127).astype(np.int8)[None]
        interp.set_tensor(inp["index"], q)
        interp.invoke()
        score = (interp.get_tensor(out["index"]).astype(np.float32) - out_zero) * out_scale
        correct += int((score[0, 0] > 0.5) == y)
    assert row["accuracy"] == pytest.approx(correct / len(ds.y_test))


@pytest.mark.slow
def test_sparsity_and_clusters_are_read_back_from_the_artifacts(all_variants):
    _, manifest = all_variants
    for fmt in ("tflite_fp32", "tflite_int8", "onnx_fp32"):
        assert rows(manifest, "pruned_80")[fmt]["sparsity"] > 0.7
    for fmt in ("tflite_fp32", "onnx_fp32"):
        assert rows(manifest, fmt)[fmt]["sparsity"] < 0.05
    # 2:4 keeps ~half of every Conv/Dense kernel except a 1-channel first conv (stays dense).
    assert 0.3 < rows(manifest, "pruned_2of4")["tflite_fp32"]["sparsity"] < 0.55
    # Clustering: <= 16 distinct values per tensor, or per output channel for Conv2D.
    clustered = rows(manifest, "clustered_16")["tflite_fp32"]
    for name, unique in clustered["unique_values_per_layer"].items():
        assert unique <= 16 * 128, name
    assert min(clustered["unique_values_per_layer"].values()) <= 16
    dense = rows(manifest, "tflite_fp32")["tflite_fp32"]
    assert max(dense["unique_values_per_layer"].values()) > 1000
    # Sparsity-preserving clustering keeps the pruned zeros; PQAT keeps them through int8.
    assert rows(manifest, "sparse_clustered_16")["tflite_fp32"]["sparsity"] > 0.4
    assert rows(manifest, "pcqat")["tflite_int8"]["sparsity"] > 0.4
    assert rows(manifest, "qat")["onnx_int8"]["bytes"] < rows(manifest, "onnx_fp32")["onnx_fp32"]["bytes"] / 3


@pytest.mark.slow
def test_second_run_is_cached(all_variants):
    config, first = all_variants
    again = optimize_all(config, progress=False)
    assert [r.get("sha256") for r in again["artifacts"]] == [r.get("sha256") for r in first["artifacts"]]
    assert again["optimize_seconds"] < first["optimize_seconds"] / 3


@pytest.mark.slow
def test_a_failing_export_is_recorded_and_the_rest_go_on(all_variants, monkeypatch, tmp_path, capsys):
    config, _ = all_variants

    def broken(model, path, calibration, source):
        raise RuntimeError("converter exploded")

    monkeypatch.setitem(produce.EXPORTERS, "onnx_fp32", (broken, None))
    # A fresh artifacts folder that shares the trained model: copy only what training cached.
    import shutil
    out = tmp_path / "a"
    for sub in ("data", "trained"):
        shutil.copytree(config.train.out / sub, out / sub)
    data = config.train.data
    argv = ["optimize", "--data", str(data.data_dir), "--image-size", "16", "--color-mode", "grayscale",
            "--epochs", "1", "--models", "lesson5_custom", "--variants", "onnx_fp32", "onnx_dynamic",
            "tflite_fp32", "--workers", "0", "--out", str(out)]  # 0: the patched exporter runs here
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert "FAILED lesson5_custom/onnx_fp32/onnx_fp32: RuntimeError: converter exploded" in printed
    assert "onnx_dynamic/onnx_dynamic: needs onnx_fp32, which failed" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert rows(manifest, "tflite_fp32")["tflite_fp32"]["error"] is None


def test_unknown_variant_lists_valid_names():
    with pytest.raises(UserError, match="unknown variant.*nope.*valid: tflite_fp32"):
        resolve_variants(["nope"])


def test_parents_come_first():
    names = [v.name for v in resolve_variants(["pcqat"])]
    assert names == ["pruned_50", "sparse_clustered_16", "pcqat"]


def test_weight_reader_counts_exact_zeros(tmp_path):
    from convbench.optimize.export import to_onnx, to_tflite

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    kernel, bias = model.layers[0].get_weights()
    kernel[..., 0] = 0.0                         # 9 of 18 conv weights zero
    model.layers[0].set_weights([kernel, bias + 1.0])
    dense_kernel, dense_bias = model.layers[2].get_weights()
    # Non-zero bias: the TFLite converter drops an all-zero bias tensor from the file.
    model.layers[2].set_weights([dense_kernel, dense_bias + 0.5])
    to_tflite(model, tmp_path / "m.tflite", "fp32")
    to_onnx(model, tmp_path / "m.onnx")
    expected_params = 18 + 2 + 8 * 3 + 3
    for path in (tmp_path / "m.tflite", tmp_path / "m.onnx"):
        stats = artifact_weights(path)
        assert stats.params == expected_params, path
        assert stats.params - stats.nonzero_params >= 9, path


def test_batchnorm_folds_exactly_into_the_next_dense():
    from convbench.optimize.techniques import fold_batchnorm_into_dense

    model = keras.Sequential([keras.Input((5,)), keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    bn = model.layers[0]
    bn.set_weights([rng.random(5) + 0.5, rng.random(5), rng.random(5), rng.random(5) + 0.1])
    folded, notes = fold_batchnorm_into_dense(model)
    assert [type(l).__name__ for l in folded.layers] == ["Dense"] and bn.name in notes
    x = rng.random((4, 5)).astype(np.float32)
    np.testing.assert_allclose(folded(x), model(x, training=False), rtol=1e-5, atol=1e-5)
