"""The one registry of optimization variants. A variant = a technique applied to a parent
model (the trained fp32 model, or another variant) + the artifact formats exported from it.
Add a variant by adding one entry here."""

from __future__ import annotations

from dataclasses import dataclass, field

from convbench.core.errors import UserError
from convbench.core.formats import FORMATS, fp32_format
from convbench.optimize.techniques import TECHNIQUES, FineTune

PRUNE_TUNE = FineTune(epochs=2, learning_rate=1e-3)      # TFMOT's pruning guide: 2 epochs, Adam default
CLUSTER_TUNE = FineTune(epochs=1, learning_rate=1e-4)
QAT_TUNE = FineTune(epochs=1, learning_rate=1e-4)


@dataclass(frozen=True)
class Variant:
    name: str
    technique: str                       # key of techniques.TECHNIQUES; "none" = the parent as is
    exports: tuple[str, ...]
    params: dict = field(default_factory=dict)
    parent: str | None = None            # None: the trained fp32 model
    finetune: FineTune | None = None
    summary: str = ""

    def __post_init__(self) -> None:
        assert self.technique in TECHNIQUES, f"{self.name}: unknown technique {self.technique!r}"
        assert all(f in FORMATS for f in self.exports), f"{self.name}: unknown format in {self.exports}"


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    # Every post-training format is a variant of its own name (convbench/formats.py).
    *(Variant(f.name, "none", (f.name,), summary=f.post_training) for f in FORMATS.values() if f.post_training),
    Variant("pruned_50", "prune", ("tflite_fp32", "tflite_int8", "onnx_fp32"), {"final_sparsity": 0.5},
            finetune=PRUNE_TUNE, summary="magnitude pruning to 50 %, polynomial schedule"),
    Variant("pruned_80", "prune", ("tflite_fp32", "tflite_int8", "onnx_fp32"), {"final_sparsity": 0.8},
            finetune=PRUNE_TUNE, summary="magnitude pruning to 80 %, polynomial schedule"),
    Variant("pruned_2of4", "prune", ("tflite_fp32", "tflite_int8", "onnx_fp32"), {"m_by_n": [2, 4]},
            finetune=PRUNE_TUNE, summary="structured 2:4 sparsity"),
    # Per tensor, TFMOT's default. Per channel costs a fixed ~20 s per model in the first training
    # step (TFMOT builds its graph with a Python loop per output channel) for the same accuracy on
    # these convnets (docs/measurements): it is the opt-in variant below.
    Variant("clustered_16", "cluster", ("tflite_fp32", "tflite_int8", "onnx_fp32"),
            {"clusters": 16, "per_channel": False}, finetune=CLUSTER_TUNE,
            summary="16 clusters per kernel (per tensor, TFMOT's default)"),
    Variant("clustered_16_per_channel", "cluster", ("tflite_fp32", "tflite_int8", "onnx_fp32"),
            {"clusters": 16, "per_channel": True}, finetune=CLUSTER_TUNE,
            summary="16 clusters per output channel for Conv2D, per kernel for Dense"),
    Variant("sparse_clustered_16", "cluster", ("tflite_fp32", "tflite_int8", "onnx_fp32"),
            # Per-tensor: per-channel k-means++ needs >= 16 non-zero weights in every channel,
            # which a pruned 5x5x1 first conv does not have (TFMOT fails: "8 vs 5").
            {"clusters": 16, "per_channel": False, "preserve_sparsity": True}, parent="pruned_50",
            finetune=CLUSTER_TUNE, summary="sparsity-preserving clustering of pruned_50 (per tensor)"),
    Variant("qat", "qat", ("tflite_int8", "onnx_int8"), finetune=QAT_TUNE,
            summary="quantization-aware training, int8"),
    Variant("pqat", "qat", ("tflite_int8", "onnx_int8"), {"preserve": "sparsity"}, parent="pruned_50",
            finetune=QAT_TUNE, summary="sparsity-preserving QAT of pruned_50"),
    Variant("cqat", "qat", ("tflite_int8", "onnx_int8"), {"preserve": "clusters"}, parent="clustered_16",
            finetune=QAT_TUNE, summary="cluster-preserving QAT of clustered_16"),
    Variant("pcqat", "qat", ("tflite_int8", "onnx_int8"), {"preserve": "sparse_clusters"},
            parent="sparse_clustered_16", finetune=QAT_TUNE,
            summary="sparsity- and cluster-preserving QAT of sparse_clustered_16"),
)}


# What `optimize` and `run` make unless --variants names others: every post-training format (a
# conversion each, seconds) and one variant of each fine-tuning technique (pruning, clustering,
# QAT): what the report's first screen and its notes read. The other sparsities, 2:4 and the
# collaborative chains (PQAT, CQAT, PCQAT, sparsity-preserving clustering) fine-tune for about
# two thirds of a full optimize's time and answer narrower questions: `--variants all` adds them.
ALL = "all"
DEFAULT_VARIANTS = (*(name for name, v in VARIANTS.items() if v.technique == "none"), "pruned_80", "clustered_16",
                    "qat")

# resolve_variants returns registry order, which must list every parent before its children.
assert all(list(VARIANTS).index(v.parent) < list(VARIANTS).index(v.name) for v in VARIANTS.values() if v.parent)


def is_parent(name: str) -> bool:
    """Whether another registry variant starts from this one (then its Keras model is kept:
    saving it costs seconds, and only parents need it)."""
    return any(v.parent == name for v in VARIANTS.values())


def resolve_variants(names: list[str] | None) -> list[Variant]:
    """The requested variants (none: DEFAULT_VARIANTS; "all": every one) plus their parents and
    the fp32 files their quantized files are compared with (layer_errors.py), in registry order
    (parents come first). Unknown names -> UserError."""
    names = list(VARIANTS) if ALL in (names or ()) else list(names or DEFAULT_VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise UserError(f"unknown variant(s) {', '.join(unknown)}; valid: {', '.join(VARIANTS)} (or {ALL})")
    chosen: set[str] = set()

    def add(name: str) -> None:
        chosen.add(name)
        variant = VARIANTS[name]
        if variant.parent:
            add(variant.parent)
        for fmt in variant.exports:
            reference = fp32_format(FORMATS[fmt].family)
            if FORMATS[fmt].precision != "fp32" and reference in VARIANTS and reference not in chosen:
                add(reference)

    for name in names:
        add(name)
    return [v for name, v in VARIANTS.items() if name in chosen]
