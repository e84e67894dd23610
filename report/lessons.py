"""The course's lessons 2-4 drawn from the arrays the bench stage saved per lesson convnet in
the run folder (illustrations/<model>.npz): the trained first-layer kernels, one test image
through convolution -> ReLU -> max pool, and the first kernel slid with other strides.
No TensorFlow here: the stage that had it loaded computed the arrays."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convbench.core.errors import UserError
from convbench.core.records import BenchRun
from convbench.report.figures import Figure, png, subplots

ILLUSTRATIONS_DIR = "illustrations"
STRIDES = {"stride_1_same": (1, "same"), "stride_2_same": (2, "same"),
           "stride_2_valid": (2, "valid"), "stride_3_valid": (3, "valid")}
ARRAYS = ("image", "class_name", "kernels", "conv", "relu", "pool", *STRIDES)
# Which model illustrates which lesson where it is in the run: lesson 5's small custom convnet
# for filter/detect/condense, lesson 4's strided one for stride (else any model that has data).
PREFERRED = {"feature_maps": "lesson5_custom", "stride": "lesson4_strided"}


@dataclass(frozen=True)
class Illustration:
    model: str
    arrays: dict[str, np.ndarray]

    @property
    def class_name(self) -> str:
        return str(self.arrays["class_name"])


def illustration_path(folder: Path, model: str) -> Path:
    return Path(folder) / ILLUSTRATIONS_DIR / f"{model}.npz"


def load_illustration(path: Path, model: str) -> Illustration:
    """One saved illustration; a corrupt or foreign file is a UserError naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None
    lacking = [k for k in ARRAYS if k not in arrays]
    if lacking:
        raise UserError(f"{path}: lacks {', '.join(lacking)}; not the lesson illustration the bench stage writes")
    return Illustration(model, arrays)


def kernels_figure(kernels: np.ndarray, title: str, count: int = 8) -> bytes:
    """The first input channel of the first `count` kernels, (kh, kw, in, out)."""
    count = min(count, kernels.shape[-1])
    fig, axes = subplots(1, count, figsize=(1.3 * count, 1.6), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(kernels[:, :, 0, i], cmap="RdBu_r")
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return png(fig)


def feature_maps_figure(ill: Illustration, title: str, channels: int = 4) -> bytes:
    """Lessons 2 and 3: convolution (filter), ReLU (detect), max pooling (condense)."""
    a = ill.arrays
    stages = [("image", a["image"]), ("convolution", a["conv"]), ("ReLU", a["relu"]), ("max pool 2x2", a["pool"])]
    channels = min(channels, a["conv"].shape[-1])
    fig, axes = subplots(channels, len(stages), figsize=(2.0 * len(stages), 2.0 * channels), squeeze=False)
    for row in range(channels):
        for col, (name, arr) in enumerate(stages):
            ax = axes[row, col]
            if name == "image":  # RGB as it is; one channel in gray
                ax.imshow(arr if arr.shape[-1] == 3 else arr[:, :, 0], cmap="gray")
            else:
                ax.imshow(arr[:, :, row], cmap="magma")
            ax.set_axis_off()
            if row == 0:
                ax.set_title(f"{name}\n{arr.shape[0]}x{arr.shape[1]}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return png(fig)


def stride_figure(ill: Illustration, title: str) -> bytes:
    """Lesson 4: the same trained kernel slid with stride 1, 2 and 3 ('same' and 'valid')."""
    fig, axes = subplots(1, len(STRIDES), figsize=(2.2 * len(STRIDES), 2.4), squeeze=False)
    for ax, (key, (stride, padding)) in zip(axes[0], STRIDES.items()):
        out = ill.arrays[key]
        ax.imshow(out, cmap="magma")
        ax.set_title(f"stride {stride}, {padding}\n{out.shape[0]}x{out.shape[1]}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return png(fig)


def lesson_figures(run: BenchRun) -> list[Figure]:
    """The three lesson figures, or for each a line saying which file is missing."""
    models = sorted({t.name for t in run.manifest.trained} if run.manifest else {r.model for r in run.latency})
    found = {m: illustration_path(run.folder, m) for m in models if illustration_path(run.folder, m).is_file()}

    def chosen(lesson: str) -> Illustration | None:
        model = PREFERRED[lesson] if PREFERRED[lesson] in found else next(iter(sorted(found)), None)
        return None if model is None else load_illustration(found[model], model)

    wanted = " or ".join(f"{ILLUSTRATIONS_DIR}/{m}.npz" for m in (models or ["<model>"]))
    missing = f"no lesson illustration data in the run folder ({wanted}; the bench stage writes them)"
    maps, stride = chosen("feature_maps"), chosen("stride")
    drawn = {ill.model: ill for ill in (maps, stride) if ill}.values()
    kernels = [Figure(f"kernels_{ill.model}", f"Trained first-layer kernels of {ill.model}",
                      kernels_figure(ill.arrays["kernels"], f"{ill.model}: first Conv2D kernels (trained)"))
               for ill in drawn] or [Figure("kernels", "Trained first-layer kernels", missing=missing)]
    return [
        *kernels,
        Figure.drawn("feature_maps", "Lessons 2-3: filter (convolution), detect (ReLU), condense (max pool)",
                     maps and feature_maps_figure(maps, f"{maps.model}, test image of class {maps.class_name}"),
                     missing),
        Figure.drawn("stride", "Lesson 4: the same kernel with stride 1, 2, 3 and 'same'/'valid' padding",
                     stride and stride_figure(stride, f"{stride.model}: first kernel slid with different strides"),
                     missing),
    ]
