"""TFLite and ONNX for the models TFMOT cannot touch: Keras 3 models, and SavedModels without
Keras metadata (Keras 3's export(), tf.saved_model.save). Same modes as export.TFLITE_MODES.

Facts measured here (keras 3.15.1, TF 2.21, tf2onnx 1.17, in a process with TF_USE_LEGACY_KERAS=1):
- Keras 3 loads and runs beside tf_keras; `import keras` is Keras 3, `tf.keras` is tf_keras.
- Keras 3's own `model.export(path, format="litert", **converter_attributes)` works for every
  mode (it sets converter attributes from kwargs); it is the first choice.
- export.to_tflite (the tf_keras path) given a Keras 3 model converts *without error* but the
  file reads uninitialised variables: NaN outputs in fp32, a READ_VARIABLE failure in int8 —
  its variable holder keeps Keras 3 Variables, which the converter does not freeze. Holding
  their backing tf.Variables (`v.value`) fixes it: that is the fallback path here.
- `model.export(path, format="onnx")` works (it calls tf2onnx) once the model has been called:
  a freshly loaded model fails with "ValueError: The model provided has never called.", so it is
  called once on zeros first. It also patches tf2onnx and sets `np.object = object` in the
  process for numpy 2, which stays for later conversions.
Both converters return (method used, why the preferred method was not used or None).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.fsutil import write_bytes_atomic
from convbench.optimize.export import ONNX_OPSET, TFLITE_MODES
from convbench.tfsetup import tf


def converter_attributes(mode: str, calibration: np.ndarray | None) -> dict:
    """TFLiteConverter attributes per mode, as in export.to_tflite (one place for both paths here)."""
    if mode not in TFLITE_MODES:
        raise ValueError(f"unknown TFLite mode {mode!r}; valid: {TFLITE_MODES}")
    attrs: dict = {}
    if mode != "fp32":
        attrs["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        attrs["target_spec"] = {"supported_types": [tf.float16]}
    if mode in ("int8", "int8_io"):
        if calibration is None:
            raise ValueError(f"mode {mode} needs calibration images")
        attrs["representative_dataset"] = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
        attrs["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}
    if mode == "int8_io":
        attrs["inference_input_type"] = tf.int8
        attrs["inference_output_type"] = tf.int8
    return attrs


def to_tflite(source, path: Path, mode: str, calibration: np.ndarray | None = None,
              method: str = "auto") -> tuple[str, str | None]:
    """source: a Keras 3 model, or a SavedModel folder (Path). Returns the method that worked:
    "keras_export" (Keras 3's own exporter), "concrete_function" or "saved_model". method="auto"
    tries Keras 3's exporter first and falls back to the converter on a traced function."""
    attrs = converter_attributes(mode, calibration)
    if isinstance(source, (str, Path)):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(source))
        _apply(converter, attrs)
        write_bytes_atomic(path, converter.convert())
        return "saved_model", None
    try:
        if method == "concrete_function":
            raise NotImplementedError("asked for the fallback")
        _keras_export_litert(source, Path(path), attrs)
        return "keras_export", None
    except Exception as exc:  # noqa: BLE001 - any exporter failure: fall back to the converter directly
        if method == "keras_export":
            raise
        why = _one_line(exc)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([inference_function(source)], _backing_variables(source))
        _apply(converter, attrs)
        write_bytes_atomic(path, converter.convert())
        return "concrete_function", why


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _keras_export_litert(model, path: Path, attrs: dict) -> None:
    # The exporter writes the file itself: give it a temp name, then move it into place atomically.
    tmp = path.with_name(f".{path.stem}.tmp.tflite")
    try:
        model.export(str(tmp), format="litert", verbose=False, **attrs)
        write_bytes_atomic(path, tmp.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)


def _apply(converter, attrs: dict) -> None:
    for name, value in attrs.items():
        if name == "target_spec":
            for key, item in value.items():
                setattr(converter.target_spec, key, item)
        else:
            setattr(converter, name, value)


def inference_function(model):
    """The Keras 3 model traced with training=False and a free batch dimension."""
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name="input")
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)


def _backing_variables(model) -> tf.Module:
    """Keras 3 wraps each tf.Variable in a keras Variable; the converter freezes only the former."""
    holder = tf.Module()
    holder.model_variables = [v if isinstance(v, tf.Variable) else v.value for v in model.variables]
    return holder


def to_onnx(source, path: Path) -> tuple[str, str | None]:
    """source: a Keras 3 model or a SavedModel folder. Returns ("keras_export" | "tf2onnx", why
    Keras 3's exporter was not used or None)."""
    path = Path(path)
    why = None
    if not isinstance(source, (str, Path)):
        tmp = path.with_name(f".{path.stem}.tmp.onnx")
        try:
            source(np.zeros((1, *source.inputs[0].shape[1:]), np.float32), training=False)  # see module doc
            source.export(str(tmp), format="onnx", verbose=False, opset_version=ONNX_OPSET)
            write_bytes_atomic(path, tmp.read_bytes())
            return "keras_export", None
        except Exception as exc:  # noqa: BLE001 - fall back to tf2onnx on our own traced function
            why = _one_line(exc)
        finally:
            tmp.unlink(missing_ok=True)
        fn = tf.function(lambda x: source(x, training=False))
        spec = (tf.TensorSpec([None, *source.inputs[0].shape[1:]], tf.float32, name="input"),)
    else:
        fn, spec = _saved_model_function(Path(source))
    import tf2onnx

    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=ONNX_OPSET)
    write_bytes_atomic(path, proto.SerializeToString())
    return "tf2onnx", why


def _saved_model_function(folder: Path):
    """A single-input, single-output tf.function over a SavedModel's serving signature."""
    loaded = tf.saved_model.load(str(folder))
    signature = loaded.signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    (name, spec), = inputs.items()
    output_key = next(iter(signature.structured_outputs))
    fn = tf.function(lambda x: signature(**{name: x})[output_key])
    fn._convbench_keepalive = loaded  # the signature's variables live as long as `loaded` does
    return fn, (tf.TensorSpec([None, *spec.shape[1:]], tf.float32, name="input"),)


def reference_outputs(source, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The float model's own outputs on x: what every artifact is compared with."""
    if isinstance(source, (str, Path)):
        fn, _ = _saved_model_function(Path(source))
        return np.concatenate([fn(tf.constant(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)])
    return np.asarray(source.predict(x, batch_size=batch_size, verbose=0))
