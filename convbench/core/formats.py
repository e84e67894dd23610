"""The one registry of artifact formats: what family of file each is (which runtimes load it),
its file suffix, the precision its kernels compute in, and whether it is also a post-training
variant of its own. How each is produced lives in optimize/export.py (EXPORTERS, same keys).

Add a format: one entry here and one exporter in optimize/export.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convbench.core.errors import UserError

SUFFIXES = {"keras": ".keras", "tflite": ".tflite", "onnx": ".onnx"}

# The baselines, named once: per family the plain fp32 conversion and the calibrated int8 file
# that the notes, the per-layer tables, the audits and the thread-scaling rows compare.
TFLITE_FP32, TFLITE_INT8 = "tflite_fp32", "tflite_int8"
ONNX_FP32, ONNX_INT8 = "onnx_fp32", "onnx_static_qdq"
FP32_BASELINES = (TFLITE_FP32, ONNX_FP32)
INT8_BASELINES = (TFLITE_INT8, ONNX_INT8)
KERAS_FP32 = "keras_fp32"   # the trained model itself, as a variant (format "keras")


def fp32_format(family: str) -> str | None:
    """A family's fp32 baseline format, which its quantized files are compared with (None for
    keras: the trained model is its own baseline)."""
    return {"tflite": TFLITE_FP32, "onnx": ONNX_FP32}.get(family)


@dataclass(frozen=True)
class Format:
    name: str
    family: str              # keras | tflite | onnx: which runtimes can load it
    precision: str           # what its main kernels compute in: fp32 | int8 | fp16
    post_training: str = ""  # non-empty: also a variant of the same name (this is its summary)
    may_run_in: tuple[str, ...] = ()  # every precision its kernels may compute in (default: precision)
    # The recommendation's tie rule (report/ties.py) prefers fewer: 0 the plain conversions (one
    # converter call with its defaults: the trained model itself, the fp32 and int8 baselines),
    # 1 a converter option or another quantizer, 2 a search that evaluates accuracy layer by layer.
    steps: int = 1

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.family]

    @property
    def kernel_precisions(self) -> tuple[str, ...]:
        """The precisions whose roofs bound this format's rows: a row is divided by the best
        roof among them (convbench.core.records.roofs), so no row can exceed 100 % on any CPU."""
        return self.may_run_in or (self.precision,)


# may_run_in, measured on Zen 5 (ORT 1.32, ai-edge-litert 2.3): fp16 TFLite weights pass through
# DEQUANTIZE (folded at init) and XNNPACK computes fp32 on x86; ORT wraps fp16 nodes that have no
# CPU kernel in Casts around fp32 ones. Dynamic range: XNNPACK runs conv/FC as int8 GEMMs on
# dynamically quantized inputs (lesson5 at int8 speed) and small layers in fp32; ORT's
# ConvInteger/MatMulInteger are int8. ONNX QDQ: ORT fuses what it can into QLinearConv/QGemm and
# leaves the rest as DQ -> fp32 op -> Q, so on a CPU without VNNI (int8 roof below fp32) the fp32
# roof bounds those rows.
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("keras", "keras", "fp32", steps=0),
    Format("tflite_fp32", "tflite", "fp32", "baseline: fp32 TFLite", steps=0),
    Format("onnx_fp32", "onnx", "fp32", "baseline: fp32 ONNX (tf2onnx)", steps=0),
    Format("tflite_dynamic", "tflite", "int8", "post-training dynamic range: int8 weights, float activations",
           ("int8", "fp32")),
    Format("tflite_fp16", "tflite", "fp16", "post-training float16 weights", ("fp16", "fp32")),
    Format("tflite_int8", "tflite", "int8", "post-training full integer, float I/O, calibrated on train samples",
           steps=0),
    Format("tflite_int8_io", "tflite", "int8", "post-training full integer with int8 input and output"),
    Format("onnx_int8", "onnx", "int8", may_run_in=("int8", "fp32")),  # tf2onnx from the int8 TFLite (QAT variants)
    Format("onnx_dynamic", "onnx", "int8", "ONNX Runtime dynamic quantization (int8 weights)", ("int8", "fp32")),
    Format("onnx_static_qdq", "onnx", "int8", "ONNX Runtime static QDQ quantization, calibrated on train samples",
           ("int8", "fp32"), steps=0),
    Format("onnx_fp16", "onnx", "fp16", "ONNX float16 conversion", ("fp16", "fp32")),
    # The selective search keeps the layers adding the most int8 error float until validation
    # accuracy is within the budget of fp32's (optimize/selective.py): int8 and fp32 kernels.
    Format("selective_int8", "tflite", "int8",
           "full integer with the worst layers kept float until within the accuracy budget (TFLite converter)",
           ("int8", "fp32"), steps=2),
    # The LiteRT Quantizer (ai-edge-quantizer): recipes applied op by op to the fp32 .tflite. Its
    # weight-only files dequantize int8 weights and compute in fp32 (measured: fp32 speed).
    Format("lrq_weight_int8", "tflite", "int8", "LiteRT Quantizer weight-only int8 (float compute)", ("int8", "fp32")),
    Format("lrq_dynamic_int8", "tflite", "int8", "LiteRT Quantizer dynamic range: int8 weights, activations on the fly",
           ("int8", "fp32")),
    Format("lrq_int8", "tflite", "int8", "LiteRT Quantizer static int8, float I/O, calibrated on train samples",
           ("int8", "fp32")),
    Format("lrq_selective_int8", "tflite", "int8",
           "LiteRT Quantizer static int8 with the worst layers kept float until within the accuracy budget",
           ("int8", "fp32"), steps=2),
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
