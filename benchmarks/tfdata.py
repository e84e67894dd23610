"""tf.data input pipelines over the real train split, from naive to cached + parallel + prefetched,
with per-image work split like a real one: a deterministic stage (resize, to RGB, standardize;
cacheable) and a random augmentation stage (crop, brightness, contrast; must run every epoch)."""

from __future__ import annotations

import time

import numpy as np

PIPELINES = {
    # name: (parallel map, cache after the deterministic stage, prefetch)
    "naive": (False, False, False),
    "cache": (False, True, False),
    "prefetch": (False, False, True),
    "parallel": (True, False, False),
    "parallel_cache_prefetch": (True, True, True),
}
RESIZE_TO = 36
CROP_TO = 32
MAX_IMAGES = 1024  # one epoch = this many train images (keeps a row under a second here)
MAP_WORK = (f"resize {RESIZE_TO}x{RESIZE_TO} bicubic, to RGB, standardize | "
            f"random crop {CROP_TO}x{CROP_TO}, brightness, contrast")


def build_pipeline(name: str, x: np.ndarray, y: np.ndarray, batch: int):
    from convbench.core.tfsetup import tf

    parallel, cache, prefetch = PIPELINES[name]
    calls = tf.data.AUTOTUNE if parallel else None
    channels = x.shape[-1]

    def deterministic(image, label):
        image = tf.image.resize(image, (RESIZE_TO, RESIZE_TO), method="bicubic")
        if channels == 1:
            image = tf.image.grayscale_to_rgb(image)
        return tf.image.per_image_standardization(image), label

    def augment(image, label):
        image = tf.image.random_crop(image, (CROP_TO, CROP_TO, 3))
        image = tf.image.random_brightness(image, 0.2)
        return tf.image.random_contrast(image, 0.8, 1.2), label

    ds = tf.data.Dataset.from_tensor_slices((x, y)).map(deterministic, num_parallel_calls=calls)
    if cache:
        ds = ds.cache()
    ds = ds.map(augment, num_parallel_calls=calls).batch(batch)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def run_epoch(ds, consumer_s: float = 0.0) -> int:
    """Iterate one epoch; `consumer_s` per batch simulates a train step (sleeping, as in TF's
    tf.data performance guide, so prefetching has something to overlap with). Returns images."""
    images = 0
    for batch_x, _ in ds:
        images += int(batch_x.shape[0])
        if consumer_s:
            time.sleep(consumer_s)
    return images
