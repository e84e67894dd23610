"""TensorFlow runtimes for a tf_keras model: eager `model(x, training=False)`, the same inside
tf.function, and tf.function(jit_compile=True) (XLA). TensorFlow is imported only here, lazily."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from convbench.core.runtimes.base import DeviceUnavailable, Plans, Runtime, Session, package_version
from convbench.core.errors import UserError

MODES = ("eager", "function", "xla")


def _set_threads(tf, threads: int | None) -> None:
    # TF fixes its thread pools when it first runs an op; later calls raise RuntimeError.
    if threads is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            raise UserError(f"threads={threads}: TensorFlow already runs with intra-op threads={current} "
                            "in this process (fixed at first use); load it in a fresh process") from None


def load_keras_safely(path: Path):
    """A Keras model from a path someone else may have written (a manifest, a shared run
    folder): only the zip .keras format, with safe_mode, which refuses to deserialize Lambda
    layers' bytecode. An HDF5 file (whatever its name) or a SavedModel ignores safe_mode and can
    run code while loading, so neither is opened."""
    from convbench.core.tfsetup import import_keras3, keras

    path = Path(path)
    if path.is_dir() or not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not a zip .keras model file; convbench loads Keras models from manifests only "
                        "in that format, with safe_mode (HDF5 and SavedModel files can run code when loaded)")
    if keras_zip_version(path).startswith("3."):
        # A user's Keras 3 model (--model): tf_keras cannot read Keras 3's layer configs.
        keras = import_keras3()
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" not in str(exc):
            raise
        raise UserError(f"{path}: refused: {str(exc).splitlines()[0]}") from None


def keras_zip_version(path: Path) -> str:
    """The Keras version a .keras zip was saved by, from its metadata.json ("3.x": Keras 3,
    "2.x": tf_keras)."""
    import json

    try:
        with zipfile.ZipFile(path) as archive:
            return str(json.loads(archive.read("metadata.json")).get("keras_version", ""))
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable .keras archive ({type(exc).__name__}: {exc})") from None


EAGER_ACCURACY_CHUNK = 128


class KerasSession(Session):
    def __init__(self, path: Path, name: str, mode: str, device: str, batch: int):
        from convbench.core.tfsetup import tf

        self._tf = tf
        self._device = "/GPU:0" if device == "gpu" else "/CPU:0"
        model = load_keras_safely(path)
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise UserError(f"{path}: expected a model with one input and one output")
        self.runtime, self.batch, self.device_used = name, batch, device
        self.input_shape = (batch, *model.input_shape[1:])
        self.output_shape = (batch, *model.output_shape[1:])
        spec = tf.TensorSpec(self.input_shape, tf.float32)
        if mode == "eager":
            self._call = lambda t: model(t, training=False)
        else:
            # A fixed input_signature traces once, here, instead of inside the first timed run.
            fn = tf.function(lambda t: model(t, training=False), input_signature=[spec],
                             jit_compile=(mode == "xla"))
            fn.get_concrete_function()
            self._call = fn
        self.providers = (f"tensorflow:{mode}",)
        if device == "gpu":
            with tf.device(self._device):
                out = self._call(tf.zeros(self.input_shape))
            if "GPU" not in out.device:  # soft placement would otherwise hide a CPU run
                raise DeviceUnavailable(f"{self.runtime}: asked for GPU but the output was computed on {out.device}")

    def predict_all(self, x):
        if self.providers != ("tensorflow:eager",) or self.batch >= EAGER_ACCURACY_CHUNK:
            return super().predict_all(x)
        # Eager mode runs any batch: the accuracy pass goes in chunks (the same model, mode, device
        # and threads; an image's output does not depend on its neighbours at inference, up to
        # float rounding). At batch 1 that is ~8 calls instead of ~1000 (about 5 s per row).
        chunks = (np.ascontiguousarray(x[i:i + EAGER_ACCURACY_CHUNK], dtype=np.float32)
                  for i in range(0, len(x), EAGER_ACCURACY_CHUNK))
        return np.concatenate([self.postprocess(self.run(self._prepare(chunk))) for chunk in chunks])

    def _prepare(self, x):
        with self._tf.device(self._device):
            return self._tf.convert_to_tensor(x)

    def run(self, feed):
        with self._tf.device(self._device):
            # .numpy() waits for the result: GPU ops are asynchronous, and a timer stopped
            # before the result exists would measure only the kernel launches.
            return self._call(feed).numpy()


class KerasRuntime(Runtime):
    formats, devices = ("keras",), ("cpu", "gpu")

    def __init__(self, name: str, mode: str, plans: Plans = Plans()):
        assert mode in MODES, mode
        self.name, self.mode, self.plans = name, mode, plans

    def version(self) -> str:
        return f"{package_version('tensorflow')}, {package_version('tf-keras')}"

    def import_modules(self) -> None:
        import convbench.core.tfsetup  # noqa: F401  (TensorFlow + tf_keras, Keras 2 mode)

    def _gpu_check(self) -> tuple[bool, str]:
        from convbench.core.tfsetup import tf

        if not tf.config.list_physical_devices("GPU"):
            return False, f"{package_version('tensorflow')} sees no GPU (CPU-only wheel or CUDA libraries missing)"
        return True, ""

    def _load(self, path, device, threads, batch):
        from convbench.core.tfsetup import tf

        _set_threads(tf, threads)
        return KerasSession(path, self.name, self.mode, device, batch)
