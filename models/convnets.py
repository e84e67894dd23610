"""The lesson convnets of Kaggle's Computer Vision course, one registry entry per lesson.

Each builder reads like the lesson: a `make_model(input_shape, num_classes)` returning a
tf_keras `Sequential` (TFMOT can only wrap tf_keras models). Training lives in train.py.
Lessons 2 and 3 (convolution & ReLU, max pooling) have no model of their own: the report
illustrates them with the first layers of these models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

from convbench.core.errors import UserError
from convbench.core.tfsetup import keras

layers = keras.layers


def output_layer(num_classes: int) -> keras.layers.Layer:
    """Two classes -> one sigmoid unit (as in the course's Car-or-Truck); more -> softmax."""
    if num_classes == 2:
        return layers.Dense(1, activation="sigmoid", name="output")
    return layers.Dense(num_classes, activation="softmax", name="output")


def make_base(input_shape) -> keras.Sequential:
    """Lesson 1's "pretrained base": a small conv stack. The course downloads VGG16 trained on
    ImageNet; with no network, train.py pretrains this base on another data set (the UCI 8x8
    digits that scikit-learn ships) and freezes it."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
    ], name="pretrained_base")


def make_lesson1_transfer(input_shape, num_classes, base=None) -> keras.Sequential:
    """Lesson 1, the convolutional classifier: a frozen pretrained base under a new head.
    The BatchNormalization is not in the course's head: the frozen features reach values ~30,
    and without rescaling the 6 ReLU units died in 2 of 3 seeds (train accuracy 9-40 %)."""
    base = base if base is not None else make_base(input_shape)
    base.trainable = False
    return keras.Sequential([
        keras.Input(shape=input_shape),
        base,
        layers.Flatten(),
        layers.BatchNormalization(momentum=0.9),
        layers.Dense(6, activation="relu"),
        output_layer(num_classes),
    ], name="lesson1_transfer")


def make_lesson4_strided(input_shape, num_classes) -> keras.Sequential:
    """Lesson 4, the sliding window: strided convolutions downsample instead of max pooling.
    'same' pads the border so a stride-2 window covers every pixel; 'valid' adds no padding
    and lets the window drop the last row/column."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, 3, strides=1, padding="same", activation="relu"),
        layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(64, 3, strides=2, padding="valid", activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        output_layer(num_classes),
    ], name="lesson4_strided")


def make_lesson5_custom(input_shape, num_classes) -> keras.Sequential:
    """Lesson 5, custom convnet: three Conv2D + ReLU + MaxPool blocks, then a dense head.
    The course's head is Dense(6) for two classes; ten digits need a wider one."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, 5, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.Conv2D(128, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        output_layer(num_classes),
    ], name="lesson5_custom")


def make_lesson6_augmented(input_shape, num_classes, flip=True) -> keras.Sequential:
    """Lesson 6, data augmentation: random layers (active only in training), then BatchNorm
    and Dropout. Mirroring a digit changes its meaning, so train.py passes flip=False for MNIST.
    BatchNorm momentum 0.9 (not 0.99): with a few hundred steps the moving statistics must
    converge, or inference mode gives chance accuracy."""
    augmentation = [layers.RandomFlip("horizontal")] if flip else []
    augmentation += [layers.RandomRotation(0.05), layers.RandomContrast(0.10)]
    return keras.Sequential([
        keras.Input(shape=input_shape),
        *augmentation,
        layers.BatchNormalization(momentum=0.9),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.BatchNormalization(momentum=0.9),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.BatchNormalization(momentum=0.9),
        layers.Conv2D(128, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.BatchNormalization(momentum=0.9),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2),
        output_layer(num_classes),
    ], name="lesson6_augmented")


@dataclass(frozen=True)
class LessonConvnet:
    name: str
    lesson: str
    build: Callable[..., keras.Model]
    epochs: int                       # default training epochs on the default data
    pretrained_base: bool = False     # build() takes base=... (pretrained by train.py)
    takes_flip: bool = False          # build() takes flip=... (off for mirror-sensitive data)
    notes: str = ""
    extra_sources: tuple[Callable, ...] = field(default=(output_layer,))


CONVNETS: dict[str, LessonConvnet] = {c.name: c for c in (
    LessonConvnet("lesson1_transfer", "1 the convolutional classifier", make_lesson1_transfer, epochs=6,
                  pretrained_base=True, extra_sources=(output_layer, make_base),
                  notes="frozen base pretrained on scikit-learn's UCI 8x8 digits (a different data set)"),
    LessonConvnet("lesson4_strided", "4 the sliding window", make_lesson4_strided, epochs=6),
    LessonConvnet("lesson5_custom", "5 custom convnets", make_lesson5_custom, epochs=8),
    LessonConvnet("lesson6_augmented", "6 data augmentation", make_lesson6_augmented, epochs=8, takes_flip=True),
)}

AUGMENTATION_LAYERS = (
    layers.RandomFlip, layers.RandomRotation, layers.RandomContrast, layers.RandomZoom,
    layers.RandomTranslation, layers.RandomCrop, layers.RandomBrightness,
)


def get_convnets(names: list[str] | None) -> list[LessonConvnet]:
    """Registry lookup; an unknown name is a user error that lists the valid ones."""
    if not names:
        return list(CONVNETS.values())
    unknown = [n for n in names if n not in CONVNETS]
    if unknown:
        raise UserError(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(CONVNETS)}")
    return [CONVNETS[n] for n in names]


def strip_augmentation(model: keras.Model) -> keras.Model:
    """The inference model: the same layers and weights minus the random augmentation layers,
    so exporters trace no RNG ops. Layers are rebuilt from config (not shared) so that
    freezing or wrapping the copy never touches the trained model."""
    kept = [layer for layer in model.layers if not isinstance(layer, AUGMENTATION_LAYERS)]
    if len(kept) == len(model.layers) or not isinstance(model, keras.Sequential):
        # A functional model (a user's own) keeps them: rebuilding its graph as a chain would be
        # wrong, and the exporters trace training=False, where they pass their input through.
        return model
    clone = keras.Sequential(
        [keras.Input(shape=model.input_shape[1:])] + [type(layer).from_config(layer.get_config()) for layer in kept],
        name=f"{model.name}_inference")
    for src, dst in zip(kept, clone.layers):
        dst.set_weights(src.get_weights())
    return clone
