"""Float <-> integer tensors at the edge of a full-integer TFLite model, using the tensor's own
(scale, zero point) as the converter wrote them. Shared by the optimize-time accuracy pass and
the LiteRT benchmark runtime; imports nothing heavy (no TensorFlow)."""

from __future__ import annotations

import numpy as np


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """x unchanged for a float input tensor, else round(x / scale) + zero_point, clipped."""
    if detail["dtype"] not in (np.int8, np.uint8):
        return x
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(detail["dtype"])


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """float32 scores: (y - zero_point) * scale for an integer output tensor."""
    if detail["dtype"] not in (np.int8, np.uint8):
        return np.asarray(y, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)
