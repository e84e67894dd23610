"""Every quantized file's per-layer error (quant_error.compare) against the closest fp32 file of
the same family, stored in its ArtifactRecord with the reference's "<variant>/<format>":

1. the variant's own fp32 export (pruned_50/tflite_int8 vs pruned_50/tflite_fp32: quantization
   error alone, not pruning's);
2. else the nearest parent variant's (pqat vs pruned_50's fp32: what QAT fine-tuning and int8
   together changed);
3. else the model's post-training fp32 variant (tflite_int8, onnx_static_qdq, the LiteRT
   Quantizer and selective files, and qat: against the trained fp32 model itself).

variants.resolve_variants adds the post-training fp32 variants whenever a quantized format is
selected, so (3) always has a file. Errors are measured on validation images, not the test split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from convbench.core.formats import family, fp32_format, get_format
from convbench.optimize import quant_error
from convbench.optimize.variants import VARIANTS, Variant
from convbench.core.records import ArtifactRecord, VariantRecord


def reference(variant: Variant, fmt: str, produced: dict[str, Path],
              records: dict[str, VariantRecord]) -> tuple[Path, str] | None:
    """(the fp32 file to compare a `fmt` file of `variant` with, its "<variant>/<format>")."""
    fp32 = fp32_format(family(fmt))
    if fp32 in variant.exports and fp32 in produced:
        return produced[fp32], f"{variant.name}/{fp32}"
    for name in (*_ancestors(variant), fp32):
        record = records.get(name)
        found = record and next((a for a in record.artifacts if a.format == fp32 and a.ok), None)
        if found:
            return Path(found.path), f"{name}/{fp32}"
    return None


def _ancestors(variant: Variant) -> list[str]:
    names, parent = [], variant.parent
    while parent:
        names.append(parent)
        parent = VARIANTS[parent].parent
    return names


def attach(artifact: ArtifactRecord, path: Path | None, variant: Variant, produced: dict[str, Path],
           records: dict[str, VariantRecord], xs: np.ndarray) -> ArtifactRecord:
    """The artifact with its per-layer errors (or a note saying why there are none), when it is a
    verified quantized .tflite/.onnx file; otherwise unchanged."""
    if not artifact.ok or path is None or get_format(artifact.format).precision == "fp32" \
            or family(artifact.format) not in ("tflite", "onnx"):
        return artifact
    found = reference(variant, artifact.format, produced, records)
    if found is None:
        return replace(artifact, layer_errors_note=f"no verified {family(artifact.format)}_fp32 file to compare with")
    ref_path, label = found
    try:
        report = quant_error.compare(path, ref_path, xs)
    except Exception as exc:  # a diagnostic: its failure must not fail a verified file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return replace(artifact, layer_errors_note=f"not computed: {type(exc).__name__}: {first}"[:300])
    return replace(artifact, layer_errors=list(report.layers), layer_errors_reference=label)
