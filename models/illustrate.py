"""The course's lessons 2-4 as arrays, computed where TensorFlow is already loaded (training) so
that the report can draw them without it: a real held-out image, the trained first-layer
kernels, the image after convolution (filter), ReLU (detect) and 2x2 max pooling (condense),
and the first kernel slid with different strides and paddings (the sliding window)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from convbench.core.fsutil import write_bytes_atomic
from convbench.models.flops import is_kind, is_model
from convbench.core.tfsetup import tf

STRIDES = ((1, "SAME"), (2, "SAME"), (2, "VALID"), (3, "VALID"))


def first_conv(model):
    """The first Conv2D layer, looking inside nested models (lesson 1's base); tf_keras or Keras 3."""
    for layer in model.layers:
        if is_model(layer):
            found = first_conv(layer)
            if found is not None:
                return found
        elif is_kind(layer, "Conv2D") and not is_kind(layer, "DepthwiseConv2D"):
            return layer
    return None


def illustration_arrays(model, image: np.ndarray, class_name: str) -> dict[str, np.ndarray] | None:
    conv = first_conv(model)
    if conv is None:
        return None
    kernel, bias = conv.get_weights()[:2]
    x = tf.constant(image[None].astype(np.float32))
    filtered = tf.nn.conv2d(x, kernel, strides=conv.strides, padding=conv.padding.upper()) + bias
    relu = tf.nn.relu(filtered)
    arrays = {"image": image.astype(np.float32), "class_name": np.array(class_name), "kernels": kernel,
              "conv": filtered.numpy()[0], "relu": relu.numpy()[0],
              "pool": tf.nn.max_pool2d(relu, ksize=2, strides=2, padding="VALID").numpy()[0]}
    for stride, padding in STRIDES:
        out = tf.nn.relu(tf.nn.conv2d(x, kernel[..., :1], strides=stride, padding=padding) + bias[:1])
        arrays[f"stride_{stride}_{padding.lower()}"] = out.numpy()[0, :, :, 0]
    return arrays


def write_illustrations(path: Path, model, image: np.ndarray, class_name: str) -> bool:
    """Write the arrays as one .npz (atomically); False when the model has no Conv2D."""
    arrays = illustration_arrays(model, image, class_name)
    if arrays is None:
        return False
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())
    return True
