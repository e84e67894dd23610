"""Records of a quantized artifact's error: each layer against its fp32 parent (written by optimize,
read by the report), and how a selective int8 file chose the layers it keeps float."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field


@dataclass(kw_only=True)
class LayerError:
    """One layer's output in a quantized artifact against the same layer of its fp32 parent,
    on the same validation images (optimize/layer_errors.py says which fp32 file)."""

    name: str                          # the layer's output tensor (node) name in the fp32 parent
    op_type: str
    matched_by: str                    # how the two graphs' layers were paired (name, op order)
    snr_db: float | None               # signal-to-noise ratio; None: identical outputs (infinite)
    rel_l2: float                      # ||q - f|| / ||f||
    max_abs: float


@dataclass(kw_only=True)
class RankedLayer:
    """A layer of the full int8 file, ranked by the error it adds (selective quantization)."""

    name: str                          # op output tensor name in the fp32 file (what quantizers select by)
    op_type: str
    added_rel_l2: float                # its output's rel. L2 error minus the largest of its inputs'


@dataclass(kw_only=True)
class SelectionStep:
    """One try of the selective search: these layers kept float gave this validation accuracy."""

    float_layers: list[str]
    val_accuracy: Annotated[float, Field(ge=0.0, le=1.0)]
    within_budget: bool


@dataclass(kw_only=True)
class SelectiveSearch:
    """How a selective int8 file was chosen: from full int8, the layers adding the most error kept
    float one at a time until validation accuracy is within budget_pp of fp32's. Chosen on the
    validation split; the artifact's verification holds its held-out test accuracy."""

    quantizer: str                     # tflite_converter | litert_quantizer
    budget_pp: float
    fp32_val_accuracy: Annotated[float, Field(ge=0.0, le=1.0)]
    full_int8_val_accuracy: Annotated[float, Field(ge=0.0, le=1.0)]
    full_int8_bytes: int
    float_layers: list[str]            # the layers that stayed float in the file
    val_accuracy: Annotated[float, Field(ge=0.0, le=1.0)]
    met_budget: bool                   # False: every ranked layer float still missed the budget
    ranking: list[RankedLayer] = field(default_factory=list)
    trace: list[SelectionStep] = field(default_factory=list)
