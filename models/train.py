"""Train each lesson convnet once and cache it, keyed by a fingerprint of everything that
determines its weights (model code, data, hyperparameters, seed, library versions). The folder
holds the models, summary.json (a TrainedRecord), the fp32 outputs on the held-out split (the
yardstick of every variant's agreement) and the lesson illustrations' arrays."""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from convbench.core import classes
from convbench.core.errors import UserError
from convbench.core.fingerprint import FINGERPRINT_PACKAGES, code_of, fingerprint, library_versions
from convbench.core.fsutil import atomic_dir, write_bytes_atomic
from convbench.models.convnets import LessonConvnet, get_convnets, make_base, strip_augmentation
from convbench.models.data import DataConfig, Dataset, load_dataset
from convbench.models.flops import count_flops
from convbench.models.illustrate import write_illustrations
from convbench.core.records import BaseRecord, TrainedRecord, read_record, write_record
from convbench.core.runtimes.keras_tf import load_keras_safely
from convbench.core.tfsetup import keras, seed_everything, tf
from convbench.core.workers import Job, run_jobs, tick, tf_intra_op_threads


@dataclass(frozen=True)
class TrainConfig:
    models: tuple[str, ...] = ()          # empty: every registry entry
    epochs: int | None = None             # None: each model's registry default
    seed: int = 0
    batch_size: int = 64
    learning_rate: float = 1e-3
    pretrain_epochs: int = 5              # lesson 1's base, on the source data set
    data: DataConfig = field(default_factory=DataConfig)
    out: Path = Path("artifacts")
    retrain: bool = False
    max_train_samples: int | None = None  # tests: train on a few samples only
    workers: int | None = None            # processes, one model each; None: one per core; 0: this process
    data_file: Path | None = None         # the split data set (.npz) to read instead of making it from `data`
                                          # (on a cluster node: the driver's, shipped there)

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise UserError(f"--epochs {self.epochs}: must be at least 1")
        if self.batch_size < 1:
            raise UserError(f"batch size {self.batch_size}: must be at least 1")
        if self.workers is not None and self.workers < 0:
            raise UserError(f"--workers {self.workers}: must be 0 (this process) or more")
        get_convnets(list(self.models))  # validates the names early


@dataclass
class TrainedModel:
    """A finished training: its folder exists only if every file in it was written."""

    folder: Path
    record: TrainedRecord

    @property
    def name(self) -> str:
        return self.record.name

    def file(self, name: str) -> Path:
        return self.folder / name

    def load(self, inference: bool = True) -> keras.Model:
        name = TrainedRecord.INFERENCE_FILE if inference else TrainedRecord.MODEL_FILE
        return load_keras_safely(self.file(name))

    def reference_outputs(self) -> np.ndarray:
        return np.load(self.file(TrainedRecord.REFERENCE_FILE), allow_pickle=False)


def data_path(config: TrainConfig) -> Path:
    """Where the split data set of `config` lives: keyed by what decides its arrays."""
    if config.data_file is not None:
        return config.data_file
    key = fingerprint({"data": _data_identity(config.data),
                       "versions": library_versions(("mlxtend", "numpy", "scikit-learn", "pillow"))})
    return config.out / "data" / f"{key[:16]}.npz"


def prepare_data(config: TrainConfig) -> Dataset:
    """Load (or reuse) the split data set; its .npz is what every later stage reads."""
    path = data_path(config)
    if path.exists():
        return Dataset.load(path)
    dataset = load_dataset(config.data)
    dataset.save(path)
    return dataset


def _data_identity(data: DataConfig) -> dict:
    identity = {k: str(v) for k, v in asdict(data).items()}
    if data.data_dir is not None and Path(data.data_dir).is_dir():
        # Cheap identity of a folder: every file's relative path, size and mtime.
        root = Path(data.data_dir)
        identity["files"] = [(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                             for p in sorted(root.rglob("*")) if p.is_file()]
    return identity


def train_all(config: TrainConfig, progress: bool = True) -> tuple[Dataset, list[TrainedModel]]:
    """Every selected model, trained (or loaded from the cache) side by side in worker processes."""
    dataset = prepare_data(config)   # here, once: the workers then only read its .npz
    jobs = [Job(entry.name, train_job, (config, entry.name)) for entry in get_convnets(list(config.models))]
    return dataset, run_jobs(jobs, config.workers, "train", progress)


def train_job(config: TrainConfig, name: str) -> TrainedModel:
    """One model, in a worker: ticks once when its weights are ready."""
    trained = train_one(get_convnets([name])[0], prepare_data(config), config)
    tick(name)
    return trained


def model_fingerprint(entry: LessonConvnet, dataset: Dataset, config: TrainConfig, extra: dict | None = None) -> str:
    return fingerprint({
        "model": entry.name,
        "code": [code_of(entry.build)] + [code_of(f) for f in entry.extra_sources],
        "data": dataset.fingerprint,
        "hyper": {"epochs": _epochs(entry, config), "batch_size": config.batch_size,
                  "learning_rate": config.learning_rate, "seed": config.seed,
                  "max_train_samples": config.max_train_samples},
        "trainer": code_of(compile_and_fit),
        "intra_op_threads": tf_intra_op_threads(),   # TF's float sums depend on it
        "versions": library_versions(),
        "layout": code_of(TrainedRecord),            # what the folder holds
        **(extra or {}),
    })


def _epochs(entry: LessonConvnet, config: TrainConfig) -> int:
    return config.epochs if config.epochs is not None else entry.epochs


def cached_trained_only(entry: LessonConvnet, dataset: Dataset, config: TrainConfig) -> TrainedModel | None:
    """The trained model from the cache, or None where train_one would train (or pretrain) now."""
    if config.retrain:
        return None
    base_fp = None
    if entry.pretrained_base:
        base = base_folder(dataset, config)
        if not base.exists():
            return None
        base_fp = read_record(base / "summary.json", BaseRecord).fingerprint
    fp = model_fingerprint(entry, dataset, config, {"base": base_fp} if base_fp else None)
    folder = config.out / "trained" / f"{entry.name}-{fp[:12]}"
    return cached_trained(folder) if folder.exists() else None


def train_one(entry: LessonConvnet, dataset: Dataset, config: TrainConfig) -> TrainedModel:
    base_fp = None
    if entry.pretrained_base:
        base_folder = pretrain_base(dataset, config)
        base_fp = read_record(base_folder / "summary.json", BaseRecord).fingerprint
    fp = model_fingerprint(entry, dataset, config, {"base": base_fp} if base_fp else None)
    folder = config.out / "trained" / f"{entry.name}-{fp[:12]}"
    if folder.exists() and not config.retrain:
        return cached_trained(folder)

    seed_everything(config.seed)
    kwargs = {}
    if entry.pretrained_base:
        kwargs["base"] = load_keras_safely(base_folder / "base.keras")
    if entry.takes_flip:
        kwargs["flip"] = dataset.mirror_invariant
    model = entry.build(dataset.input_shape, dataset.num_classes, **kwargs)
    x_train, y_train = _subsample(dataset.x_train, dataset.y_train, config.max_train_samples)

    started = time.perf_counter()
    history = compile_and_fit(model, (x_train, y_train), _epochs(entry, config), config.batch_size,
                              config.learning_rate, validation=(dataset.x_val, dataset.y_val))
    train_seconds = time.perf_counter() - started

    inference = strip_augmentation(model)
    reference = inference.predict(dataset.x_test, batch_size=256, verbose=0)
    record = TrainedRecord(
        name=entry.name, lesson=entry.lesson, fingerprint=fp, notes=entry.notes,
        test_accuracy=classes.accuracy(reference, dataset.y_test), params=int(model.count_params()),
        trainable_params=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        flops_per_image=count_flops(inference), flops_method="analytic: 2 x multiply-adds of Conv2D/Dense, per image",
        train_seconds=train_seconds, epochs=_epochs(entry, config), batch_size=config.batch_size,
        learning_rate=config.learning_rate, seed=config.seed, history=history, base_fingerprint=base_fp)
    return save_trained(folder, record, model, inference, reference, dataset)


def cached_trained(folder: Path) -> TrainedModel:
    return TrainedModel(folder, replace(read_record(folder / "summary.json", TrainedRecord), cached=True))


def save_trained(folder: Path, record: TrainedRecord, model, inference, reference: np.ndarray,
                 dataset: Dataset) -> TrainedModel:
    """Write a trained model's folder (atomically: it exists only when complete): the training and
    inference models as zip .keras, the fp32 reference outputs, the lesson illustrations (where the
    model has a Conv2D) and summary.json."""
    with atomic_dir(folder) as tmp:
        model.save(tmp / TrainedRecord.MODEL_FILE)
        inference.save(tmp / TrainedRecord.INFERENCE_FILE)
        buf = io.BytesIO()
        np.save(buf, reference.astype(np.float32))
        write_bytes_atomic(tmp / TrainedRecord.REFERENCE_FILE, buf.getvalue())
        write_illustrations(tmp / TrainedRecord.ILLUSTRATIONS_FILE, inference, dataset.x_test[0],
                            dataset.class_names[int(dataset.y_test[0])])
        write_record(tmp / "summary.json", record)
    return TrainedModel(folder, record)


def _base_fingerprint(dataset: Dataset, config: TrainConfig) -> str:
    return fingerprint({"base": code_of(make_base), "pretrain": code_of(pretrain_base),
                        "input_shape": list(dataset.input_shape), "epochs": config.pretrain_epochs,
                        "seed": config.seed, "intra_op_threads": tf_intra_op_threads(),
                        "versions": library_versions(("scikit-learn",) + FINGERPRINT_PACKAGES)})


def base_folder(dataset: Dataset, config: TrainConfig) -> Path:
    """Where lesson 1's pretrained base for `dataset` and `config` is cached."""
    return config.out / "bases" / f"uci-digits-{_base_fingerprint(dataset, config)[:12]}"


def pretrain_base(dataset: Dataset, config: TrainConfig) -> Path:
    """Lesson 1's base, pretrained on a *source* data set disjoint from the target data: the
    1797 UCI 8x8 handwritten digits that scikit-learn ships (other writers, other scanner),
    resized to the target input shape, as the course's base was pretrained on ImageNet."""
    folder = base_folder(dataset, config)
    if folder.exists() and not config.retrain:
        return folder
    fp = _base_fingerprint(dataset, config)
    from sklearn.datasets import load_digits

    seed_everything(config.seed)
    source = load_digits()
    height, width, channels = dataset.input_shape
    x = tf.image.resize((source.images[..., None] / 16.0).astype(np.float32), (height, width)).numpy()
    x = np.repeat(x, channels, axis=-1)
    base = make_base(dataset.input_shape)
    source_model = keras.Sequential([keras.Input(shape=dataset.input_shape), base, keras.layers.Flatten(),
                                     keras.layers.Dense(10, activation="softmax")])
    history = compile_and_fit(source_model, (x, source.target), config.pretrain_epochs, config.batch_size,
                              config.learning_rate)
    with atomic_dir(folder) as tmp:
        base.save(tmp / "base.keras")
        write_record(tmp / "summary.json", BaseRecord(
            fingerprint=fp, source_task="10-class UCI 8x8 digits (sklearn.datasets.load_digits), resized",
            source_train_accuracy=history["accuracy"][-1], epochs=config.pretrain_epochs))
    return folder


# A fit of this many steps or fewer runs eagerly: tracing the train step costs more than it saves.
# Measured on lesson5_custom (28x28, batch 64, one core): pruning 0.8 s eager vs 5.6 s traced for one
# step, 2.7 vs 4.9 s for 16, 10.4 vs 9.4 s for 55; clustering 4.2 vs 19.1 s for one step, 9.0 vs
# 17.6 s for 8, 43 vs 24 s for 55 (its traced graph takes ~16 s to build). The default data's
# fine-tuning (55 steps) and training stay traced; tests' and small own data sets' fits run eagerly.
EAGER_MAX_STEPS = 8


def compile_and_fit(model, data, epochs: int, batch_size: int, learning_rate: float, validation=None,
                    callbacks=()) -> dict[str, list[float]]:
    """Adam + the loss that matches the head (one sigmoid unit: binary cross-entropy), fit,
    and the per-epoch history. Training and every fine-tuning technique use this."""
    x, y = data
    binary = model.output_shape[-1] == 1
    steps = math.ceil(len(x) / batch_size) * epochs
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
                  metrics=["accuracy"], run_eagerly=steps <= EAGER_MAX_STEPS)
    fit = model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=validation, shuffle=True,
                    verbose=0, callbacks=list(callbacks))
    return {k: [float(v) for v in values] for k, values in fit.history.items()}


def _subsample(x, y, limit):
    return (x, y) if limit is None else (x[:limit], y[:limit])
