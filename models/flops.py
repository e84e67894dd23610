"""Analytic FLOP count of a Keras model, walked layer by layer (nested models included).

Convention: one multiply-add = 2 FLOPs, counted for Conv2D, DepthwiseConv2D and Dense from
their kernel and output shapes; bias adds, activations, pooling and BatchNorm are not counted
(they are <1 % of the work in these convnets). Numbers are per image (batch 1).
"""

from __future__ import annotations

import math


def count_flops(model) -> int:
    """model: a tf_keras or a Keras 3 model (users' own models may be either)."""
    total = 0
    for layer in model.layers:
        if is_model(layer):
            total += count_flops(layer)
        else:
            total += layer_flops(layer)
    return total


def is_model(layer) -> bool:
    """A nested model, in tf_keras or Keras 3."""
    return hasattr(layer, "layers") and hasattr(layer, "outputs")


def is_kind(layer, kind: str) -> bool:
    """isinstance by class name, so that tf_keras and Keras 3 layers both count (their classes
    differ: tf_keras.layers.Conv2D is not keras.layers.Conv2D)."""
    return any(cls.__name__ == kind for cls in type(layer).__mro__)


def layer_flops(layer) -> int:
    # Wrapped layers (pruning/clustering/QAT) keep the original under `.layer`.
    inner = getattr(layer, "layer", layer)
    if is_kind(inner, "DepthwiseConv2D"):
        kh, kw = inner.kernel_size
        _, oh, ow, oc = _output_shape(layer)
        return 2 * oh * ow * oc * kh * kw
    if is_kind(inner, "Conv2D"):
        kh, kw = inner.kernel_size
        in_channels = _input_shape(layer)[-1]
        _, oh, ow, oc = _output_shape(layer)
        return 2 * oh * ow * oc * kh * kw * in_channels // inner.groups
    if is_kind(inner, "Dense"):
        in_features = _input_shape(layer)[-1]
        out_shape = _output_shape(layer)
        positions = math.prod(d for d in out_shape[1:-1]) if len(out_shape) > 2 else 1
        return 2 * in_features * inner.units * positions
    return 0


def _input_shape(layer) -> tuple:
    return tuple(layer.input.shape)


def _output_shape(layer) -> tuple:
    return tuple(layer.output.shape)
