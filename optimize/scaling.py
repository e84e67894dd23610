"""Scaling artifacts: each lesson architecture with random weights at a given input side, as
fp32 and int8 TFLite and ONNX files, cached under <artifacts>/scaling/ by a fingerprint of
everything that decides their bytes (builder code, shape, seed, library versions).
The optimize step builds them (in its worker pool); the scaling benchmark reads them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from convbench.core.formats import file_name
from convbench.core.records import ScalingRecord, read_record, write_record

FORMATS = ("tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_int8")
CALIBRATION_SAMPLES = 8  # random images in [0, 1): the weights are random too, ranges only need to exist
SEED = 0
SCHEMA = 1
SIDES = (28, 64, 128)   # the lessons' 128x128 images at most; `--scaling-sides 28 64 128 224` adds 224
QUICK_SIDES = (28, 64)
CHANNELS = 3  # the Kaggle course's 128x128x3 images; every side uses 3 channels


def scaling_fingerprint(arch: str, input_shape, num_classes: int) -> str:
    from convbench.core.fingerprint import code_of, fingerprint, library_versions
    from convbench.models.convnets import CONVNETS
    from convbench.optimize import export

    entry = CONVNETS[arch]
    return fingerprint({
        "schema": SCHEMA, "arch": arch, "input_shape": list(input_shape), "num_classes": num_classes,
        "code": [code_of(entry.build)] + [code_of(f) for f in entry.extra_sources] + [code_of(ScalingRecord)],
        "exporters": [code_of(export.to_tflite), code_of(export.to_onnx), code_of(export.tflite_to_onnx)],
        "seed": SEED, "calibration": CALIBRATION_SAMPLES, "formats": FORMATS, "versions": library_versions(),
    })


def cached_scaling(root: Path, arch: str, side: int, num_classes: int,
                   channels: int = CHANNELS) -> ScalingRecord | None:
    """The files for (arch, side) from the cache folder, or None where they would be built now."""
    fp = scaling_fingerprint(arch, (side, side, channels), num_classes)
    folder = Path(root) / f"{arch}-{side}x{side}x{channels}-{fp[:12]}"
    if (folder / "meta.json").exists():
        return replace(read_record(folder / "meta.json", ScalingRecord), cached=True, folder=folder)
    return None


def get_scaling_artifacts(root: Path, arch: str, side: int, channels: int, num_classes: int) -> ScalingRecord:
    """The four files for (arch, side), built once and then read from the cache folder."""
    from convbench.core.fsutil import atomic_dir
    from convbench.models.convnets import CONVNETS, get_convnets

    get_convnets([arch])  # UserError listing the valid names
    cached = cached_scaling(root, arch, side, num_classes, channels)
    if cached is not None:
        return cached
    input_shape = (side, side, channels)
    fp = scaling_fingerprint(arch, input_shape, num_classes)
    folder = Path(root) / f"{arch}-{side}x{side}x{channels}-{fp[:12]}"

    from convbench.models.convnets import strip_augmentation
    from convbench.models.flops import count_flops
    from convbench.optimize.export import EXPORTERS, ExportInputs
    from convbench.core.tfsetup import keras

    keras.utils.set_random_seed(SEED)
    # lesson1 without its pretrained base: build() makes a fresh, randomly initialised one.
    model = strip_augmentation(CONVNETS[arch].build(input_shape, num_classes))
    calibration = np.random.default_rng(SEED).random((CALIBRATION_SAMPLES, *input_shape), dtype=np.float32)
    with atomic_dir(folder) as tmp:
        for fmt in FORMATS:
            source = tmp / file_name("tflite_int8") if fmt == "onnx_int8" else None
            EXPORTERS[fmt].make(ExportInputs(model=model, calibration=calibration), tmp / file_name(fmt), source)
        meta = ScalingRecord(arch=arch, input_shape=list(input_shape), num_classes=num_classes, fingerprint=fp,
                             flops_per_image=int(count_flops(model)), params=int(model.count_params()),
                             weights="random (seed 0)", calibration=f"{CALIBRATION_SAMPLES} uniform random images",
                             bytes={f: (tmp / file_name(f)).stat().st_size for f in FORMATS})
        write_record(tmp / "meta.json", meta)
    keras.backend.clear_session()
    return replace(meta, folder=folder)


def scaling_job(root: Path, arch: str, side: int, num_classes: int) -> ScalingRecord:
    """One (architecture, side), in an optimize worker: ticks once when its files exist."""
    from convbench.core.workers import tick

    artifacts = get_scaling_artifacts(root, arch, side, CHANNELS, num_classes)
    tick(f"{arch}@{side}px")
    return artifacts
