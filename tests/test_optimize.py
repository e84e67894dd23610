"""Every technique on a tiny model yields artifacts that load and run in their own runtime;
sparsity and unique values are read back from the artifact; one failure does not stop the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convbench.cli import main
from convbench.core.errors import UserError
from convbench.core.formats import FORMATS
from convbench.models.data import DataConfig, Dataset
from convbench.models.train import TrainConfig
from convbench.optimize.export import EXPORTERS, Exporter
from convbench.optimize.inspect_artifact import artifact_weights
from convbench.optimize.stage import OptimizeConfig, optimize_all
from convbench.optimize.variants import VARIANTS, resolve_variants
from convbench.core.records import read_manifest
from convbench.core.tfsetup import keras


# TFMOT builds these variants' training graphs with a Python loop per output channel or cluster:
# on lesson5's 224 conv channels each spends ~20 s tracing, more than every other variant
# together. They run on a narrow model of lesson5's shape (own_variants) instead.
PER_CHANNEL_VARIANTS = ("clustered_16_per_channel", "cqat", "pcqat")


def tiny(image_folder, out, variants=(), own_models=()) -> OptimizeConfig:
    data = DataConfig(data_dir=image_folder, image_size=16, color_mode="grayscale")
    train = TrainConfig(models=("lesson5_custom",) if not own_models else (), epochs=1, data=data, out=out,
                        workers=0)
    return OptimizeConfig(train=train, variants=tuple(variants), calibration_samples=8,
                          finetune_epochs=1, max_finetune_samples=32, own_models=tuple(own_models))


def narrow_lesson5(path: Path) -> Path:
    """lesson5_custom's layers (three Conv2D + MaxPool blocks, two Dense) with 8-16 channels."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    keras.Sequential([keras.Input((16, 16, 1)),
                      layers.Conv2D(8, 5, padding="same", activation="relu"), layers.MaxPool2D(),
                      layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPool2D(),
                      layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPool2D(),
                      layers.Flatten(), layers.Dense(32, activation="relu"),
                      layers.Dense(1, activation="sigmoid")], name="narrow").save(path)
    return path


@pytest.fixture(scope="module")
def image_folder_once(tmp_path_factory):
    from tests.support.images import write_image_folder

    return write_image_folder(tmp_path_factory.mktemp("opt") / "cars", splits=("train", "valid"))


@pytest.fixture(scope="module")
def all_variants(image_folder_once):
    """lesson5_custom with every variant but PER_CHANNEL_VARIANTS."""
    out = image_folder_once.parent / "artifacts"
    config = tiny(image_folder_once, out, [v for v in VARIANTS if v not in PER_CHANNEL_VARIANTS])
    return config, optimize_all(config, progress=False)


@pytest.fixture(scope="module")
def own_variants(image_folder_once):
    """A user's narrow model of lesson5's shape with PER_CHANNEL_VARIANTS (and their parents)."""
    root = image_folder_once.parent
    config = tiny(image_folder_once, root / "own_artifacts", PER_CHANNEL_VARIANTS,
                  own_models=[narrow_lesson5(root / "narrow.keras")])
    return config, optimize_all(config, progress=False)


def rows(manifest, variant):
    return {a.format: a for a in manifest.artifacts if a.variant == variant}


def litert_outputs(path, x) -> np.ndarray:
    """Run a .tflite over x with LiteRT directly (no convbench code), dequantizing int8 I/O."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.allocate_tensors()
    scores = []
    for image in x:
        feed = image[None]
        if inp["dtype"] == np.int8:
            scale, zero = inp["quantization"]
            feed = np.clip(np.round(feed / scale + zero), -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], feed)
        interp.invoke()
        score = interp.get_tensor(out["index"]).astype(np.float32)
        if out["dtype"] == np.int8:
            score = (score - out["quantization"][1]) * out["quantization"][0]
        scores.append(score[0])
    return np.array(scores)


@pytest.mark.slow
def test_every_variant_exports_verified_artifacts(all_variants, own_variants):
    built = {v.name for config, _ in (all_variants, own_variants) for v in resolve_variants(list(config.variants))}
    assert built == set(VARIANTS)
    for config, manifest in (all_variants, own_variants):
        check_verified(config, manifest)
    _, manifest = all_variants
    reference = {(a.variant, a.format): a.layer_errors_reference for a in manifest.artifacts}
    assert reference["tflite_int8", "tflite_int8"] == reference["lrq_selective_int8", "lrq_selective_int8"] \
        == reference["qat", "tflite_int8"] == "tflite_fp32/tflite_fp32"
    assert reference["pruned_50", "tflite_int8"] == reference["pqat", "tflite_int8"] == "pruned_50/tflite_fp32"
    assert reference["onnx_static_qdq", "onnx_static_qdq"] == reference["qat", "onnx_int8"] == "onnx_fp32/onnx_fp32"
    assert rows(manifest, "selective_int8")["selective_int8"].selection.trace


def check_verified(config, manifest) -> None:
    failed = [(a.variant, a.format, a.error) for a in manifest.artifacts if a.error]
    assert failed == []
    listed = {(a.variant, a.format) for a in manifest.artifacts}
    for variant in resolve_variants(list(config.variants)):
        for fmt in variant.exports:
            assert (variant.name, fmt) in listed
    for a in manifest.artifacts:
        assert manifest.artifact_path(a).is_file() and not Path(a.path).is_absolute()
        if a.format == "keras":
            continue
        assert a.verification.runtime in ("litert", "onnxruntime")
        assert a.bytes > 0 and a.gzip_bytes > 0 and len(a.sha256) == 64
        assert 0.0 <= a.accuracy <= 1.0 and 0.0 <= a.verification.agreement_vs_fp32 <= 1.0
        # Every quantized file is compared layer by layer with its closest fp32 file.
        quantized = FORMATS[a.format].precision != "fp32"
        assert bool(a.layer_errors) == quantized and a.layer_errors_note is None, (a.label, a.layer_errors_note)


@pytest.mark.slow
def test_deployed_accuracy_comes_from_the_runtime(all_variants):
    """Recompute an int8 artifact's accuracy with LiteRT directly (one sigmoid unit: > 0.5)."""
    _, manifest = all_variants
    row = rows(manifest, "tflite_int8_io")["tflite_int8_io"]
    ds = Dataset.load(manifest.resolve(manifest.dataset.path))
    scores = litert_outputs(manifest.artifact_path(row), ds.x_test)
    assert scores.shape == (len(ds.y_test), 1)
    assert row.accuracy == pytest.approx(np.mean((scores[:, 0] > 0.5) == ds.y_test))


@pytest.mark.slow
def test_sparsity_and_clusters_are_read_back_from_the_artifacts(all_variants, own_variants):
    _, manifest = all_variants
    _, own = own_variants
    for fmt in ("tflite_fp32", "tflite_int8", "onnx_fp32"):
        assert rows(manifest, "pruned_80")[fmt].sparsity > 0.7
    for fmt in ("tflite_fp32", "onnx_fp32"):
        assert rows(manifest, fmt)[fmt].sparsity < 0.05
    # 2:4 keeps ~half of every Conv/Dense kernel except a 1-channel first conv (stays dense).
    assert 0.3 < rows(manifest, "pruned_2of4")["tflite_fp32"].sparsity < 0.55
    # Clustering: at most 16 distinct values in every Conv2D and Dense kernel (per tensor); per
    # channel, at most 16 per output channel of every Conv2D, more across the kernel. Read from
    # the file's own tensors.
    kernels = conv_and_dense_kernels(manifest.artifact_path(rows(manifest, "clustered_16")["tflite_fp32"]))
    assert len(kernels) == 5  # lesson5: three Conv2D, two Dense
    assert max(np.unique(kernel).size for _, kernel in kernels) <= 16
    per_channel = own.artifact_path(rows(own, "clustered_16_per_channel")["tflite_fp32"])
    assert len(conv_and_dense_kernels(per_channel)) == 5
    for op, kernel in conv_and_dense_kernels(per_channel):
        per = kernel.reshape(kernel.shape[0], -1) if op == "CONV_2D" else kernel.reshape(1, -1)
        assert max(np.unique(channel).size for channel in per) <= 16, (op, kernel.shape)
        if op == "CONV_2D":  # each channel has centroids of its own
            assert np.unique(kernel).size > 16, kernel.shape
    dense = rows(manifest, "tflite_fp32")["tflite_fp32"]
    assert max(dense.weights.unique_values_per_layer.values()) > 1000
    # Sparsity-preserving clustering keeps the pruned zeros; PQAT keeps them through int8.
    assert rows(manifest, "sparse_clustered_16")["tflite_fp32"].sparsity > 0.4
    assert rows(own, "pcqat")["tflite_int8"].sparsity > 0.4
    assert rows(manifest, "pqat")["tflite_int8"].sparsity > 0.4
    # CQAT keeps its parent's clusters through int8: at most 16 values per conv output channel.
    for op, kernel in conv_and_dense_kernels(own.artifact_path(rows(own, "cqat")["tflite_int8"])):
        if op == "CONV_2D":
            assert max(np.unique(c).size for c in kernel.reshape(kernel.shape[0], -1)) <= 16, kernel.shape
    assert rows(manifest, "qat")["onnx_int8"].bytes < rows(manifest, "onnx_fp32")["onnx_fp32"].bytes / 3


def conv_and_dense_kernels(path) -> list[tuple[str, np.ndarray]]:
    """(op, kernel) of every CONV_2D / FULLY_CONNECTED op of a .tflite (TFLite kernels are OHWI)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return [(op["op_name"], interp.get_tensor(op["inputs"][1])) for op in interp._get_ops_details()
            if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")]


@pytest.mark.slow
def test_second_run_is_cached(all_variants):
    config, first = all_variants
    assert not any(a.cached for a in first.artifacts if a.format != "keras")
    again = optimize_all(config, progress=False)
    assert [a.sha256 for a in again.artifacts] == [a.sha256 for a in first.artifacts]
    assert all(a.cached for a in again.artifacts if a.format != "keras")
    assert all(t.cached for t in again.trained)


@pytest.mark.slow
def test_a_failing_export_is_recorded_and_the_rest_go_on(all_variants, monkeypatch, tmp_path, capsys):
    config, _ = all_variants

    def broken(inputs, path, source):
        raise RuntimeError("converter exploded")

    monkeypatch.setitem(EXPORTERS, "onnx_fp32", Exporter(broken))
    # A fresh artifacts folder that shares the trained model: copy only what training cached.
    import shutil
    out = tmp_path / "a"
    for sub in ("data", "trained"):
        shutil.copytree(config.train.out / sub, out / sub)
    data = config.train.data
    argv = ["optimize", "--data", str(data.data_dir), "--image-size", "16", "--color-mode", "grayscale",
            "--epochs", "1", "--models", "lesson5_custom", "--variants", "onnx_fp32", "onnx_dynamic",
            "tflite_fp32", "--scaling-sides", "--workers", "0", "--out", str(out)]  # 0: the patched exporter runs here
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert "FAILED lesson5_custom/onnx_fp32/onnx_fp32: RuntimeError: converter exploded" in printed
    assert "onnx_dynamic/onnx_dynamic: needs onnx_fp32, which failed" in printed
    manifest = read_manifest(out / "manifest.json")
    assert rows(manifest, "tflite_fp32")["tflite_fp32"].error is None
    assert rows(manifest, "onnx_dynamic")["onnx_dynamic"].error == "needs onnx_fp32, which failed"
    assert not (out / "scaling").exists()  # --scaling-sides alone: none built


def test_unknown_variant_lists_valid_names():
    with pytest.raises(UserError, match="unknown variant.*nope.*valid: tflite_fp32"):
        resolve_variants(["nope"])


def test_parents_and_fp32_references_come_first():
    names = [v.name for v in resolve_variants(["pcqat"])]
    assert names == ["tflite_fp32", "onnx_fp32", "pruned_50", "sparse_clustered_16", "pcqat"]
    assert [v.name for v in resolve_variants(["lrq_int8", "tflite_fp16"])] == ["tflite_fp32", "tflite_fp16", "lrq_int8"]


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
    assert [type(layer).__name__ for layer in folded.layers] == ["Dense"] and bn.name in notes
    x = rng.random((4, 5)).astype(np.float32)
    np.testing.assert_allclose(folded(x), model(x, training=False), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_three_classes_are_decided_by_argmax(tmp_path, monkeypatch):
    """More than two classes: a softmax head, and the accuracy recorded for an int8 artifact
    is what LiteRT's own outputs give with argmax. The artifacts folder is given relative, as
    `make bench` gives it: every path in the manifest must still resolve from the manifest."""
    from tests.support.images import write_image_folder

    folder = write_image_folder(tmp_path / "abc", classes=("a", "b", "c"), per_class=16)
    monkeypatch.chdir(tmp_path)
    manifest = optimize_all(tiny(folder, Path("artifacts"), ["tflite_int8", "onnx_static_qdq"]),
                            progress=False)
    assert all(a.ok for a in manifest.artifacts)
    assert all(manifest.artifact_path(a).is_file() for a in manifest.artifacts), \
        [a.path for a in manifest.artifacts]
    ds = Dataset.load(manifest.resolve(manifest.dataset.path))
    row = rows(manifest, "tflite_int8")["tflite_int8"]
    scores = litert_outputs(manifest.artifact_path(row), ds.x_test)
    assert scores.shape == (len(ds.y_test), 3) and row.num_classes == 3
    assert row.accuracy == pytest.approx(np.mean(scores.argmax(1) == ds.y_test))


@pytest.mark.slow
def test_optimizing_some_models_keeps_the_other_rows(all_variants, tmp_path):
    """optimize --models X --variants Y replaces X's Y rows and keeps everything else."""
    import shutil
    from dataclasses import replace

    config, full = all_variants
    out = tmp_path / "a"
    shutil.copytree(config.train.out, out)
    lesson4 = replace(config.train, models=("lesson4_strided",), out=out)
    merged = optimize_all(replace(config, train=lesson4, variants=("tflite_fp32",)), progress=False)
    assert merged.models == ["lesson5_custom", "lesson4_strided"]
    assert len(merged.artifacts) == len(full.artifacts) + 2  # + lesson4's keras and tflite_fp32 rows
    assert {t.name for t in merged.trained} == {"lesson5_custom", "lesson4_strided"}
    kept = {(a.variant, a.format): a.sha256 for a in merged.artifacts if a.model == "lesson5_custom"}
    assert kept == {(a.variant, a.format): a.sha256 for a in full.artifacts}
    assert all(merged.artifact_path(a).is_file() for a in merged.artifacts)
