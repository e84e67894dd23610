"""Bring your own model: load a user's image classifier safely and check that convbench can gate it
(one 4-D NHWC input; softmax over >= 2 units or one sigmoid unit; input shape that fits the data).
Every refusal is a UserError naming the file, so the CLI prints one line and exits 2.

Safety: Keras zips load with safe_mode=True (no Lambda bytecode, no arbitrary classes). Legacy H5
ignores safe_mode, so an H5 file is accepted only as the user's own --model input; convbench itself
writes and re-reads only the zip format. Pickle-based files are refused by model_file before this."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from convbench.errors import UserError
from convbench.optimize.model_file import ModelFile, inspect_model_file

# Layers that pass their input through unchanged at inference: the activation is behind them.
PASS_THROUGH = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                "AlphaDropout", "ActivityRegularization", "Identity", "Flatten", "Reshape", "InputLayer"}
SIGMOID_NAMES = {"sigmoid", "hard_sigmoid"}


@dataclass(frozen=True)
class OwnModel:
    """What convbench needs to know about a user's classifier; `describe()` goes to the manifest."""

    path: str
    format: str                       # "keras_zip" | "h5" | "saved_model"
    framework: str                    # "tf_keras" | "keras3" | "tf_saved_model"
    keras_version: str | None
    sha256: str
    input_shape: tuple[int, int, int]  # (height, width, channels)
    output_units: int
    output_activation: str            # "softmax" | "sigmoid"
    num_classes: int                  # 2 for one sigmoid unit
    layers: tuple[tuple[str, str], ...]  # (name, class name), nested models inlined; () for a plain SavedModel

    def describe(self) -> dict:
        return {**asdict(self), "input_shape": list(self.input_shape), "layers": [list(l) for l in self.layers]}


def import_keras3():
    """Keras 3 in a process where TF_USE_LEGACY_KERAS=1 makes tf.keras tf_keras: `import keras`
    still gives Keras 3 (measured with keras 3.15.1 + TF 2.21). Its backend must be TensorFlow:
    conversion traces the model into a tf.function."""
    import convbench.tfsetup  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF loads)
    import keras

    if not keras.__version__.startswith("3."):
        raise RuntimeError(f"`import keras` gave Keras {keras.__version__}, expected 3.x")
    if keras.backend.backend() != "tensorflow":
        raise UserError(f"Keras 3 runs on the {keras.backend.backend()!r} backend here; set KERAS_BACKEND=tensorflow")
    return keras


def load_own_model(path, data_input_shape=None, data_num_classes: int | None = None):
    """(loaded model, OwnModel). A Keras model for tf_keras/Keras 3 files, the tf.saved_model.load()
    object for a SavedModel without Keras metadata. With the data's shape and class count given,
    also checks that the model fits the data."""
    info = inspect_model_file(path)
    model = _load(info)
    if info.framework == "tf_saved_model":
        own = _describe_saved_model(info, model)
    else:
        own = _describe_keras(info, model)
    if data_input_shape is not None:
        check_fits_data(own, data_input_shape, data_num_classes)
    return model, own


def _load(info: ModelFile):
    try:
        if info.framework == "tf_keras":
            from convbench.tfsetup import keras

            return keras.models.load_model(info.path, compile=False, safe_mode=True)
        if info.framework == "keras3":
            return import_keras3().models.load_model(info.path, compile=False, safe_mode=True)
        from convbench.tfsetup import tf

        return tf.saved_model.load(str(info.path))
    except UserError:
        raise
    except Exception as exc:  # the loaders raise anything from OSError to TypeError on bad files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(f"{info.path}: cannot load this {info.framework} model ({type(exc).__name__}: {first_line[:300]})") from None


def check_fits_data(own: OwnModel, data_input_shape, data_num_classes: int | None) -> None:
    data_shape = tuple(int(d) for d in data_input_shape)
    if tuple(own.input_shape) != data_shape:
        raise UserError(f"{own.path}: the model takes {_hwc(own.input_shape)} images but the data's images are "
                        f"{_hwc(data_shape)}; pass --data DIR (with --image-size/--color-mode) that matches the model")
    if data_num_classes is not None and own.num_classes != data_num_classes:
        raise UserError(f"{own.path}: the model has {own.num_classes} classes ({own.output_units} "
                        f"{own.output_activation} unit(s)) but the data has {data_num_classes}")


def _hwc(shape) -> str:
    return "x".join(str(d) for d in shape)


def _describe_keras(info: ModelFile, model) -> OwnModel:
    path = info.path
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError):
        raise UserError(f"{path}: the model has no defined inputs/outputs (an unbuilt subclassed model?)") from None
    if len(inputs) != 1:
        raise UserError(f"{path}: the model has {len(inputs)} inputs; convbench takes single-input image classifiers")
    if len(outputs) != 1:
        raise UserError(f"{path}: the model has {len(outputs)} outputs: not a single-head classifier")
    input_shape = _image_shape(path, tuple(inputs[0].shape))
    output_shape = tuple(outputs[0].shape)
    layer, activation = _output_activation(model)
    units = _check_classifier(path, output_shape, activation, f"last layer {layer.name!r} ({type(layer).__name__})")
    return OwnModel(str(path), info.format, info.framework, info.keras_version, info.sha256, input_shape, units,
                    activation, 2 if units == 1 else units, tuple(_layers(model)))


def _image_shape(path: Path, shape: tuple) -> tuple[int, int, int]:
    if len(shape) != 4:
        raise UserError(f"{path}: the input shape {shape} is not a batch of images (batch, height, width, channels)")
    if any(d is None for d in shape[1:]):
        raise UserError(f"{path}: the input shape {shape} has free dimensions; convbench needs fixed "
                        "height, width and channels (save the model with a fixed-size Input)")
    return tuple(int(d) for d in shape[1:])  # type: ignore[return-value]


def _check_classifier(path: Path, output_shape: tuple, activation: str, where: str) -> int:
    if len(output_shape) != 2 or output_shape[-1] is None:
        raise UserError(f"{path}: the output shape {output_shape} is not (batch, classes): not a classifier")
    units = int(output_shape[-1])
    if activation == "softmax" and units >= 2:
        return units
    if activation == "sigmoid" and units == 1:
        return units
    if activation == "softmax":
        raise UserError(f"{path}: softmax over one unit always outputs 1.0: not a classifier")
    if activation == "sigmoid":
        raise UserError(f"{path}: sigmoid over {units} units is a multi-label head; convbench gates single-label "
                        "classifiers (softmax over >= 2 units or one sigmoid unit)")
    raise UserError(f"{path}: a regression head, not a classifier: {where} outputs {units} unit(s) with activation "
                    f"{activation!r}; convbench takes softmax over >= 2 units or one sigmoid unit "
                    "(a model that outputs logits: append a Softmax layer and save it again)")


def _output_activation(model):
    """(the layer that sets the output's activation, 'softmax' | 'sigmoid' | what it is). Walks back
    over pass-through layers (Dropout, Flatten, ...) and into nested models, so a separate
    Activation('softmax') / Softmax layer after a linear Dense counts as a softmax output."""
    layer = _producer(model.outputs[0], model)
    for _ in range(1000):  # a bound instead of `while True`: a cyclic history must not hang
        if hasattr(layer, "layers") and hasattr(layer, "outputs"):   # a nested model
            layer = _producer(layer.outputs[0], layer)
            continue
        kind = type(layer).__name__
        if kind in PASS_THROUGH and kind != "InputLayer":
            before = _producer(layer.input, None)
            if before is not None and before is not layer:
                layer = before
                continue
        if kind in PASS_THROUGH:   # reached the input: the model is an identity
            return layer, "linear"
        return layer, _activation_name(layer)
    return layer, "linear"


def _producer(tensor, model):
    """The layer that produced a symbolic tensor (tf_keras and Keras 3 both keep `_keras_history`)."""
    history = getattr(tensor, "_keras_history", None)
    if history is not None:
        return history[0]
    return model.layers[-1] if model is not None else None


def _activation_name(layer) -> str:
    kind = type(layer).__name__
    if kind == "Softmax":
        return "softmax"
    if kind == "ReLU":
        return "relu"
    config = layer.get_config()
    name = config.get("activation", "linear")
    if isinstance(name, dict):   # Keras 3 serializes some activations as {"class_name": ..., "config": ...}
        name = name.get("config", {}).get("name") or name.get("class_name", "custom")
    name = str(name)
    if "softmax" in name:        # tf.nn.softmax serializes as "softmax_v2" in tf_keras
        return "softmax"
    return "sigmoid" if name in SIGMOID_NAMES else name


def _layers(model, prefix: str = ""):
    for layer in model.layers:
        if hasattr(layer, "layers") and hasattr(layer, "outputs"):
            yield from _layers(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", type(layer).__name__


def _describe_saved_model(info: ModelFile, loaded) -> OwnModel:
    """A SavedModel without Keras metadata (Keras 3's export(), tf.saved_model.save): its
    serving signature gives the shapes; the activation is found by probing, since there are no
    layers to read: softmax rows are non-negative and sum to 1; one sigmoid unit stays in [0, 1]
    even on inputs scaled far outside the data's range, where a linear head would leave it."""
    path = info.path
    fn = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
    if fn is None:
        raise UserError(f"{path}: the SavedModel has no 'serving_default' signature to run")
    _, inputs = fn.structured_input_signature
    if len(inputs) != 1:
        raise UserError(f"{path}: the model has {len(inputs)} inputs; convbench takes single-input image classifiers")
    spec = next(iter(inputs.values()))
    input_shape = _image_shape(path, tuple(spec.shape))
    outputs = fn.structured_outputs
    if len(outputs) != 1:
        raise UserError(f"{path}: the model has {len(outputs)} outputs: not a single-head classifier")
    output_shape = tuple(next(iter(outputs.values())).shape)
    activation = _probe_activation(fn, next(iter(inputs)), input_shape)
    units = _check_classifier(path, output_shape, activation, "the serving signature")
    return OwnModel(str(path), info.format, info.framework, None, info.sha256, input_shape, units, activation,
                    2 if units == 1 else units, ())


def _probe_activation(fn, input_name: str, input_shape, samples: int = 8) -> str:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (samples, *input_shape)).astype(np.float32)
    probes = np.concatenate([x, x * 100.0, -x * 100.0])
    y = next(iter(fn(**{input_name: probes}).values())).numpy().astype(np.float64)
    y = y.reshape(len(probes), -1)
    in_unit_range = bool(np.all(y >= -1e-6) and np.all(y <= 1 + 1e-6))
    if y.shape[1] >= 2 and in_unit_range and np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
        return "softmax"
    if in_unit_range:
        return "sigmoid" if y.shape[1] == 1 else "probabilities (not summing to 1)"
    return "linear or other (outputs leave [0, 1] under a probe)"
