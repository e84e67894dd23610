"""The tests' tiny real models, seconds to build:

* the tiny net (conv 3x3x1 -> 2, dense -> 3 on 8x8x1) saved as .keras, fp32 .tflite, full-int8
  .tflite and .onnx: every runtime loads one of them (`build_tiny_artifacts`);
* a whole artifacts folder around those four files, shaped like the optimize stage's, that
  `convbench bench` and the interleaved gate run on (`write_tiny_manifest`, `copy_tiny_bench`);
* a two-conv net with 'same' padding on 32x32x3 as fp32 and int8 TFLite, fp32 and static QDQ ONNX,
  for op counts and per-layer timing (`build_two_conv_files`)."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INPUT_SHAPE = (8, 8, 1)  # per item, NHWC without the batch
TINY_FLOPS = 2 * 6 * 6 * 2 * 9 + 2 * 72 * 3  # conv 3x3x1 -> 6x6x2, dense 72 -> 3


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
    art = TinyArtifacts(folder / "tiny.keras", folder / "tiny.tflite", folder / "tiny_int8.tflite",
                        folder / "tiny.onnx")
    if all(p.exists() for p in (art.keras, art.tflite, art.tflite_int8, art.onnx)):
        return art
    folder.mkdir(parents=True, exist_ok=True)
    from convbench.core.tfsetup import keras, tf

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


def write_tiny_manifest(out: Path, n_test: int = 64) -> Path:
    """A complete artifacts folder around the tiny artifacts, shaped like the optimize stage's:
    out/manifest.json (keras, tflite_fp32, tflite_int8_io, onnx_fp32 rows and one failed row),
    out/data/<key>.npz, a Dataset whose labels are the Keras model's own answers, and a trained
    folder with the reference outputs. For smoke runs of the benchmark suites; returns the
    manifest path."""
    import gzip
    import hashlib
    import io

    from convbench.core import classes
    from convbench.core.fingerprint import sha256_file
    from convbench.core.records import (MANIFEST_FILE, ArtifactRecord, Manifest, TrainedRecord, Verification,
                                        write_manifest, write_record)
    from convbench.core.runtimes import get_runtime
    from convbench.models.data import Dataset

    out = Path(out)
    art = build_tiny_artifacts(out / "tiny_artifacts")
    x = np.random.default_rng(1).random((3 * n_test, *INPUT_SHAPE), dtype=np.float32)
    keras_out = get_runtime("keras_eager").load(art.keras, batch=len(x)).predict(x)
    y = classes.predicted_labels(keras_out)
    splits = (x[:n_test], y[:n_test], x[n_test:2 * n_test], y[n_test:2 * n_test], x[2 * n_test:], y[2 * n_test:])
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in splits)).hexdigest()
    dataset = Dataset("tiny random 8x8", ["a", "b", "c"], *splits, 0.0, 1.0, digest, mirror_invariant=False)
    dataset.save(out / "data" / f"{digest[:16]}.npz")
    reference = keras_out[2 * n_test:]
    trained_dir = out / "trained" / "tiny"
    trained_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, reference)
    (trained_dir / TrainedRecord.REFERENCE_FILE).write_bytes(buf.getvalue())
    trained = TrainedRecord(name="tiny", lesson="tests", fingerprint=digest, test_accuracy=1.0, params=20 + 219,
                            trainable_params=20 + 219, flops_per_image=TINY_FLOPS, flops_method="analytic",
                            train_seconds=0.0, epochs=0, batch_size=1, learning_rate=0.0, seed=0,
                            folder=str(trained_dir.resolve()))
    write_record(trained_dir / "summary.json", trained)

    artifacts = []
    for variant, fmt, path, runtime in (("keras_fp32", "keras", art.keras, "keras_eager"),
                                        ("tflite_fp32", "tflite_fp32", art.tflite, "litert"),
                                        ("tflite_int8_io", "tflite_int8_io", art.tflite_int8, "litert"),
                                        ("onnx_fp32", "onnx_fp32", art.onnx, "onnxruntime")):
        threads = None if runtime == "keras_eager" else 1
        outputs = get_runtime(runtime).load(path, batch=n_test, threads=threads).predict(dataset.x_test)
        data = path.read_bytes()
        artifacts.append(ArtifactRecord(
            model="tiny", variant=variant, format=fmt, technique="none", path=str(path.resolve()),
            sha256=sha256_file(path), bytes=len(data), gzip_bytes=len(gzip.compress(data)),
            flops_per_image=TINY_FLOPS, input_shape=list(INPUT_SHAPE), num_classes=3,
            verification=Verification(runtime=runtime, device="cpu", threads=threads, images=n_test,
                                      accuracy=classes.accuracy(outputs, dataset.y_test),
                                      agreement_vs_fp32=classes.agreement(outputs, reference),
                                      max_abs_diff_vs_fp32=float(np.abs(outputs - reference).max()))))
    artifacts.append(ArtifactRecord(model="tiny", variant="tflite_fp16", format="tflite_fp16", technique="none",
                                    error="ConverterError: made up for the tests"))
    info = dataset.describe()
    info.path = str((out / "data" / f"{digest[:16]}.npz").resolve())
    manifest = Manifest(created="2026-01-01T00:00:00+00:00", dataset=info, trained=[trained], artifacts=artifacts,
                        path=out / MANIFEST_FILE)
    write_manifest(out / MANIFEST_FILE, manifest)
    return out / MANIFEST_FILE


def copy_tiny_bench(folder: Path, dest: Path) -> Path:
    """A copy of a tiny artifacts folder (its manifest's paths are relative) without what runs
    added to it (runs/, gates/, results.duckdb, the folder lock), for a test that writes into it."""
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("runs", "gates", "results.duckdb", ".convbench.*"))
    return Path(dest)


TWO_CONV_INPUT_SHAPE = (32, 32, 3)
TWO_CONV_KEYS = ("tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_static_qdq")


def build_two_conv_files(folder: Path) -> dict:
    """fp32 and int8 TFLite, fp32 and static QDQ ONNX of a two-conv net with 'same' padding, and
    its Keras op count under "keras_flops" (also saved as keras_flops.txt). Files already in
    `folder` are reused."""
    folder = Path(folder)
    paths: dict = {k: folder / f"{k}{'.onnx' if k.startswith('onnx') else '.tflite'}" for k in TWO_CONV_KEYS}
    flops_file = folder / "keras_flops.txt"
    if flops_file.is_file() and all(p.is_file() for p in paths.values()):
        return {**paths, "keras_flops": int(flops_file.read_text())}
    folder.mkdir(parents=True, exist_ok=True)
    from convbench.core.tfsetup import keras, tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input(TWO_CONV_INPUT_SHAPE),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPool2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPool2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="softmax"),
    ])
    calibration = np.random.default_rng(0).random((16, *TWO_CONV_INPUT_SHAPE), dtype=np.float32)
    paths["tflite_fp32"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        paths["tflite_int8"].write_bytes(conv.convert())
    import tf2onnx

    spec = [tf.TensorSpec((None, *TWO_CONV_INPUT_SHAPE), tf.float32, name="input")]
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=str(paths["onnx_fp32"]))
    from convbench.optimize.export import onnx_static_qdq

    onnx_static_qdq(paths["onnx_fp32"], paths["onnx_static_qdq"], calibration)
    from convbench.models.flops import count_flops

    paths["keras_flops"] = count_flops(model)
    flops_file.write_text(str(paths["keras_flops"]))
    return paths
