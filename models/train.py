"""Train each lesson convnet once and cache it, keyed by a fingerprint of everything that
determines its weights (model source, data, hyperparameters, seed, library versions)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from convbench.errors import UserError
from convbench.fingerprint import FINGERPRINT_PACKAGES, fingerprint, library_versions, source_of
from convbench.fsutil import atomic_dir, write_json_atomic
from convbench.models.convnets import LessonConvnet, get_convnets, make_base, strip_augmentation
from convbench.models.data import DataConfig, Dataset, load_dataset
from convbench.models.flops import count_flops
from convbench.tfsetup import keras, seed_everything, tf
from convbench.workers import Job, run_jobs, tick, tf_intra_op_threads


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
    """A finished training: its folder exists only if every file below was written."""

    name: str
    folder: Path
    summary: dict

    @property
    def model_path(self) -> Path:          # the training model (augmentation layers included)
        return self.folder / "model.keras"

    @property
    def inference_path(self) -> Path:      # the export model (no augmentation layers)
        return self.folder / "inference.keras"

    def load(self, inference: bool = True) -> keras.Model:
        return keras.models.load_model(self.inference_path if inference else self.model_path)


def prepare_data(config: TrainConfig) -> Dataset:
    """Load (or reuse) the split data set; its .npz is what every later stage reads."""
    key = fingerprint({"data": _data_identity(config.data), "versions": library_versions(("mlxtend", "numpy", "scikit-learn", "pillow"))})
    path = config.out / "data" / f"{key[:16]}.npz"
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
        "sources": [source_of(entry.build)] + [source_of(f) for f in entry.extra_sources],
        "data": dataset.fingerprint,
        "hyper": {"epochs": _epochs(entry, config), "batch_size": config.batch_size,
                  "learning_rate": config.learning_rate, "seed": config.seed,
                  "max_train_samples": config.max_train_samples},
        "trainer": source_of(_fit),
        "intra_op_threads": tf_intra_op_threads(),   # TF's float sums depend on it
        "versions": library_versions(),
        **(extra or {}),
    })


def _epochs(entry: LessonConvnet, config: TrainConfig) -> int:
    return config.epochs if config.epochs is not None else entry.epochs


def train_one(entry: LessonConvnet, dataset: Dataset, config: TrainConfig) -> TrainedModel:
    base_info = {}
    if entry.pretrained_base:
        base_folder = pretrain_base(dataset, config)
        base_info = {"base": json.loads((base_folder / "summary.json").read_text())["fingerprint"]}
    fp = model_fingerprint(entry, dataset, config, base_info)
    folder = config.out / "trained" / f"{entry.name}-{fp[:12]}"
    if folder.exists() and not config.retrain:
        summary = json.loads((folder / "summary.json").read_text())
        return TrainedModel(entry.name, folder, {**summary, "cached": True})

    seed_everything(config.seed)
    kwargs = {}
    if entry.pretrained_base:
        kwargs["base"] = keras.models.load_model(base_folder / "base.keras")
    if entry.takes_flip:
        kwargs["flip"] = dataset.mirror_invariant
    model = entry.build(dataset.input_shape, dataset.num_classes, **kwargs)
    x_train, y_train = _subsample(dataset.x_train, dataset.y_train, config.max_train_samples)

    started = time.perf_counter()
    history = _fit(model, x_train, y_train, (dataset.x_val, dataset.y_val), _epochs(entry, config),
                   config)
    train_seconds = time.perf_counter() - started

    inference = strip_augmentation(model)
    test_accuracy = evaluate_accuracy(inference, dataset.x_test, dataset.y_test)
    summary = {
        "name": entry.name, "lesson": entry.lesson, "fingerprint": fp, "notes": entry.notes,
        "test_accuracy": test_accuracy,
        "params": int(model.count_params()),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "flops_per_image": count_flops(inference),
        "flops_method": "analytic: 2 x multiply-adds of Conv2D/Dense, per image",
        "train_seconds": train_seconds, "epochs": _epochs(entry, config),
        "batch_size": config.batch_size, "learning_rate": config.learning_rate, "seed": config.seed,
        "dataset": dataset.describe(), "versions": library_versions(), **base_info,
    }
    with atomic_dir(folder) as tmp:
        model.save(tmp / "model.keras")
        inference.save(tmp / "inference.keras")
        write_json_atomic(tmp / "history.json", history)
        write_json_atomic(tmp / "summary.json", summary)
    return TrainedModel(entry.name, folder, {**summary, "cached": False})


def pretrain_base(dataset: Dataset, config: TrainConfig) -> Path:
    """Lesson 1's base, pretrained on a *source* data set disjoint from the target data: the
    1797 UCI 8x8 handwritten digits that scikit-learn ships (other writers, other scanner),
    resized to the target input shape, as the course's base was pretrained on ImageNet."""
    fp = fingerprint({"base": source_of(make_base), "pretrain": source_of(pretrain_base),
                      "input_shape": list(dataset.input_shape), "epochs": config.pretrain_epochs,
                      "seed": config.seed, "intra_op_threads": tf_intra_op_threads(),
                      "versions": library_versions(("scikit-learn",) + FINGERPRINT_PACKAGES)})
    folder = config.out / "bases" / f"uci-digits-{fp[:12]}"
    if folder.exists() and not config.retrain:
        return folder
    from sklearn.datasets import load_digits

    seed_everything(config.seed)
    source = load_digits()
    height, width, channels = dataset.input_shape
    x = tf.image.resize((source.images[..., None] / 16.0).astype(np.float32), (height, width)).numpy()
    x = np.repeat(x, channels, axis=-1)
    base = make_base(dataset.input_shape)
    source_model = keras.Sequential([keras.Input(shape=dataset.input_shape), base, keras.layers.Flatten(),
                                     keras.layers.Dense(10, activation="softmax")])
    history = _fit(source_model, x, source.target, None, config.pretrain_epochs, config)
    with atomic_dir(folder) as tmp:
        base.save(tmp / "base.keras")
        write_json_atomic(tmp / "summary.json", {
            "fingerprint": fp, "source_task": "10-class UCI 8x8 digits (sklearn.datasets.load_digits), resized",
            "source_train_accuracy": history["accuracy"][-1], "epochs": config.pretrain_epochs})
    return folder


def _fit(model, x, y, validation, epochs: int, config: TrainConfig) -> dict:
    binary = model.output_shape[-1] == 1
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit = model.fit(x, y, batch_size=config.batch_size, epochs=epochs, validation_data=validation,
                    shuffle=True, verbose=0)
    return {k: [float(v) for v in values] for k, values in fit.history.items()}


def predicted_labels(outputs: np.ndarray) -> np.ndarray:
    """Class indices from model outputs: a single sigmoid unit thresholds at 0.5."""
    outputs = np.asarray(outputs)
    if outputs.shape[-1] == 1:
        return (outputs[..., 0] > 0.5).astype(np.int64)
    return outputs.argmax(axis=-1)


def evaluate_accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    outputs = model.predict(x, batch_size=batch_size, verbose=0)
    return float((predicted_labels(outputs) == y).mean())


def _subsample(x, y, limit):
    return (x, y) if limit is None else (x[:limit], y[:limit])
