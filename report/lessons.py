"""The course's lessons 2-4 drawn on a real image from the data: the trained first-layer
kernels, the feature maps after convolution, after ReLU and after max pooling, and the
effect of stride. Figures are returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def first_conv(model):
    """The first Conv2D layer, looking inside nested models (lesson 1's base)."""
    from convbench.tfsetup import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found = first_conv(layer)
            if found is not None:
                return found
        elif isinstance(layer, keras.layers.Conv2D):
            return layer
    return None


def kernels_figure(conv, title: str, count: int = 8) -> bytes:
    import matplotlib.pyplot as plt

    kernel = conv.get_weights()[0]            # (kh, kw, in, out)
    count = min(count, kernel.shape[-1])
    fig, axes = plt.subplots(1, count, figsize=(1.3 * count, 1.6))
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(kernel[:, :, 0, i], cmap="RdBu_r")
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def feature_maps_figure(conv, image: np.ndarray, title: str, channels: int = 4) -> bytes:
    """Lesson 2 and 3: convolution (filter), ReLU (detect), max pooling (condense)."""
    import matplotlib.pyplot as plt
    from convbench.tfsetup import tf

    kernel, bias = conv.get_weights()
    x = tf.constant(image[None].astype(np.float32))
    filtered = tf.nn.conv2d(x, kernel, strides=conv.strides, padding=conv.padding.upper()) + bias
    detected = tf.nn.relu(filtered)
    condensed = tf.nn.max_pool2d(detected, ksize=2, strides=2, padding="VALID")
    stages = [("image", x.numpy()), ("convolution", filtered.numpy()), ("ReLU", detected.numpy()),
              ("max pool 2x2", condensed.numpy())]
    fig, axes = plt.subplots(channels, len(stages), figsize=(2.0 * len(stages), 2.0 * channels))
    for row in range(channels):
        for col, (name, arr) in enumerate(stages):
            ax = axes[row, col]
            ax.imshow(arr[0, :, :, 0 if name == "image" else row], cmap="gray" if name == "image" else "magma")
            ax.set_axis_off()
            if row == 0:
                ax.set_title(f"{name}\n{arr.shape[1]}x{arr.shape[2]}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def stride_figure(conv, image: np.ndarray, title: str) -> bytes:
    """Lesson 4: the same trained kernel slid with stride 1, 2 and 3 ('same' and 'valid')."""
    import matplotlib.pyplot as plt
    from convbench.tfsetup import tf

    kernel, bias = conv.get_weights()
    x = tf.constant(image[None].astype(np.float32))
    settings = [(1, "SAME"), (2, "SAME"), (2, "VALID"), (3, "VALID")]
    fig, axes = plt.subplots(1, len(settings), figsize=(2.2 * len(settings), 2.4))
    for ax, (stride, padding) in zip(axes, settings):
        out = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=stride, padding=padding) + bias).numpy()
        ax.imshow(out[0, :, :, 0], cmap="magma")
        ax.set_title(f"stride {stride}, {padding.lower()}\n{out.shape[1]}x{out.shape[2]}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return _png(fig)
