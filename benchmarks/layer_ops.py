"""Operation counts of one convolution or matrix-multiply layer from its shapes, shared by the
TFLite and ONNX per-layer profilers (and the roof probes).

Convention: one multiply-accumulate (MAC) = 2 ops, for float and integer kernels alike; bias
adds, activations, pooling, requantization and softmax are not counted (they are cheap and
their cost is not a fixed op count). Two counts per convolution:

- `ops_dense`: out_h * out_w * out_c * kh * kw * (in_c / groups) * 2, every tap of every
  output pixel, including taps that fall on the zero-padded border of a 'SAME' convolution.
  This is what models/flops.py counts and what an im2col/indirection kernel (XNNPACK's IGEMM,
  MLAS's im2col SGEMM) actually multiplies.
- `ops_real`: only the taps that land on real input pixels. A direct kernel that skips the
  border does exactly these; a kernel that multiplies the zeros does more work than this.

Efficiency uses `ops_real`: it is never more than the work any kernel does, so achieved ops/s
computed from it can only understate a kernel's speed, never overstate it against the roof
(the roof probes are GEMMs without padding, where both counts agree). The dense count is kept
beside it. On lesson5 (28x28 input, 5x5 then 3x3 'same' convs) ops_real is 0.87 of ops_dense.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerOps:
    ops_real: int    # MACs on real input pixels, x2
    ops_dense: int   # every kernel tap incl. the padded border, x2
    kind: str        # "conv", "gemm" or "none"


NO_OPS = LayerOps(0, 0, "none")


def _taps_on_real_pixels(in_size: int, out_size: int, kernel: int, stride: int, pad_before: int,
                         dilation: int) -> int:
    """Sum over output positions of the kernel taps whose input index is inside [0, in_size)."""
    total = 0
    for o in range(out_size):
        start = o * stride - pad_before
        total += sum(1 for k in range(kernel) if 0 <= start + k * dilation < in_size)
    return total


def conv_ops(in_hw: tuple[int, int], out_hw: tuple[int, int], kernel_hw: tuple[int, int],
             strides: tuple[int, int], pads_before: tuple[int, int], dilations: tuple[int, int],
             in_channels_per_group: int, out_channels: int, batch: int = 1) -> LayerOps:
    """A 2-D convolution (grouped and depthwise included: in_channels_per_group is 1 for a
    depthwise conv and out_channels counts every output channel)."""
    taps = [_taps_on_real_pixels(in_hw[d], out_hw[d], kernel_hw[d], strides[d], pads_before[d], dilations[d])
            for d in (0, 1)]
    per_tap = 2 * out_channels * in_channels_per_group * batch
    dense = per_tap * out_hw[0] * out_hw[1] * kernel_hw[0] * kernel_hw[1]
    return LayerOps(per_tap * taps[0] * taps[1], dense, "conv")


def conv_output_size(in_size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    return (in_size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(in_size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's 'SAME': output = ceil(in / stride), the extra padding goes after."""
    out = -(-in_size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - in_size, 0)
    return total // 2, total - total // 2


def gemm_ops(rows: int, inner: int, cols: int) -> LayerOps:
    """(rows x inner) @ (inner x cols): a fully connected layer has rows = batch (x positions)."""
    ops = 2 * rows * inner * cols
    return LayerOps(ops, ops, "gemm")


def rows_of(shape, inner: int) -> int:
    """Rows of a matmul whose left operand has `shape` and contraction size `inner`."""
    return math.prod(int(d) for d in shape) // max(inner, 1)
