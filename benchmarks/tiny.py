"""A tiny tf_keras convnet saved as .keras, fp32 .tflite, full-int8 .tflite and .onnx: seconds
to build, for tests and smoke runs of every runtime."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INPUT_SHAPE = (8, 8, 1)  # per item, NHWC without the batch


@dataclass(frozen=True)
class TinyArtifacts:
    keras: Path
    tflite: Path
    tflite_int8: Path  # int8 weights, activations, input and output
    onnx: Path

    def path_for(self, fmt: str) -> Path:
        return {"keras": self.keras, "tflite": self.tflite, "onnx": self.onnx}[fmt]


def sample_input(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, *INPUT_SHAPE), dtype=np.float32)


def build_tiny_artifacts(folder: Path) -> TinyArtifacts:
    """Write the four artifacts into `folder`, or reuse them when all four are already there."""
    folder = Path(folder)
    art = TinyArtifacts(folder / "tiny.keras", folder / "tiny.tflite", folder / "tiny_int8.tflite", folder / "tiny.onnx")
    if all(p.exists() for p in (art.keras, art.tflite, art.tflite_int8, art.onnx)):
        return art
    folder.mkdir(parents=True, exist_ok=True)
    from convbench.tfsetup import keras, tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input(INPUT_SHAPE),
        keras.layers.Conv2D(2, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.save(art.keras)

    art.tflite.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([sample_input(1, seed=s)] for s in range(32))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": the
        warnings.simplefilter("ignore", UserWarning)  # representative dataset provides them
        art.tflite_int8.write_bytes(conv.convert())

    import tf2onnx

    # Batch None in the signature gives the ONNX graph a dynamic batch dimension.
    spec = [tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name="input")]
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=str(art.onnx))
    return art
