"""The one class decision, used for accuracy, agreement and audits alike: a single sigmoid unit
(the course's two-class Car-or-Truck head) says class 1 when its score is above 0.5; several
scores (softmax) say the index of the largest. argmax over one column would always say 0."""

from __future__ import annotations

import numpy as np


def predicted_labels(outputs: np.ndarray) -> np.ndarray:
    outputs = np.asarray(outputs)
    if outputs.ndim != 2:
        outputs = outputs.reshape(len(outputs), -1)
    if outputs.shape[-1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return outputs.argmax(axis=-1)


def correct(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image, whether the class decision is the label (what a paired accuracy test compares:
    convbench.core.stats)."""
    return predicted_labels(outputs) == np.asarray(labels)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(correct(outputs, labels)))


def agreement(outputs: np.ndarray, reference_outputs: np.ndarray) -> float:
    """Share of images on which two models make the same class decision."""
    return float(np.mean(predicted_labels(outputs) == predicted_labels(reference_outputs)))
