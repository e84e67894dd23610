"""Bring your own model, the parts below the CLI: tiny 8x8x1 classifiers saved by tf_keras (.keras,
.h5, SavedModel) and by Keras 3 load and are described; bad inputs are refused with one line naming
the file; which techniques cannot apply, and why; Keras 3 models and ops no converter knows;
the LiteRT Quantizer recipes; per-layer quantization error; the selective search."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from convbench.core import classes
from convbench.core.errors import NotApplicable, UserError
from convbench.core.formats import family_of_path
from convbench.optimize import export, litert_quantizer, quant_error, selective
from convbench.optimize.applicability import not_applicable
from convbench.optimize.own_model import check_fits_data, load_own_model, own_model_name
from convbench.core.runtimes import runtime_for
from convbench.core.tfsetup import import_keras3, keras

SHAPE = (8, 8, 1)
X = np.random.default_rng(0).uniform(0, 1, (16, *SHAPE)).astype(np.float32)


def run_file(path: Path, x: np.ndarray = X) -> np.ndarray:
    """A .tflite/.onnx file's outputs through the runtime registry (what optimize verifies with)."""
    return runtime_for(family_of_path(path)).load(path, batch=len(x)).predict(x)


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


def keras3_classifier(k3):
    return k3.Sequential([k3.Input(SHAPE), k3.layers.Conv2D(4, 3, activation="relu"), k3.layers.Flatten(),
                          k3.layers.Dense(3, activation="softmax")])


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
    k3_model = keras3_classifier(k3)
    k3_model.save(root / "k3.keras")
    regression = k3.Sequential([k3.Input(SHAPE), k3.layers.Flatten(), k3.layers.Dense(2, activation="relu")])
    regression.save(root / "k3_regression.keras")
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
    ("k3.keras", "keras_zip", "keras3"),
])
def test_each_format_loads_and_is_described(files, name, fmt, framework):
    _, own = load_own_model(files / name, SHAPE, 3)
    assert (own.file.format, own.file.framework) == (fmt, framework)
    assert own.input_shape == SHAPE and own.num_classes == 3 and own.output_activation == "softmax"
    assert len(own.file.sha256) == 64


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
    assert a.file.sha256 != b.file.sha256


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
    ("k3_export", "without Keras metadata"),  # a bare TF graph: no layers to check, any op allowed
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
    with pytest.raises(UserError, match=r"tk\.keras: the model takes 8x8x1 images but the data's images are 28x28x1"
                                        r".*--image-size 8 --color-mode grayscale"):
        check_fits_data(own, (28, 28, 1), 10)
    with pytest.raises(UserError, match="has 3 classes .* but the data has 10"):
        check_fits_data(own, SHAPE, 10)


def test_names_come_from_the_file(tmp_path):
    assert own_model_name(tmp_path / "my model (v2).keras") == "my_model__v2_"
    (tmp_path / "saved").mkdir()
    assert own_model_name(tmp_path / "saved") == "saved"


def test_tfmot_techniques_cannot_apply_to_keras3_or_frozen_models(files):
    model, _ = load_own_model(files / "k3.keras")
    reasons = not_applicable(model)
    assert set(reasons) == {"prune", "cluster", "qat"} and all("Keras 3" in r for r in reasons.values())
    model, _ = load_own_model(files / "tk.keras")
    assert not_applicable(model) == {}
    model.layers[0].trainable = model.layers[-1].trainable = False
    reasons = not_applicable(model)
    assert "frozen" in reasons["prune"] and "qat" not in reasons


def test_nested_frozen_base_and_branching_model(tmp_path):
    base = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, activation="relu")], name="base")
    base.trainable = False
    nested = keras.Sequential([keras.Input(SHAPE), base, keras.layers.Flatten(),
                               keras.layers.Dense(3, activation="softmax")])
    nested.save(tmp_path / "nested.keras")
    model, _ = load_own_model(tmp_path / "nested.keras", SHAPE, 3)
    assert not_applicable(model) == {}   # the head's Dense is trainable
    inp = keras.Input(SHAPE)
    conv = keras.layers.Conv2D(1, 3, padding="same")(inp)
    skip = keras.layers.Add()([inp, conv])
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(skip))
    keras.Model(inp, out).save(tmp_path / "branch.keras")
    model, _ = load_own_model(tmp_path / "branch.keras", SHAPE, 3)
    assert list(not_applicable(model)) == ["qat"] and "single chain" in not_applicable(model)["qat"]


@pytest.mark.parametrize("mode", ["fp32", "int8"])
def test_keras3_model_converts_to_tflite_that_agrees_by_either_path(files, tmp_path, mode):
    model, _ = load_own_model(files / "k3.keras")
    ref, tolerance = model.predict(X, verbose=0), (1e-5 if mode == "fp32" else 0.02)
    assert export.to_tflite(model, tmp_path / "own.tflite", mode, X) == "keras.Model.export(format='litert')"
    assert np.abs(run_file(tmp_path / "own.tflite") - ref).max() < tolerance
    # The path used when Keras 3's exporter fails: it read uninitialised variables (NaN) before
    # the variables holder kept the backing tf.Variables.
    (tmp_path / "fallback.tflite").write_bytes(export.convert_tflite(model, export.converter_settings(mode, X)))
    assert np.abs(run_file(tmp_path / "fallback.tflite") - ref).max() < tolerance


def test_the_keras_runtimes_load_a_keras3_file_with_safe_mode(files):
    from convbench.core.runtimes import get_runtime

    model, _ = load_own_model(files / "k3.keras")
    session = get_runtime("tf_function").load(files / "k3.keras", batch=len(X))
    np.testing.assert_allclose(session.predict(X), model.predict(X, verbose=0), atol=1e-6)


def test_keras3_model_converts_to_onnx_that_agrees(files, tmp_path):
    model, _ = load_own_model(files / "k3.keras")
    assert export.to_onnx(model, tmp_path / "k3.onnx") == "keras.Model.export(format='onnx')"
    assert np.abs(run_file(tmp_path / "k3.onnx") - model.predict(X, verbose=0)).max() < 1e-5


def test_an_op_no_converter_knows_is_not_applicable_not_a_failure(tmp_path):
    """Gaussian resizing becomes TF's ScaleAndTranslate: tf2onnx copies it into the graph unconverted
    (ONNX Runtime then refuses the file) and the TFLite converter has no builtin kernel for it."""
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Resizing(6, 6, interpolation="gaussian"),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(NotApplicable, match="tf2onnx cannot convert TensorFlow op.s. ScaleAndTranslate"):
        export.to_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(NotApplicable, match="no builtin kernel for tf.ScaleAndTranslate"):
        export.to_tflite(model, tmp_path / "m.tflite", "fp32")
    assert not list(tmp_path.iterdir())   # nothing half-written


@pytest.fixture(scope="module")
def fp32_tflite(files, tmp_path_factory):
    model = keras.models.load_model(files / "tk.keras")
    path = tmp_path_factory.mktemp("lrq") / "fp32.tflite"
    export.to_tflite(model, path, "fp32")
    return model, path


@pytest.mark.parametrize("recipe", sorted(litert_quantizer.RECIPES))
def test_litert_quantizer_recipes_make_runnable_files(fp32_tflite, tmp_path, recipe):
    _, fp32 = fp32_tflite
    litert_quantizer.quantize(fp32, tmp_path / "q.tflite", recipe, X)
    out = run_file(tmp_path / "q.tflite")
    assert out.shape == (len(X), 3) and np.isfinite(out).all()
    assert np.abs(out - run_file(fp32)).max() < 0.1
    assert (tmp_path / "q.tflite").stat().st_size < fp32.stat().st_size


def _op_dtypes(path: Path) -> dict[str, str]:
    """op name -> dtype of its output, for the ops of a .tflite file."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    return {op["op_name"]: tensors[op["outputs"][0]]["dtype"].__name__ for op in interp._get_ops_details()}


def test_per_layer_error_and_both_paths_keep_the_named_layer_float(fp32_tflite, tmp_path):
    model, fp32 = fp32_tflite
    full = tmp_path / "full.tflite"
    litert_quantizer.quantize(fp32, full, "static_int8", X)
    report = quant_error.compare(full, fp32, X)
    assert [e.op_type for e in report.layers] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert all(e.rel_l2 > 0 and e.snr_db is not None for e in report.layers) and report.decision_agreement > 0.8
    assert quant_error.compare(fp32, fp32, X).layers[0].snr_db is None   # identical: no noise, infinite SNR
    dense = next(e.name for e in report.layers if e.op_type == "FULLY_CONNECTED")
    assert {r.name for r in selective.rank_layers(report)} <= {e.name for e in report.layers}
    assert _op_dtypes(full)["FULLY_CONNECTED"] == "int8"
    kept = tmp_path / "kept.tflite"
    litert_quantizer.quantize(fp32, kept, "static_int8", X, float_layers=[dense])
    assert _op_dtypes(kept)["FULLY_CONNECTED"] == "float32" and _op_dtypes(kept)["CONV_2D"] == "int8"
    quantizer = selective.ConverterQuantizer(export.tflite_converter(model), X)
    (tmp_path / "conv_full.tflite").write_bytes(quantizer.quantize([]))
    (tmp_path / "conv_kept.tflite").write_bytes(quantizer.quantize([dense]))
    assert _op_dtypes(tmp_path / "conv_full.tflite")["FULLY_CONNECTED"] == "int8"
    assert _op_dtypes(tmp_path / "conv_kept.tflite")["FULLY_CONNECTED"] == "float32"


def test_rank_layers_counts_only_the_error_a_layer_adds():
    from convbench.core.records import LayerError

    def err(name, rel):
        return LayerError(name=name, op_type="OP", matched_by="name", snr_db=1.0, rel_l2=rel, max_abs=0.1)

    report = quant_error.QuantErrorReport("q", "f", 4, (err("conv", 0.02), err("pool", 0.02), err("dense", 0.10)),
                                          err("output", 0.1), 1.0, (),
                                          {"conv": ("input", "w"), "pool": ("conv",), "dense": ("pool", "w2")})
    ranked = [(r.name, round(r.added_rel_l2, 6)) for r in selective.rank_layers(report)]
    assert ranked == [("dense", 0.08), ("conv", 0.02)]


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


@pytest.mark.parametrize("quantizer", selective.QUANTIZERS)
def test_selective_variant_end_to_end(fp32_tflite, tmp_path, quantizer):
    model, fp32 = fp32_tflite
    labels = classes.predicted_labels(run_file(fp32))    # fp32 is right on every image
    for budget_pp in (100.0, 0.0):
        inputs = export.ExportInputs(model=model, calibration=X, validation=(X, labels), budget_pp=budget_pp,
                                     error_images=8)
        out = tmp_path / f"sel{budget_pp}.tflite"
        search = selective.build(quantizer, inputs, out, fp32)
        assert search.fp32_val_accuracy == 1.0 and search.trace[0].float_layers == []
        assert search.ranking and np.isfinite(run_file(out)).all()
        if budget_pp:   # a 100 pp budget accepts full int8 at once
            assert search.float_layers == [] and search.met_budget and out.stat().st_size == search.full_int8_bytes
        else:           # a zero budget keeps layers float until int8 agrees on every image
            assert search.met_budget == (search.val_accuracy == 1.0)
            assert search.float_layers == [r.name for r in search.ranking[:len(search.float_layers)]]
    assert not list(tmp_path.glob(".selective-*"))   # scratch tries are removed
