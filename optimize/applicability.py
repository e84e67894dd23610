"""Which of the registry's techniques can apply to a model, and why not where one cannot: decided
before any work starts, for lesson convnets and users' own models alike. A technique that cannot
apply is recorded as skipped (with this reason) in the manifest and the report, not as a failure.

Post-training conversion (technique "none") applies to every model convbench loads; a converter
that meets an op it has no kernel for says so when it runs (errors.NotApplicable, export.py).
"""

from __future__ import annotations

from convbench.core.tfsetup import is_keras3

WRAPPED_KINDS = ("Conv2D", "Dense")   # what techniques.py wraps for pruning, clustering and QAT


def not_applicable(model) -> dict[str, str]:
    """{technique name: why it cannot apply} for the techniques of techniques.TECHNIQUES that
    cannot apply to `model` (the training model: tf_keras or Keras 3)."""
    reasons = {}
    tfmot = _tfmot_reason(model)
    for technique in ("prune", "cluster"):
        reason = tfmot or _wrappable_reason(model, trainable_only=True)
        if reason:
            reasons[technique] = reason
    reason = tfmot or _wrappable_reason(model, trainable_only=False) or _chain_reason(model)
    if reason:
        reasons["qat"] = reason
    return reasons


def _tfmot_reason(model) -> str | None:
    if is_keras3(model):
        return "saved by Keras 3: TFMOT wraps only tf_keras (Keras 2) models"
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
        return ("the layers are not a single chain (branches or skip connections): convbench's QAT "
                "flattens the model into a Sequential")
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
