"""Converters: tf_keras model -> TFLite (fp32, dynamic range, fp16, int8, int8 I/O) and ONNX;
int8 TFLite -> int8 ONNX; fp32 ONNX -> ONNX Runtime's dynamic / static QDQ / fp16 models; and
EXPORTERS, the registry that says which converter makes each format of convbench/formats.py.

Every converter writes bytes to a path atomically; none loads or evaluates (the optimize stage
verifies each file through the runtime registry).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from convbench.fsutil import write_bytes_atomic
from convbench.tfsetup import keras, tf

ONNX_OPSET = 17          # tf2onnx 1.17 supports opsets 11-18
TFLITE_MODES = ("fp32", "dynamic", "fp16", "int8", "int8_io")


def inference_function(model: keras.Model) -> tf.types.experimental.ConcreteFunction:
    """The model traced with training=False and a free batch dimension. Converting this
    (not model.export) keeps random augmentation and Dropout out of the graph."""
    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="input")
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)


def to_tflite(model: keras.Model, path: Path, mode: str, calibration: np.ndarray | None = None) -> None:
    """fp32; dynamic = int8 weights, float activations; fp16 = fp16 weights; int8 = full
    integer with float I/O; int8_io = full integer with int8 input and output tensors.
    A QAT model converts with mode int8: its fake-quant ranges are used, but the converter
    still refuses full-integer conversion without a representative dataset."""
    if mode not in TFLITE_MODES:
        raise ValueError(f"unknown TFLite mode {mode!r}; valid: {TFLITE_MODES}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([inference_function(model)], _variables_only(model))
    if mode != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if mode in ("int8", "int8_io"):
        if calibration is not None:
            converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if mode == "int8_io":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    write_bytes_atomic(path, converter.convert())


def _variables_only(model: keras.Model) -> tf.Module:
    """The trackable the converter saves beside the function: only the model's variables.
    Why: given the Keras model itself, the converter's SavedModel round trip walks every
    layer's object graph. Measured on lesson5: 1.6 s -> 0.4 s per fp32 conversion, 4.0 s ->
    1.1 s for a QAT model, with byte-identical output files."""
    holder = tf.Module()
    holder.model_variables = list(model.variables)
    return holder


def to_onnx(model: keras.Model, path: Path) -> None:
    import tf2onnx

    spec = (tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_function(tf.function(lambda x: model(x, training=False)),
                                             input_signature=spec, opset=ONNX_OPSET)
    write_bytes_atomic(path, proto.SerializeToString())


def tflite_to_onnx(tflite_path: Path, path: Path) -> None:
    """An int8 TFLite file becomes a QDQ ONNX model with real int8 weights (converting the QAT
    Keras model instead would give fake-quant on activations and float weights)."""
    import tf2onnx

    proto, _ = tf2onnx.convert.from_tflite(str(tflite_path), opset=ONNX_OPSET)
    write_bytes_atomic(path, proto.SerializeToString())


def onnx_dynamic(fp32_path: Path, path: Path) -> None:
    """int8 weights, activations quantized on the fly (ORT's quantize_dynamic)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _scratch(path) as tmp:
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

    with _scratch(path) as tmp, _scratch(path, ".pre.onnx") as pre:
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
def _scratch(path: Path, suffix: str = ".onnx") -> Iterator[Path]:
    """A temp file beside `path` for tools that insist on writing a file themselves."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=Path(path).parent, prefix=".scratch-", suffix=suffix)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


@dataclass(frozen=True)
class Exporter:
    """make(model, out_path, calibration, source_path): source_path is the file of format
    `source` (made first, in the same folder), or None when the exporter converts the model."""

    make: Callable[..., None]
    source: str | None = None


def _tflite(mode: str) -> Exporter:
    return Exporter(lambda model, path, calibration, _: to_tflite(model, path, mode, calibration))


EXPORTERS: dict[str, Exporter] = {
    **{f"tflite_{mode}": _tflite(mode) for mode in TFLITE_MODES},
    "onnx_fp32": Exporter(lambda model, path, calibration, _: to_onnx(model, path)),
    "onnx_int8": Exporter(lambda model, path, calibration, src: tflite_to_onnx(src, path), "tflite_int8"),
    "onnx_dynamic": Exporter(lambda model, path, calibration, src: onnx_dynamic(src, path), "onnx_fp32"),
    "onnx_static_qdq": Exporter(lambda model, path, calibration, src: onnx_static_qdq(src, path, calibration),
                                "onnx_fp32"),
    "onnx_fp16": Exporter(lambda model, path, calibration, src: onnx_fp16(src, path), "onnx_fp32"),
}
