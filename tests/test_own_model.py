"""Bring your own model: tiny 8x8x1 classifiers saved by tf_keras (.keras, .h5, SavedModel) and by
Keras 3 load and are described; bad inputs are refused with one line naming the file; Keras 3
models convert to TFLite and ONNX that agree with them; the LiteRT Quantizer recipes and the
selective search work."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from convbench.errors import UserError
from convbench.optimize import keras3_export, litert_quantizer, selective
from convbench.optimize.evaluate import run_artifact
from convbench.optimize.export import inference_function, to_tflite, _variables_only
from convbench.optimize.own_model import check_fits_data, import_keras3, load_own_model
from convbench.optimize.own_model_support import APPLIES, technique_support
from convbench.tfsetup import keras, tf

SHAPE = (8, 8, 1)
X = np.random.default_rng(0).uniform(0, 1, (16, *SHAPE)).astype(np.float32)


def tf_keras_classifier(head="softmax"):
    """Conv -> Dense head; head='softmax_layer' puts the softmax in its own layer after a Dropout."""
    layers = keras.layers
    body = [keras.Input(SHAPE), layers.Conv2D(4, 3, activation="relu"), layers.Flatten()]
    if head == "softmax":
        body += [layers.Dense(3, activation="softmax")]
    elif head == "softmax_layer":
        body += [layers.Dense(3), layers.Activation("softmax"), layers.Dropout(0.1)]
    elif head == "sigmoid":
        body += [layers.Dense(1, activation="sigmoid")]
    elif head == "regression":
        body += [layers.Dense(1)]
    return keras.Sequential(body)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    keras.utils.set_random_seed(0)
    model = tf_keras_classifier()
    model.save(root / "tk.keras")
    model.save(root / "tk.h5")
    model.save(root / "tk_savedmodel", save_format="tf")
    tf_keras_classifier("softmax_layer").save(root / "softmax_layer.keras")
    tf_keras_classifier("sigmoid").save(root / "sigmoid.keras")
    tf_keras_classifier("regression").save(root / "regression.keras")
    a, b = keras.Input(SHAPE), keras.Input(SHAPE)
    merged = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(keras.layers.Concatenate()([a, b])))
    keras.Model([a, b], merged).save(root / "two_inputs.keras")
    k3 = import_keras3()
    k3.utils.set_random_seed(0)
    k3_model = k3.Sequential([k3.Input(SHAPE), k3.layers.Conv2D(4, 3, activation="relu"), k3.layers.Flatten(),
                              k3.layers.Dense(3, activation="softmax")])
    k3_model.save(root / "k3.keras")
    k3.Sequential([k3.Input(SHAPE), k3.layers.Flatten(), k3.layers.Dense(2, activation="relu")]).save(root / "k3_regression.keras")
    k3_model.export(str(root / "k3_export"), format="tf_saved_model", verbose=False)
    good = (root / "tk.keras").read_bytes()
    (root / "truncated.keras").write_bytes(good[: len(good) // 2])
    (root / "garbage.keras").write_bytes(np.random.default_rng(1).bytes(2000))
    (root / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    (root / "pickle_named.keras").write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    (root / "truncated.h5").write_bytes((root / "tk.h5").read_bytes()[:1500])
    (root / "empty_folder").mkdir()
    with_lambda = keras.Sequential([keras.Input(SHAPE), keras.layers.Lambda(lambda t: t * 2), keras.layers.Flatten(),
                                    keras.layers.Dense(3, activation="softmax")])
    for name in ("lambda.keras", "lambda.h5"):
        with_lambda.save(root / name)
    with_lambda.save(root / "lambda_savedmodel", save_format="tf")
    return root


@pytest.mark.parametrize("name, fmt, framework", [
    ("tk.keras", "keras_zip", "tf_keras"), ("tk.h5", "h5", "tf_keras"), ("tk_savedmodel", "saved_model", "tf_keras"),
    ("k3.keras", "keras_zip", "keras3"), ("k3_export", "saved_model", "tf_saved_model"),
])
def test_each_format_loads_and_is_described(files, name, fmt, framework):
    _, own = load_own_model(files / name, SHAPE, 3)
    assert (own.format, own.framework) == (fmt, framework)
    assert own.input_shape == SHAPE and own.num_classes == 3 and own.output_activation == "softmax"
    assert len(own.sha256) == 64
    if framework != "tf_saved_model":
        assert [kind for _, kind in own.layers] == ["Conv2D", "Flatten", "Dense"]
    assert own.describe()["input_shape"] == list(SHAPE)


def test_separate_softmax_layer_and_single_sigmoid_are_classifiers(files):
    _, own = load_own_model(files / "softmax_layer.keras")
    assert (own.output_activation, own.num_classes) == ("softmax", 3)
    _, own = load_own_model(files / "sigmoid.keras")
    assert (own.output_activation, own.output_units, own.num_classes) == ("sigmoid", 1, 2)


def test_folder_hash_changes_with_any_file(files, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(files / "tk_savedmodel", copy)
    _, a = load_own_model(copy)
    (copy / "assets" / "note.txt").write_text("x")
    _, b = load_own_model(copy)
    assert a.sha256 != b.sha256


@pytest.mark.parametrize("name, words", [
    ("two_inputs.keras", "2 inputs"),
    ("regression.keras", "regression head"),
    ("k3_regression.keras", "regression head"),
    ("truncated.keras", "corrupt or truncated"),
    ("garbage.keras", "corrupt model file"),
    ("model.pkl", "pickle-based format refused"),
    ("pickle_named.keras", "pickle-based format refused"),
    ("truncated.h5", "corrupt or truncated HDF5"),
    ("empty_folder", "not a SavedModel"),
    ("missing.keras", "no such model file"),
    ("lambda.keras", "safe_mode"),            # the zip format: Keras' own safe_mode refuses it
    ("lambda.h5", "has a Lambda layer"),      # H5 and SavedModel ignore safe_mode: refused before loading
    ("lambda_savedmodel", "has a Lambda layer"),
])
def test_bad_inputs_fail_with_one_line_naming_the_file(files, name, words):
    with pytest.raises(UserError) as info:
        load_own_model(files / name)
    message = str(info.value)
    assert str(files / name) in message and words in message and "\n" not in message


def test_input_shape_that_does_not_fit_the_data(files):
    _, own = load_own_model(files / "tk.keras")
    with pytest.raises(UserError, match=r"tk\.keras: the model takes 8x8x1 images but the data's images are 28x28x1"):
        check_fits_data(own, (28, 28, 1), 10)
    with pytest.raises(UserError, match="has 3 classes .* but the data has 10"):
        check_fits_data(own, SHAPE, 10)


def test_technique_support_says_why_tfmot_cannot_apply(files):
    model, own = load_own_model(files / "k3.keras")
    support = technique_support(own, model)
    assert support["tflite_converter"] == APPLIES and support["onnx"] == APPLIES
    assert all("Keras 3" in support[f] for f in ("prune", "cluster", "qat"))
    model, own = load_own_model(files / "tk.keras")
    assert set(technique_support(own, model).values()) == {APPLIES}
    model.layers[0].trainable = model.layers[-1].trainable = False
    support = technique_support(own, model)
    assert "frozen" in support["prune"] and support["qat"] == APPLIES


@pytest.mark.parametrize("mode", ["fp32", "int8"])
@pytest.mark.parametrize("method", ["auto", "concrete_function"])
def test_keras3_model_converts_to_tflite_that_agrees(files, tmp_path, mode, method):
    model, _ = load_own_model(files / "k3.keras")
    path = tmp_path / f"{mode}.tflite"
    used, _why = keras3_export.to_tflite(model, path, mode, X, method=method)
    assert used == ("keras_export" if method == "auto" else "concrete_function")
    got, ref = run_artifact(path, X).outputs, keras3_export.reference_outputs(model, X)
    assert np.abs(got - ref).max() < (1e-5 if mode == "fp32" else 0.02)


def test_keras3_model_and_plain_savedmodel_convert_to_onnx_that_agrees(files, tmp_path):
    model, _ = load_own_model(files / "k3.keras")
    assert keras3_export.to_onnx(model, tmp_path / "k3.onnx") == ("keras_export", None)
    assert np.abs(run_artifact(tmp_path / "k3.onnx", X).outputs - model.predict(X, verbose=0)).max() < 1e-5
    folder = files / "k3_export"
    assert keras3_export.to_onnx(folder, tmp_path / "sm.onnx") == ("tf2onnx", None)
    assert keras3_export.to_tflite(folder, tmp_path / "sm.tflite", "fp32") == ("saved_model", None)
    ref = keras3_export.reference_outputs(folder, X)
    for name in ("sm.onnx", "sm.tflite"):
        assert np.abs(run_artifact(tmp_path / name, X).outputs - ref).max() < 1e-5


@pytest.fixture(scope="module")
def fp32_tflite(files, tmp_path_factory):
    model = keras.models.load_model(files / "tk.keras")
    path = tmp_path_factory.mktemp("aeq") / "fp32.tflite"
    to_tflite(model, path, "fp32")
    return model, path


@pytest.mark.parametrize("recipe", sorted(litert_quantizer.RECIPES))
def test_litert_quantizer_recipes_make_runnable_files(fp32_tflite, tmp_path, recipe):
    _, fp32 = fp32_tflite
    result = litert_quantizer.quantize(fp32, tmp_path / f"{recipe}.tflite", recipe, X)
    assert result.bytes == Path(result.path).stat().st_size > 0
    out = litert_quantizer.run_check(Path(result.path), X)
    assert out.shape == (len(X), 3) and np.isfinite(out).all()
    assert np.abs(out - run_artifact(fp32, X).outputs).max() < 0.1


def _op_dtypes(path: Path) -> dict[str, str]:
    """op name -> dtype of its output, for the ops of a .tflite file."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    return {op["op_name"]: tensors[op["outputs"][0]]["dtype"].__name__ for op in interp._get_ops_details()}


def test_both_paths_keep_the_named_layer_float(fp32_tflite, tmp_path):
    model, fp32 = fp32_tflite
    full = tmp_path / "full.tflite"
    litert_quantizer.quantize(fp32, full, "static_int8", X)
    errors = selective.layer_errors(fp32, full, X)
    assert {e.op for e in errors} >= {"CONV_2D", "FULLY_CONNECTED"}
    dense = next(e.name for e in errors if e.op == "FULLY_CONNECTED")
    assert _op_dtypes(full)["FULLY_CONNECTED"] == "int8"
    kept = tmp_path / "kept.tflite"
    litert_quantizer.quantize(fp32, kept, "static_int8", X, float_layers=[dense])
    assert _op_dtypes(kept)["FULLY_CONNECTED"] == "float32" and _op_dtypes(kept)["CONV_2D"] == "int8"
    converter = tf.lite.TFLiteConverter.from_concrete_functions([inference_function(model)], _variables_only(model))
    quantizer = selective.converter_quantizer(converter, X)
    (tmp_path / "conv_full.tflite").write_bytes(quantizer.quantize([]))
    (tmp_path / "conv_kept.tflite").write_bytes(quantizer.quantize([dense]))
    assert _op_dtypes(tmp_path / "conv_full.tflite")["FULLY_CONNECTED"] == "int8"
    assert _op_dtypes(tmp_path / "conv_kept.tflite")["FULLY_CONNECTED"] == "float32"


def test_selective_search_stops_at_the_first_set_within_budget():
    accuracy_by_count = {0: 0.80, 1: 0.85, 2: 0.897, 3: 0.90}
    result = selective.select_float_layers(
        ["a", "b", "c"], lambda layers: (accuracy_by_count[len(layers)], f"file{len(layers)}"), fp32_accuracy=0.90)
    assert result.float_layers == ["a", "b"] and result.met_budget and result.artifact == "file2"
    assert [t.float_layers for t in result.trace] == [[], ["a"], ["a", "b"]]
    assert [t.within_budget for t in result.trace] == [False, False, True]


def test_selective_search_edges():
    full_ok = selective.select_float_layers(["a"], lambda layers: (0.895, None), fp32_accuracy=0.90)
    assert full_ok.float_layers == [] and full_ok.met_budget and len(full_ok.trace) == 1
    never = selective.select_float_layers(["a", "b"], lambda layers: (0.5, None), fp32_accuracy=0.90)
    assert never.float_layers == ["a", "b"] and not never.met_budget and len(never.trace) == 3
    capped = selective.select_float_layers(["a", "b"], lambda layers: (0.5, None), fp32_accuracy=0.90, max_float_layers=1)
    assert capped.float_layers == ["a"] and len(capped.trace) == 2


def test_nested_frozen_base_and_branching_model(tmp_path):
    base = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, activation="relu")], name="base")
    base.trainable = False
    nested = keras.Sequential([keras.Input(SHAPE), base, keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    nested.save(tmp_path / "nested.keras")
    model, own = load_own_model(tmp_path / "nested.keras", SHAPE, 3)
    assert own.layers[0][0].startswith("base/") and own.layers[0][1] == "Conv2D"
    assert set(technique_support(own, model).values()) == {APPLIES}   # the head's Dense is trainable
    inp = keras.Input(SHAPE)
    conv = keras.layers.Conv2D(1, 3, padding="same")(inp)
    skip = keras.layers.Add()([inp, conv])
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(skip))
    keras.Model(inp, out).save(tmp_path / "branch.keras")
    model, own = load_own_model(tmp_path / "branch.keras", SHAPE, 3)
    support = technique_support(own, model)
    assert support["prune"] == APPLIES and "single chain" in support["qat"]


@pytest.mark.parametrize("quantizer", ["converter", "litert_quantizer"])
def test_selective_variant_end_to_end(fp32_tflite, tmp_path, quantizer):
    from convbench.models.train import predicted_labels
    from convbench.optimize.selective_variant import build_selective_int8

    model, fp32 = fp32_tflite
    labels = predicted_labels(run_artifact(fp32, X).outputs)    # fp32 is right on every image
    for budget_pp, expect_float in ((100.0, False), (0.0, None)):
        result = build_selective_int8(fp32, tmp_path / f"sel{budget_pp}.tflite", X, X, labels, quantizer,
                                      source=model, budget_pp=budget_pp)
        assert result.fp32_val_accuracy == 1.0 and result.trace[0]["float_layers"] == []
        assert result.ranking and Path(result.path).stat().st_size == result.bytes
        assert np.isfinite(run_artifact(Path(result.path), X).outputs).all()
        if expect_float is False:   # a 100 pp budget accepts full int8 at once
            assert result.float_layers == [] and result.met_budget and result.bytes == result.full_int8_bytes
        else:                       # a zero budget keeps layers float until int8 agrees on every image
            assert result.met_budget == (result.val_accuracy == 1.0)
    assert not list(tmp_path.glob(".selective-*"))   # scratch tries are removed
