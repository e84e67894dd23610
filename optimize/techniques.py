"""The Keras-side techniques, all of one shape (TFMOT's): wrap -> fine-tune -> strip.

Each technique takes the parent tf_keras model and returns a plain (stripped) tf_keras model
ready to convert, plus what it wrapped, what it left out and why. Only Conv2D and Dense
layers are wrapped, through clone_model, so augmentation layers, BatchNorm statistics and
trained weights pass through untouched; frozen layers (lesson 1's pretrained base) are not
pruned or clustered, since fine-tuning would never update their masks or centroids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np

from convbench.models.convnets import AUGMENTATION_LAYERS, strip_augmentation
from convbench.models.train import compile_and_fit
from convbench.core.tfsetup import keras

WRAPPABLE = (keras.layers.Conv2D, keras.layers.Dense)


@dataclass(frozen=True)
class FineTune:
    epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 1e-4


@dataclass
class TechniqueResult:
    model: keras.Model                         # stripped, plain tf_keras model (QAT: the QAT model)
    wrapped: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)   # layer name -> why
    finetune_seconds: float = 0.0
    history: dict = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)      # layer name -> how it was treated differently


def flatten_model(model: keras.Model) -> keras.Sequential:
    """Inline nested Sequential models (lesson 1's base) into one Sequential, copying weights
    and trainable flags: TFMOT's quantize_apply cannot see inside nested models. Layers are
    rebuilt from config so that wrapping the copy never touches the original."""
    layers: list = []

    def walk(m):
        for layer in m.layers:
            if isinstance(layer, keras.Sequential):
                walk(layer)
            else:
                layers.append((layer, layer.trainable and m.trainable))

    walk(model)
    copies = [type(layer).from_config(layer.get_config()) for layer, _ in layers]
    flat = keras.Sequential([keras.Input(shape=model.input_shape[1:]), *copies], name=model.name)
    for (src, trainable), dst in zip(layers, copies):
        dst.set_weights(src.get_weights())
        dst.trainable = trainable
    return flat


def fold_batchnorm_into_dense(model: keras.Sequential) -> tuple[keras.Sequential, dict[str, str]]:
    """Fold every BatchNormalization that directly feeds a Dense layer into that Dense layer
    (exact at inference: W' = a*W, b' = b + c@W with a = gamma/sqrt(var+eps), c = beta - a*mean).
    Why: TFMOT cannot quantize a standalone BatchNorm, and the TFLite converter mis-converts a
    float BatchNorm left between two int8 layers (lesson 1's head: 90.9 % as a QAT Keras model,
    39.5 % as int8 TFLite, measured)."""
    layers = list(model.layers)
    keep, notes, i = [], {}, 0
    folded: dict[int, tuple] = {}
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, keras.layers.BatchNormalization) and isinstance(nxt, keras.layers.Dense) \
                and len(layer.input_shape) == 2:
            gamma, beta, mean, var = layer.get_weights()
            a = gamma / np.sqrt(var + layer.epsilon)
            c = beta - a * mean
            kernel, bias = nxt.get_weights()
            folded[len(keep)] = (a[:, None] * kernel, bias + c @ kernel)
            notes[layer.name] = (f"folded into {nxt.name} before QAT (TFLite mis-converts a float BatchNorm "
                                 "between int8 layers)")
            i += 1
            continue
        keep.append(layer)
        i += 1
    if not notes:
        return model, notes
    copies = [type(layer).from_config(layer.get_config()) for layer in keep]
    out = keras.Sequential([keras.Input(shape=model.input_shape[1:]), *copies], name=model.name)
    for index, (src, dst) in enumerate(zip(keep, copies)):
        dst.set_weights(list(folded[index]) if index in folded else src.get_weights())
        dst.trainable = src.trainable
    return out, notes


def _wrap(model: keras.Model, wrap_one: Callable, include_frozen: bool = False):
    wrapped, left_out = [], {}

    def clone(layer):
        if isinstance(layer, WRAPPABLE) and (layer.trainable or include_frozen):
            wrapped.append(layer.name)
            return wrap_one(layer)
        if isinstance(layer, WRAPPABLE):
            left_out[layer.name] = "frozen pretrained layer: fine-tuning cannot update it"
        elif isinstance(layer, AUGMENTATION_LAYERS):
            left_out[layer.name] = "augmentation layer: active in training only, not exported"
        elif layer.weights:
            left_out[layer.name] = f"{type(layer).__name__} is not wrapped by this technique"
        return layer

    # clone_model calls clone() for every layer; returning the original keeps its weights.
    return keras.models.clone_model(model, clone_function=clone), wrapped, left_out


def _fit(model, data, tune: FineTune, callbacks=()) -> tuple[dict, float]:
    started = time.perf_counter()
    history = compile_and_fit(model, data, tune.epochs, tune.batch_size, tune.learning_rate, callbacks=callbacks)
    return history, time.perf_counter() - started


def _steps(data, tune: FineTune) -> int:
    return int(np.ceil(len(data[0]) / tune.batch_size)) * tune.epochs


def prune(model, data, tune: FineTune, final_sparsity: float = 0.5,
          m_by_n: tuple[int, int] | None = None) -> TechniqueResult:
    """Magnitude pruning: a polynomial schedule ramps sparsity 0 -> final over the first 70 %
    of fine-tuning steps; or structured M:N sparsity (e.g. 2 of every 4 weights zero)."""
    import tensorflow_model_optimization as tfmot

    sparsity = tfmot.sparsity.keras
    if m_by_n:
        kwargs = {"sparsity_m_by_n": tuple(m_by_n)}
    else:
        end_step = max(1, int(_steps(data, tune) * 0.7))
        kwargs = {"pruning_schedule": sparsity.PolynomialDecay(0.0, final_sparsity, begin_step=0, end_step=end_step,
                                                               frequency=max(1, end_step // 10))}
    wrapped_model, wrapped, left_out = _wrap(model, lambda layer: sparsity.prune_low_magnitude(layer, **kwargs))
    history, seconds = _fit(wrapped_model, data, tune, [sparsity.UpdatePruningStep()])
    return TechniqueResult(sparsity.strip_pruning(wrapped_model), wrapped, left_out, seconds, history)


def cluster(model, data, tune: FineTune, clusters: int = 16, per_channel: bool = True,
            preserve_sparsity: bool = False) -> TechniqueResult:
    """Weight clustering (k-means++ centroids): each kernel keeps `clusters` distinct values,
    per output channel for Conv2D. preserve_sparsity keeps a pruned model's zeros."""
    import tensorflow_model_optimization as tfmot

    clustering = tfmot.clustering.keras

    per_tensor_fallback = {}

    def wrap_one(layer):
        channelwise = per_channel and isinstance(layer, keras.layers.Conv2D)
        weights_per_channel = int(np.prod(layer.kernel.shape[:-1])) if channelwise else 0
        if channelwise and weights_per_channel < clusters:
            # k-means++ cannot pick 16 centroids from 9 weights (a 3x3 conv on 1 channel).
            channelwise = False
            per_tensor_fallback[layer.name] = (f"clustered per tensor: {weights_per_channel} weights per channel "
                                               f"< {clusters}")
        return clustering.cluster_weights(layer, number_of_clusters=clusters,
                                          cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
                                          cluster_per_channel=channelwise, preserve_sparsity=preserve_sparsity)

    wrapped_model, wrapped, left_out = _wrap(model, wrap_one)
    history, seconds = _fit(wrapped_model, data, tune)
    return TechniqueResult(clustering.strip_clustering(wrapped_model), wrapped, left_out, seconds, history,
                           notes=per_tensor_fallback)


def quantization_aware(model, data, tune: FineTune, preserve: str | None = None) -> TechniqueResult:
    """QAT: fake-quantize weights and activations while fine-tuning, so int8 conversion keeps
    accuracy. preserve='sparsity' (PQAT), 'clusters' (CQAT), 'sparse_clusters' (PCQAT) keep
    what the parent's pruning/clustering produced. Frozen layers are quantized too (ranges
    need no trainable weights). Returns the QAT model: TFLite conversion reads its ranges."""
    import tensorflow_model_optimization as tfmot

    quant = tfmot.quantization.keras
    combine = tfmot.experimental.combine
    scheme = {
        None: quant.default_8bit.Default8BitQuantizeScheme(),
        "sparsity": combine.Default8BitPrunePreserveQuantizeScheme(),
        "clusters": combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=False),
        "sparse_clusters": combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True),
    }[preserve]
    flat, notes = fold_batchnorm_into_dense(flatten_model(strip_augmentation(model)))
    annotated, wrapped, left_out = _wrap(flat, quant.quantize_annotate_layer, include_frozen=True)
    left_out.update({layer.name: "augmentation layer: removed before QAT (the QAT model is what is converted)"
                     for layer in model.layers if isinstance(layer, AUGMENTATION_LAYERS)})
    with quant.quantize_scope():
        qat_model = quant.quantize_apply(annotated, scheme)
    history, seconds = _fit(qat_model, data, tune)
    return TechniqueResult(qat_model, wrapped, left_out, seconds, history, notes=notes)


def keep_as_is(model, data, tune: FineTune) -> TechniqueResult:
    """Post-training variants: the parent model, converted as it is."""
    return TechniqueResult(model)


# The one registry of techniques; a variant names one of these (optimize/variants.py).
TECHNIQUES: dict[str, Callable[..., TechniqueResult]] = {
    "none": keep_as_is,
    "prune": prune,
    "cluster": cluster,
    "qat": quantization_aware,
}
