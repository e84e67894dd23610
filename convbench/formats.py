"""The one registry of artifact formats: what family of file each is (which runtimes load it),
its file suffix, the precision its kernels compute in, and whether it is also a post-training
variant of its own. How each is produced lives in optimize/export.py (EXPORTERS, same keys).

Add a format: one entry here and one exporter in optimize/export.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convbench.errors import UserError

SUFFIXES = {"keras": ".keras", "tflite": ".tflite", "onnx": ".onnx"}


@dataclass(frozen=True)
class Format:
    name: str
    family: str              # keras | tflite | onnx: which runtimes can load it
    precision: str           # what its main kernels compute in: fp32 | int8 | fp16
    post_training: str = ""  # non-empty: also a variant of the same name (this is its summary)

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.family]


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("keras", "keras", "fp32"),
    Format("tflite_fp32", "tflite", "fp32", "baseline: fp32 TFLite"),
    Format("onnx_fp32", "onnx", "fp32", "baseline: fp32 ONNX (tf2onnx)"),
    Format("tflite_dynamic", "tflite", "int8", "post-training dynamic range: int8 weights, float activations"),
    Format("tflite_fp16", "tflite", "fp16", "post-training float16 weights"),
    Format("tflite_int8", "tflite", "int8", "post-training full integer, float I/O, calibrated on train samples"),
    Format("tflite_int8_io", "tflite", "int8", "post-training full integer with int8 input and output"),
    Format("onnx_int8", "onnx", "int8"),     # tf2onnx from the int8 TFLite (QAT variants)
    Format("onnx_dynamic", "onnx", "int8", "ONNX Runtime dynamic quantization (int8 weights)"),
    Format("onnx_static_qdq", "onnx", "int8", "ONNX Runtime static QDQ quantization, calibrated on train samples"),
    Format("onnx_fp16", "onnx", "fp16", "ONNX float16 conversion"),
    # The selective search keeps the layers adding the most int8 error float until validation
    # accuracy is within the budget of fp32's (optimize/selective.py).
    Format("selective_int8", "tflite", "int8",
           "full integer with the worst layers kept float until within the accuracy budget (TFLite converter)"),
    # The LiteRT Quantizer (ai-edge-quantizer): recipes applied op by op to the fp32 .tflite.
    Format("lrq_weight_int8", "tflite", "int8", "LiteRT Quantizer weight-only int8 (float compute)"),
    Format("lrq_dynamic_int8", "tflite", "int8", "LiteRT Quantizer dynamic range: int8 weights, activations on the fly"),
    Format("lrq_int8", "tflite", "int8", "LiteRT Quantizer static int8, float I/O, calibrated on train samples"),
    Format("lrq_selective_int8", "tflite", "int8",
           "LiteRT Quantizer static int8 with the worst layers kept float until within the accuracy budget"),
)}


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise UserError(f"unknown artifact format {name!r}; valid: {', '.join(FORMATS)}")
    return FORMATS[name]


def family(name: str) -> str:
    """'keras', 'tflite' or 'onnx': what kind of file an artifact format is."""
    return get_format(name).family


def file_name(name: str) -> str:
    """The file an exporter writes for format `name` inside its folder."""
    return f"{name}{get_format(name).suffix}"


def family_of_path(path: Path) -> str:
    """'keras' (.keras/.h5 file or a SavedModel folder), 'tflite' or 'onnx', from the path."""
    path = Path(path)
    if path.is_dir() and (path / "saved_model.pb").exists():
        return "keras"
    by_suffix = {".h5": "keras", **{suffix: fam for fam, suffix in SUFFIXES.items()}}
    if path.suffix not in by_suffix:
        raise UserError(f"{path}: unknown artifact type {path.suffix!r}; expected one of {sorted(by_suffix)}")
    return by_suffix[path.suffix]
