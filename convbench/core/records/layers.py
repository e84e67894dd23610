"""Records of the layers suite: one artifact's per-layer latency at batch 1 (time, share, ops,
achieved ops/s per layer) and how well the layers add up to the whole model timed the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from convbench.core.records.results import RowBase


@dataclass(kw_only=True)
class LayerTiming:
    """One operator (TFLite) or node of the optimized graph (ONNX Runtime), in execution order."""

    index: int
    name: str                          # TFLite: output tensor name; ONNX: node name
    op_type: str
    time_us: float                     # minus the per-call overhead (see LayerProfileResult.method)
    share: float                       # time_us / whole_us
    ops: int                           # real-pixel ops (records.roofs.OPS_COUNT); 0: not a conv/dense layer
    ops_dense: int                     # every tap, the zero-padded border included

    @property
    def ops_per_s(self) -> float | None:
        return self.ops / (self.time_us * 1e-6) if self.ops and self.time_us > 0 else None


@dataclass(kw_only=True)
class LayerProfileResult(RowBase):
    kind: Literal["layers"] = "layers"
    method: str                        # how the layers were timed, and what was subtracted
    layers: list[LayerTiming]
    whole_us: float                    # median of the whole model, timed without any profiler
    overhead_us: float                 # one call's fixed cost (a one-element model)
    layers_sum_us: float
    sum_ratio: float                   # (layers_sum_us + overhead_us) / whole_us: 1.0 when the parts add up
    tolerance: float                   # |sum_ratio - 1| allowed before the row fails
    ops_count: str = ""                # records.roofs.OPS_COUNT
    notes: list[str] = field(default_factory=list)
    kernels_only: bool = False         # the method times kernels only: only a sum above the whole fails

    @property
    def passed(self) -> bool:
        excess = self.sum_ratio - 1
        return (excess if self.kernels_only else abs(excess)) <= self.tolerance

    @property
    def ops(self) -> int:
        return sum(layer.ops for layer in self.layers)

    @classmethod
    def of(cls, identity: dict, *, layers: list[LayerTiming], whole_us: float, overhead_us: float, **rest):
        layers_sum_us = sum(layer.time_us for layer in layers)
        return cls(**identity, layers=layers, whole_us=whole_us, overhead_us=overhead_us, layers_sum_us=layers_sum_us,
                   sum_ratio=(layers_sum_us + overhead_us) / whole_us, **rest)
