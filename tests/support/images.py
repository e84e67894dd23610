"""Small real image folders written with Pillow (no network, no mocks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_image_folder(root: Path, classes=("car", "truck"), per_class: int = 12, size: int = 20,
                       splits=("train",), seed: int = 0) -> Path:
    """Class i draws stripes at orientation i, so the task is learnable from few images."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in splits:
        for label, cls in enumerate(classes):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                img = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
                stripe = slice(i % 4, None, 4)
                if label % 2 == 0:
                    img[stripe, :, :] = 230
                else:
                    img[:, stripe, :] = 230
                ext = (".png", ".jpg", ".bmp", ".jpeg")[i % 4]
                Image.fromarray(img).save(folder / f"{cls}_{i}{ext}")
    return root
