"""A user's own model (--model PATH) as a trained model like a lesson convnet: checked, saved as a
zip .keras for the later stages (tf_keras or Keras 3, as it was written; the Keras runtimes load
both with safe_mode), measured on the held-out split, and cached under trained/ by a fingerprint
of the file's sha256, the data, the seed and the code. It is not retrained."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from convbench.core import classes
from convbench.core.fingerprint import FINGERPRINT_PACKAGES, code_of, fingerprint, library_versions
from convbench.models.data import Dataset
from convbench.models.flops import count_flops
from convbench.models.train import TrainConfig, TrainedModel, cached_trained, save_trained
from convbench.optimize import model_file, own_model
from convbench.optimize.own_model import load_own_model
from convbench.core.records import ModelSource, TrainedRecord
from convbench.core.workers import tf_intra_op_threads

# Below this multiple of chance the model most likely expects other pixels than convbench's
# [0, 1] scaling (or other classes): said in the record's notes and printed.
NEAR_CHANCE = 1.5


def ingest(path: Path, name: str, dataset: Dataset, config: TrainConfig) -> TrainedModel:
    """The user's model as a TrainedModel in <out>/trained/<name>-<fingerprint>/."""
    model, own = load_own_model(path, dataset.input_shape, dataset.num_classes)
    fp = _fingerprint(own.file.sha256, name, dataset, config)
    folder = config.out / "trained" / f"{name}-{fp[:12]}"
    if folder.exists() and not config.retrain:
        return cached_trained(folder)
    reference = np.asarray(model.predict(dataset.x_test, batch_size=256, verbose=0))
    accuracy = classes.accuracy(reference, dataset.y_test)
    source = ModelSource(path=str(Path(path).resolve()), sha256=own.file.sha256, format=own.file.format,
                         framework=own.file.framework, keras_version=own.file.keras_version,
                         output_activation=own.output_activation)
    record = TrainedRecord(
        name=name, lesson="your model (--model)", fingerprint=fp, notes=_notes(own, accuracy, dataset.num_classes),
        test_accuracy=accuracy, params=int(model.count_params()),
        trainable_params=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        flops_per_image=count_flops(model), flops_method="analytic: 2 x multiply-adds of Conv2D/Dense, per image",
        train_seconds=0.0, epochs=0, batch_size=None, learning_rate=None, seed=config.seed, source=source)
    # The same model is the training and the inference model: convbench strips nothing from it.
    return save_trained(folder, record, model, model, reference, dataset)


def cached_ingested(path: Path, name: str, dataset: Dataset, config: TrainConfig) -> TrainedModel | None:
    """The user's model from the cache (read, not loaded), or None where ingest would work now."""
    fp = _fingerprint(model_file.inspect_model_file(path).sha256, name, dataset, config)
    folder = config.out / "trained" / f"{name}-{fp[:12]}"
    return cached_trained(folder) if folder.exists() and not config.retrain else None


def _fingerprint(sha256: str, name: str, dataset: Dataset, config: TrainConfig) -> str:
    return fingerprint({
        "own_model": sha256, "name": name, "data": dataset.fingerprint, "seed": config.seed,
        "code": [code_of(m) for m in (own_model, model_file, sys.modules[__name__])],
        "intra_op_threads": tf_intra_op_threads(),   # the reference outputs' float sums depend on it
        "layout": code_of(TrainedRecord), "versions": library_versions(FINGERPRINT_PACKAGES + ("h5py",))})


def _notes(own, accuracy: float, num_classes: int) -> str:
    notes = f"{own.file.framework} model from {own.path.name}, taken as given (not retrained)"
    if accuracy < NEAR_CHANCE / num_classes:
        notes += (f"; held-out accuracy {accuracy:.1%} is near chance ({1 / num_classes:.1%}): does the model "
                  "expect pixels scaled otherwise than convbench's [0, 1], or other classes?")
    return notes
