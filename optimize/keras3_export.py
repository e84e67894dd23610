"""TFLite and ONNX for Keras 3 models (users' own models saved by Keras 3, which TFMOT cannot
touch): Keras 3's own exporter first, the converters export.py uses for tf_keras otherwise.

Facts measured here (keras 3.15.1, TF 2.21, tf2onnx 1.17, in a process with TF_USE_LEGACY_KERAS=1):
- `model.export(path, format="litert", **converter_attributes)` works for every TFLite mode (it
  sets TFLiteConverter attributes from its keyword arguments).
- export.py's own path (a traced function + a variables holder) given a Keras 3 model converted
  *without error* into a file that read uninitialised variables (NaN outputs in fp32, a
  READ_VARIABLE failure in int8) until the holder kept the backing tf.Variables.
- `model.export(path, format="onnx")` works (it calls tf2onnx) once the model has been called: a
  freshly loaded model fails with "ValueError: The model provided has never called.", so it is
  called once on zeros first. It also patches tf2onnx and sets `np.object = object` in the
  process for numpy 2, which stays for later conversions.
Each returns what wrote the file, and why Keras 3's exporter was not it where it failed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.core.fsutil import write_bytes_atomic
from convbench.optimize import export


def to_tflite(model, path: Path, mode: str, calibration: np.ndarray | None) -> str:
    settings = export.converter_settings(mode, calibration)
    try:
        with export.scratch(path, ".tflite") as tmp:   # the exporter writes the file itself
            model.export(str(tmp), format="litert", verbose=False, **settings)
            write_bytes_atomic(path, tmp.read_bytes())
        return "keras.Model.export(format='litert')"
    except Exception as exc:  # noqa: BLE001 - any exporter failure: convert the traced function instead
        write_bytes_atomic(path, export.convert_tflite(model, settings))
        return f"TFLiteConverter on the traced model (Keras 3's exporter failed: {_one_line(exc)})"


def to_onnx(model, path: Path) -> str:
    try:
        model(np.zeros((1, *model.input_shape[1:]), np.float32), training=False)   # see the module doc
        with export.scratch(path, ".onnx") as tmp:
            model.export(str(tmp), format="onnx", verbose=False, opset_version=export.ONNX_OPSET)
            export.write_onnx(path, tmp.read_bytes())
        return "keras.Model.export(format='onnx')"
    except export.NotApplicable:
        raise
    except Exception as exc:  # noqa: BLE001 - convert our own traced function with tf2onnx instead
        export.to_onnx_tf2onnx(model, path)
        return f"tf2onnx on the traced model (Keras 3's exporter failed: {_one_line(exc)})"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
