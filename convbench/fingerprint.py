"""Content fingerprints that key the caches: same inputs -> same key -> load instead of recompute."""

from __future__ import annotations

import hashlib
import inspect
import json
from importlib import metadata
from typing import Any, Callable

# Versions that change what training or conversion produces; part of every fingerprint.
FINGERPRINT_PACKAGES = (
    "tensorflow", "tf-keras", "tensorflow-model-optimization", "tf2onnx", "onnx",
    "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "numpy",
)


def library_versions(packages: tuple[str, ...] = FINGERPRINT_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def source_of(fn: Callable[..., Any]) -> str:
    """The source text of a builder: editing a model definition changes its fingerprint."""
    return inspect.getsource(fn)


def fingerprint(obj: Any) -> str:
    """sha256 of the canonical JSON of `obj` (sorted keys), as 64 hex digits."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def sha256_file(path, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()
