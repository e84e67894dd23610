"""Which technique families can apply to a user's model, and why not where one cannot: plain data
for the manifest and the report, decided before any work starts. A family that "applies" here can
still fail when it runs (an op tf2onnx cannot convert): that is recorded as a failure, not a skip.

Families (variant registry names they cover):
  tflite_converter  tflite_fp32/_dynamic/_fp16/_int8/_int8_io (tf.lite.TFLiteConverter)
  onnx              onnx_fp32 and the ONNX Runtime quantizations made from it; onnx_int8 from tflite_int8
  prune             pruned_50, pruned_80, pruned_2of4 (TFMOT)
  cluster           clustered_16, sparse_clustered_16 (TFMOT)
  qat               qat, pqat, cqat, pcqat (TFMOT)
  selective_int8    int8 with the worst layers kept float (selective.py), converter and LiteRT Quantizer
  litert_quantizer  ai-edge-quantizer recipes on the fp32 .tflite (litert_quantizer.py)
"""

from __future__ import annotations

import importlib.util

from convbench.optimize.own_model import OwnModel

APPLIES = "applies"
FAMILIES = ("tflite_converter", "onnx", "prune", "cluster", "qat", "selective_int8", "litert_quantizer")
WRAPPED_KINDS = ("Conv2D", "Dense")   # what techniques.py wraps for pruning, clustering and QAT


def technique_support(own: OwnModel, model) -> dict[str, str]:
    """{family: "applies" | the reason it does not}, for every family in FAMILIES."""
    support = {family: APPLIES for family in FAMILIES}
    tfmot_reason = _tfmot_reason(own, model)
    for family in ("prune", "cluster"):
        support[family] = tfmot_reason or _wrappable_reason(model, trainable_only=True) or APPLIES
    support["qat"] = tfmot_reason or _wrappable_reason(model, trainable_only=False) or _chain_reason(model) or APPLIES
    if importlib.util.find_spec("ai_edge_quantizer") is None:
        support["litert_quantizer"] = "ai-edge-quantizer is not installed"
    return support


def skipped(support: dict[str, str]) -> dict[str, str]:
    """Only the families that do not apply, with their reasons."""
    return {family: why for family, why in support.items() if why != APPLIES}


def _tfmot_reason(own: OwnModel, model) -> str | None:
    if own.framework == "keras3":
        return "saved by Keras 3: TFMOT wraps only tf_keras (Keras 2) models"
    if own.framework == "tf_saved_model":
        return "a SavedModel without Keras metadata (e.g. Keras 3's export()): no Keras layers for TFMOT to wrap"
    if not getattr(model, "_is_graph_network", False) and type(model).__name__ != "Sequential":
        return "a subclassed tf_keras model: TFMOT's wrappers need a Sequential or functional model"
    return None


def _leaf_layers(model, trainable: bool = True):
    """(layer, effectively trainable) for every non-model layer, nested models inlined; a layer
    inside a frozen nested model is frozen whatever its own flag says."""
    for layer in model.layers:
        if hasattr(layer, "layers") and hasattr(layer, "outputs"):
            yield from _leaf_layers(layer, trainable and layer.trainable)
        else:
            yield layer, trainable and layer.trainable


def _wrappable_reason(model, trainable_only: bool) -> str | None:
    kinds = [(type(layer).__name__, trainable) for layer, trainable in _leaf_layers(model)]
    if not any(kind in WRAPPED_KINDS for kind, _ in kinds):
        return "no Conv2D or Dense layer: convbench's TFMOT techniques wrap only those"
    if trainable_only and not any(kind in WRAPPED_KINDS and trainable for kind, trainable in kinds):
        return ("every Conv2D/Dense layer is frozen: fine-tuning would never update their pruning masks "
                "or cluster centroids")
    return None


def _chain_reason(model) -> str | None:
    """convbench's QAT inlines nested models into one Sequential (quantize_apply cannot see inside
    nested models), which is only right when the layers form a single chain."""
    if not _is_chain(model):
        return "the layers are not a single chain (branches or skip connections): convbench's QAT flattens the model into a Sequential"
    return None


def _is_chain(model) -> bool:
    nested = [layer for layer in model.layers if hasattr(layer, "layers") and hasattr(layer, "outputs")]
    if not all(_is_chain(inner) for inner in nested):
        return False
    if type(model).__name__ == "Sequential":
        return True
    for layer in model.layers:
        nodes = getattr(layer, "_inbound_nodes", [])
        if len(nodes) > 1:                         # a shared layer, called twice
            return False
        parents = nodes[0].inbound_layers if nodes else []
        parents = parents if isinstance(parents, (list, tuple)) else [parents]
        if len(parents) > 1 or len(getattr(layer, "_outbound_nodes", [])) > 1:
            return False
    return True
