"""The LiteRT Quantizer (`ai-edge-quantizer`, import `ai_edge_quantizer`) as a second post-training
path beside tf.lite.TFLiteConverter: it quantizes an fp32 .tflite file by recipe, op by op, so
it needs no Keras model and works the same for tf_keras and Keras 3 sources.

API facts (ai-edge-quantizer 0.10.0, checked here): `Quantizer(path_or_bytes)`,
`load_quantization_recipe(recipe.<name>())`, `update_quantization_recipe(regex, operation_name,
algorithm_key=...)`, `calibrate({signature_key: [{input_name: array}, ...]}, num_threads=...)`,
`quantize(calibration).quantized_model` (bytes). A recipe entry's regex is matched with re.search
against an op's "scope": its output tensor names joined by ';' plus a trailing ';'. The last
matching entry wins, so "keep this op float" is an entry with algorithm NO_QUANTIZE after the
recipe. The static recipe makes int8 model inputs and outputs unless the INPUT/OUTPUT virtual ops
are set to NO_QUANTIZE (done here, for float I/O like the converter's tflite_int8).
The project continues as `litert-quantizer` (import `litert_quantizer`), API unchanged.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from convbench.core.fsutil import write_bytes_atomic

# recipe name -> the ai_edge_quantizer.recipe function that builds it
RECIPES = {
    "weight_only_int8": "weight_only_wi8_afp32",   # int8 weights dequantized to float; float compute
    "dynamic_int8": "dynamic_wi8_afp32",           # int8 weights, activations quantized on the fly
    "static_int8": "static_wi8_ai8",               # int8 weights and activations, calibrated
}


def scope_regex(tensor_name: str) -> str:
    """The regex that selects exactly the op whose first output tensor is `tensor_name` (its
    scope starts with the name and a ';'; anchoring keeps 'dense' from matching 'dense_1')."""
    return "^" + re.escape(tensor_name) + ";"


def quantize(fp32_path: Path, out_path: Path, recipe_name: str, calibration: np.ndarray | None = None,
             float_layers=(), num_threads: int = 1) -> None:
    """Quantize an fp32 .tflite by a named recipe into out_path; `float_layers` (op output tensor
    names, as in the fp32 file) stay float. static_int8 needs `calibration` images (N, H, W, C)."""
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe

    if recipe_name not in RECIPES:
        raise ValueError(f"unknown LiteRT Quantizer recipe {recipe_name!r}; valid: {sorted(RECIPES)}")
    qt = quantizer.Quantizer(str(fp32_path))
    qt.load_quantization_recipe(getattr(recipe, RECIPES[recipe_name])())
    no_quantize = algorithm_manager.AlgorithmName.NO_QUANTIZE
    for name in float_layers:
        qt.update_quantization_recipe(regex=scope_regex(name), operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                      algorithm_key=no_quantize)
    if recipe_name == "static_int8":
        for io in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
            qt.update_quantization_recipe(regex=".*", operation_name=io, algorithm_key=no_quantize)
    calibration_result = None
    if qt.need_calibration:
        if calibration is None or len(calibration) == 0:
            raise ValueError(f"recipe {recipe_name} needs calibration images")
        with warnings.catch_warnings():   # its calibrator keeps every tensor on purpose: not our warning
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
            calibration_result = qt.calibrate(_calibration_feed(fp32_path, calibration), num_threads=num_threads)
    result = qt.quantize(calibration_result, enable_progress_report=False)
    write_bytes_atomic(out_path, bytes(result.quantized_model))


def _calibration_feed(fp32_path: Path, images: np.ndarray) -> dict:
    """{signature key: [{input name: one image batch}, ...]} for the file's only signature."""
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_path=str(fp32_path)).get_signature_list()
    if len(signatures) != 1:
        raise ValueError(f"{fp32_path}: expected one signature, found {sorted(signatures)}")
    (key, io), = signatures.items()
    if len(io["inputs"]) != 1:
        raise ValueError(f"{fp32_path}: expected one input, found {io['inputs']}")
    name = io["inputs"][0]
    return {key: [{name: images[i:i + 1].astype(np.float32)} for i in range(len(images))]}
