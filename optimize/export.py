"""Converters: tf_keras model -> TFLite (fp32, dynamic range, fp16, int8, int8 I/O) and ONNX;
int8 TFLite -> int8 ONNX; fp32 ONNX -> ONNX Runtime's dynamic / static QDQ / fp16 models; and
EXPORTERS, the registry that says which converter makes each format of convbench/formats.py.

Every converter writes bytes to a path atomically; none loads or evaluates (the optimize stage
verifies each file through the runtime registry).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

import numpy as np

from convbench.core.errors import NotApplicable
from convbench.core.fsutil import write_bytes_atomic
from convbench.core.records import SelectiveSearch
from convbench.core.tfsetup import is_keras3, keras, tf

ONNX_OPSET = 17          # tf2onnx 1.17 supports opsets 11-18
TFLITE_MODES = ("fp32", "dynamic", "fp16", "int8", "int8_io")


def inference_function(model: keras.Model) -> tf.types.experimental.ConcreteFunction:
    """The model traced with training=False and a free batch dimension. Converting this
    (not model.export) keeps random augmentation and Dropout out of the graph."""
    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="input")
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)


def representative_dataset(calibration: np.ndarray):
    """The converter's calibration feed: one image per step."""
    return lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))


def converter_settings(mode: str, calibration: np.ndarray | None = None) -> dict:
    """TFLiteConverter attributes per mode ('target_spec' as a dict of its attributes): fp32;
    dynamic = int8 weights, float activations; fp16 = fp16 weights; int8 = full integer with
    float I/O; int8_io = full integer with int8 input and output tensors. A QAT model converts
    with mode int8: its fake-quant ranges are used, but the converter still refuses full-integer
    conversion without a representative dataset."""
    if mode not in TFLITE_MODES:
        raise ValueError(f"unknown TFLite mode {mode!r}; valid: {TFLITE_MODES}")
    settings: dict = {}
    if mode != "fp32":
        settings["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        settings["target_spec"] = {"supported_types": [tf.float16]}
    if mode in ("int8", "int8_io"):
        if calibration is not None:
            settings["representative_dataset"] = representative_dataset(calibration)
        settings["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}
    if mode == "int8_io":
        settings["inference_input_type"] = tf.int8
        settings["inference_output_type"] = tf.int8
    return settings


def tflite_converter(model) -> tf.lite.TFLiteConverter:
    """An fp32 converter of the model's inference function (tf_keras or Keras 3)."""
    return tf.lite.TFLiteConverter.from_concrete_functions([inference_function(model)], _variables_only(model))


def convert_tflite(model, settings: dict) -> bytes:
    converter = tflite_converter(model)
    for name, value in settings.items():
        if name == "target_spec":
            for key, item in value.items():
                setattr(converter.target_spec, key, item)
        else:
            setattr(converter, name, value)
    try:
        return converter.convert()
    except Exception as exc:
        missing = sorted(set(re.findall(r"'(tf\.\w+)' op is neither a custom op nor a flex op", str(exc))))
        if missing:
            raise NotApplicable(f"the TFLite converter has no builtin kernel for {', '.join(missing)}") from None
        raise


def to_tflite(model, path: Path, mode: str, calibration: np.ndarray | None = None) -> str | None:
    """Write the model as TFLite in `mode` (converter_settings). Returns what wrote the file where
    there is a choice (Keras 3 models: Keras 3's own exporter first), else None."""
    if is_keras3(model):
        from convbench.optimize import keras3_export

        return keras3_export.to_tflite(model, path, mode, calibration)
    write_bytes_atomic(path, convert_tflite(model, converter_settings(mode, calibration)))
    return None


def _variables_only(model) -> tf.Module:
    """The trackable the converter saves beside the function: only the model's variables.
    Why: given the Keras model itself, the converter's SavedModel round trip walks every
    layer's object graph. Measured on lesson5: 1.6 s -> 0.4 s per fp32 conversion, 4.0 s ->
    1.1 s for a QAT model, with byte-identical output files. Keras 3 wraps each tf.Variable in
    a keras Variable, which the converter does not freeze (NaN outputs): hold the tf.Variable."""
    holder = tf.Module()
    holder.model_variables = [v if isinstance(v, tf.Variable) else v.value for v in model.variables]
    return holder


def to_onnx(model, path: Path) -> str | None:
    """Like to_tflite: Keras 3 models through Keras 3's own ONNX exporter first."""
    if is_keras3(model):
        from convbench.optimize import keras3_export

        return keras3_export.to_onnx(model, path)
    to_onnx_tf2onnx(model, path)
    return None


def to_onnx_tf2onnx(model, path: Path) -> None:
    import tf2onnx

    spec = (tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_function(tf.function(lambda x: model(x, training=False)),
                                             input_signature=spec, opset=ONNX_OPSET)
    write_onnx(path, proto.SerializeToString())


def write_onnx(path: Path, data: bytes) -> None:
    """Write an ONNX model, refusing one that holds ops ONNX does not define: tf2onnx logs a TF op
    it cannot convert ("Tensorflow op [...] is not supported") and copies it into the graph as
    is, and ONNX Runtime then refuses the file (measured: Resizing(interpolation='gaussian')'s
    ScaleAndTranslate)."""
    import onnx

    graph = onnx.load_from_string(data).graph
    unknown = sorted({n.op_type for n in graph.node if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type)})
    if unknown:
        raise NotApplicable(f"tf2onnx cannot convert TensorFlow op(s) {', '.join(unknown)} to ONNX")
    write_bytes_atomic(path, data)


def tflite_to_onnx(tflite_path: Path, path: Path) -> None:
    """An int8 TFLite file becomes a QDQ ONNX model with real int8 weights (converting the QAT
    Keras model instead would give fake-quant on activations and float weights)."""
    import tf2onnx

    proto, _ = tf2onnx.convert.from_tflite(str(tflite_path), opset=ONNX_OPSET)
    write_onnx(path, proto.SerializeToString())


def onnx_dynamic(fp32_path: Path, path: Path) -> None:
    """int8 weights, activations quantized on the fly (ORT's quantize_dynamic)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with scratch(path) as tmp:
        quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8)
        write_bytes_atomic(path, tmp.read_bytes())


def onnx_static_qdq(fp32_path: Path, path: Path, calibration: np.ndarray) -> None:
    """Static QDQ: uint8 activations, int8 per-channel weights (u8s8 runs near fp32 speed on
    CPUs without VNNI; s8s8 was 5-6x slower there), ranges calibrated on train samples."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = onnx.load(str(fp32_path)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{input_name: calibration[i:i + 1]} for i in range(len(calibration))])

        def get_next(self):
            return next(self.batches, None)

    with scratch(path) as tmp, scratch(path, ".pre.onnx") as pre:
        quant_pre_process(str(fp32_path), str(pre))
        quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        write_bytes_atomic(path, tmp.read_bytes())


def onnx_fp16(fp32_path: Path, path: Path) -> None:
    """fp16 weights and compute; float32 inputs/outputs kept so callers need no change."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    write_bytes_atomic(path, model.SerializeToString())


@contextlib.contextmanager
def scratch(path: Path, suffix: str = ".onnx") -> Iterator[Path]:
    """A temp file beside `path` for tools that insist on writing a file themselves."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=Path(path).parent, prefix=".scratch-", suffix=suffix)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


@dataclass(frozen=True)
class ExportInputs:
    """What an exporter may read besides the file it converts from."""

    model: Any                                   # the variant's tf_keras or Keras 3 model
    calibration: np.ndarray                      # train images for int8 ranges
    validation: tuple[np.ndarray, np.ndarray] | None = None   # the selective search chooses on it
    budget_pp: float = 0.5                       # selective: accuracy it may lose vs fp32 (pp)
    error_images: int = 64                       # selective: validation images for per-layer errors


@dataclass(frozen=True)
class Exported:
    """What an exporter says about the file it wrote, beyond its bytes."""

    exported_by: str | None = None
    selection: SelectiveSearch | None = None


@dataclass(frozen=True)
class Exporter:
    """make(inputs, out_path, source_path) -> Exported: source_path is the file of format `source`
    (made first, in the same folder), or None when the exporter converts the model."""

    make: Callable[[ExportInputs, Path, Path | None], Exported]
    source: str | None = None


def _tflite(mode: str) -> Exporter:
    return Exporter(lambda inputs, path, _: Exported(to_tflite(inputs.model, path, mode, inputs.calibration)))


def _litert_quantizer(recipe: str) -> Exporter:
    def make(inputs: ExportInputs, path: Path, fp32_path: Path) -> Exported:
        from convbench.optimize import litert_quantizer

        litert_quantizer.quantize(fp32_path, path, recipe, inputs.calibration)
        return Exported()

    return Exporter(make, "tflite_fp32")


def _selective(quantizer: str) -> Exporter:
    def make(inputs: ExportInputs, path: Path, fp32_path: Path) -> Exported:
        from convbench.optimize import selective

        return Exported(selection=selective.build(quantizer, inputs, path, fp32_path))

    return Exporter(make, "tflite_fp32")


EXPORTERS: dict[str, Exporter] = {
    **{f"tflite_{mode}": _tflite(mode) for mode in TFLITE_MODES},
    "onnx_fp32": Exporter(lambda inputs, path, _: Exported(to_onnx(inputs.model, path))),
    "onnx_int8": Exporter(lambda inputs, path, src: Exported(tflite_to_onnx(src, path)), "tflite_int8"),
    "onnx_dynamic": Exporter(lambda inputs, path, src: Exported(onnx_dynamic(src, path)), "onnx_fp32"),
    "onnx_static_qdq": Exporter(lambda inputs, path, src: Exported(onnx_static_qdq(src, path, inputs.calibration)),
                                "onnx_fp32"),
    "onnx_fp16": Exporter(lambda inputs, path, src: Exported(onnx_fp16(src, path)), "onnx_fp32"),
    "lrq_weight_int8": _litert_quantizer("weight_only_int8"),
    "lrq_dynamic_int8": _litert_quantizer("dynamic_int8"),
    "lrq_int8": _litert_quantizer("static_int8"),
    "selective_int8": _selective("tflite_converter"),
    "lrq_selective_int8": _selective("litert_quantizer"),
}
