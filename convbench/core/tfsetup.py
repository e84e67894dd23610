"""Import TensorFlow the one way convbench needs it: Keras 2 (tf_keras, which TFMOT requires),
quiet logs, and deterministic ops. Import this module before anything imports tensorflow."""

from __future__ import annotations

import os
import warnings

# Must be set before TensorFlow is first imported, or tf.keras resolves to Keras 3.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN's fused kernels reorder float sums between runs; off keeps training bit-reproducible.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")
# Known noise, not news: tf2onnx's from_tflite still constructs tf.lite.Interpreter (convbench runs
# .tflite files with ai_edge_litert), and TensorFlow says on each call that it is deprecated.
warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated", category=UserWarning)


def seed_everything(seed: int) -> None:
    """Same seed -> same weights: Python, NumPy and TF seeds plus TF's deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def import_keras3():
    """Keras 3 beside tf_keras: with TF_USE_LEGACY_KERAS=1, `tf.keras` is tf_keras while `import
    keras` still gives Keras 3 (measured with keras 3.15.1 + TF 2.21). Users' Keras 3 models load
    and convert through it; its backend must be TensorFlow (conversion traces a tf.function)."""
    import keras as keras3

    from convbench.core.errors import UserError

    if not keras3.__version__.startswith("3."):
        raise RuntimeError(f"`import keras` gave Keras {keras3.__version__}, expected 3.x")
    if keras3.backend.backend() != "tensorflow":
        raise UserError(f"Keras 3 runs on the {keras3.backend.backend()!r} backend here; set KERAS_BACKEND=tensorflow")
    return keras3


def is_keras3(model) -> bool:
    """Whether a model object is a Keras 3 model (tf_keras classes live in the tf_keras package)."""
    return type(model).__module__.split(".")[0] == "keras"


__all__ = ["tf", "keras", "seed_everything", "import_keras3", "is_keras3"]
