"""Bring your own model: load a user's image classifier safely and check that convbench can gate it
(one 4-D NHWC input; softmax over >= 2 units or one sigmoid unit; input shape that fits the data).
Every refusal is a UserError naming the file, so the CLI prints one line and exits 2.

Safety: Keras zips load with safe_mode=True (no Lambda bytecode, no arbitrary classes). Legacy H5
and tf_keras SavedModels ignore safe_mode, so they are accepted only as the user's own --model
input, after model_file refused Lambda layers in them; convbench itself writes and re-reads only
the zip format. Pickle-based files and SavedModels without Keras metadata are refused by
model_file before this."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from convbench.core.errors import UserError
from convbench.optimize.model_file import ModelFile, inspect_model_file

# Layers that pass their input through unchanged at inference: the activation is behind them.
PASS_THROUGH = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                "AlphaDropout", "ActivityRegularization", "Identity", "Flatten", "Reshape", "InputLayer"}
SIGMOID_NAMES = {"sigmoid", "hard_sigmoid"}


@dataclass(frozen=True)
class OwnModel:
    """What convbench needs to know about a user's classifier."""

    file: ModelFile
    input_shape: tuple[int, int, int]  # (height, width, channels)
    output_units: int
    output_activation: str             # "softmax" | "sigmoid"

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def num_classes(self) -> int:
        return 2 if self.output_units == 1 else self.output_units


def own_model_name(path) -> str:
    """The model's name in the manifest and the report: its file (or folder) name without the
    suffix, with characters other than letters, digits, '.', '_' and '-' made '_'."""
    path = Path(path)
    stem = path.name if path.is_dir() else path.stem
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem) or "model"


def load_own_model(path, data_input_shape=None, data_num_classes: int | None = None):
    """(the loaded Keras model, OwnModel): tf_keras for files tf_keras wrote, Keras 3 for files
    Keras 3 wrote. With the data's shape and class count given, also checks that they fit."""
    info = inspect_model_file(path)
    model = _load(info)
    own = _describe(info, model)
    if data_input_shape is not None:
        check_fits_data(own, data_input_shape, data_num_classes)
    return model, own


def _load(info: ModelFile):
    try:
        if info.framework == "keras3":
            from convbench.core.tfsetup import import_keras3

            return import_keras3().models.load_model(info.path, compile=False, safe_mode=True)
        from convbench.core.tfsetup import keras

        return keras.models.load_model(info.path, compile=False, safe_mode=True)
    except UserError:
        raise
    except Exception as exc:  # the loaders raise anything from OSError to TypeError on bad files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(f"{info.path}: cannot load this {info.framework} model "
                        f"({type(exc).__name__}: {first_line[:300]})") from None


def check_fits_data(own: OwnModel, data_input_shape, data_num_classes: int | None) -> None:
    data_shape = tuple(int(d) for d in data_input_shape)
    if tuple(own.input_shape) != data_shape:
        raise UserError(f"{own.path}: the model takes {_hwc(own.input_shape)} images but the data's images are "
                        f"{_hwc(data_shape)}; pass --data DIR with --image-size/--color-mode that match the model"
                        f"{_data_hint(own.input_shape)}")
    if data_num_classes is not None and own.num_classes != data_num_classes:
        raise UserError(f"{own.path}: the model has {own.num_classes} classes ({own.output_units} "
                        f"{own.output_activation} unit(s)) but the data has {data_num_classes}")


def _hwc(shape) -> str:
    return "x".join(str(d) for d in shape)


def _data_hint(shape) -> str:
    """The data options that give the model's input shape, where a square image can have it."""
    height, width, channels = shape
    modes = {1: "grayscale", 3: "rgb"}
    if height != width or channels not in modes:
        return ""
    return f" (here: --image-size {height} --color-mode {modes[channels]})"


def _describe(info: ModelFile, model) -> OwnModel:
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
    return OwnModel(info, input_shape, units, activation)


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
