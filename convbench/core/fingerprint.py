"""Content fingerprints that key the caches: same inputs -> same key -> load instead of recompute.

Code enters a fingerprint as its syntax tree without docstrings (comments never reach the
tree), so editing a comment or a docstring re-runs nothing, and editing code does."""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import textwrap
from importlib import metadata
from typing import Any

# Versions that change what training or conversion produces; part of every fingerprint (keras:
# users' Keras 3 models; ai-edge-quantizer: the LiteRT Quantizer variants).
FINGERPRINT_PACKAGES = (
    "tensorflow", "tf-keras", "keras", "tensorflow-model-optimization", "tf2onnx", "onnx",
    "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "ai-edge-quantizer", "numpy",
)


def library_versions(packages: tuple[str, ...] = FINGERPRINT_PACKAGES) -> dict[str, str]:
    return dict(_installed_versions(tuple(packages)))


# Once per process: what is imported cannot change under it, and reading the metadata of eleven
# packages for each of a model's ~23 variants cost seconds.
@functools.cache
def _installed_versions(packages: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return tuple(versions.items())


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


# Once per object and process: the loaded code cannot change under it, and every variant's key
# parses nine modules (about 10 s of a cold optimize's CPU time, py-spy).
@functools.cache
def code_of(obj: Any) -> str:
    """A function's, class's or module's code as a canonical dump of its syntax tree, without
    docstrings, comments, formatting or line numbers."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    return ast.dump(_strip_docstrings(tree), annotate_fields=False, include_attributes=False)


def fingerprint(obj: Any) -> str:
    """sha256 of the canonical JSON of `obj` (sorted keys), as 64 hex digits."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def sha256_file(path, chunk_bytes: int = 1 << 20) -> str:
    return sha256_path(path, chunk_bytes)


def sha256_path(path, chunk_bytes: int = 1 << 20) -> str:
    """sha256 of a file's bytes; for a folder (a SavedModel), of every file's relative path,
    size and bytes in sorted order, so renaming or editing any file inside changes it."""
    from pathlib import Path

    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for file in files:
        if file != path:  # name and size delimit each file's bytes from the next one's
            h.update(f"{file.relative_to(path)}\0{file.stat().st_size}\0".encode())
        with open(file, "rb") as fh:
            while block := fh.read(chunk_bytes):
                h.update(block)
    return h.hexdigest()
