"""What travels between the driver and a node, as bytes: the artifact set (the manifest and the
folders it points into) each file with its sha256, checked on arrival; and a finished run folder
as one tar archive with its sha256, unpacked by the driver complete or not at all."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from convbench.core.errors import UserError
from convbench.core.fsutil import TMP_SUFFIX, make_temp_dir, publish_dir
from convbench.core.records import MANIFEST_FILE

# What a bench writes or keeps beside the artifacts, never what it reads: not shipped.
NOT_SHIPPED = ("runs", "logs", "manifests", "gates", "fleets", "results.duckdb", ".benchmarks")


@dataclass(frozen=True)
class ShippedFile:
    path: str                          # relative to the artifacts folder, POSIX
    sha256: str
    data: bytes


PER_MODEL = ("trained", "optimized")   # <folder>/<model>-<fingerprint>/...: one model's files
SCALING = "scaling"                    # the scaling suite's random-weight files (109 of 156 MB by default)


def _needed(rel: Path, models: tuple[str, ...], scaling: bool) -> bool:
    """Whether a bench of `models` (empty: all), with the scaling suite or not, reads this file."""
    if rel.parts[0] in NOT_SHIPPED or any(p.startswith(".") or p.endswith(TMP_SUFFIX) for p in rel.parts) \
            or rel.suffix == ".lock":
        return False
    if rel.parts[0] == SCALING and len(rel.parts) > 1:
        return scaling
    if rel.parts[0] in PER_MODEL and len(rel.parts) > 1 and models:
        return rel.parts[1].rsplit("-", 1)[0] in models   # fingerprints are hex: no '-' in them
    return True


def artifact_set(out: Path, models: tuple[str, ...] = (), scaling: bool = True,
                 require_manifest: bool = True) -> list[ShippedFile]:
    """The manifest and every file under the artifacts folder that a bench of `models` (empty:
    all), with the scaling suite or without, reads (outputs, locks and temporaries left out).
    Without `require_manifest` (an optimize job's inputs) a folder with no manifest yet is fine."""
    out = Path(out)
    if require_manifest and not (out / MANIFEST_FILE).is_file():
        raise UserError(f"{out}: no {MANIFEST_FILE}; run `convbench optimize` first")
    return files_under(out, lambda rel: _needed(rel, models, scaling))


def files_under(root: Path, keep=lambda rel: True, prefix: str = "") -> list[ShippedFile]:
    """Every file under `root` (or `root` itself, a file) that `keep(relative path)` accepts, each
    with its sha256, named `prefix` + its path relative to `root` (a file: its name)."""
    root = Path(root)
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    files = []
    for path in paths:
        rel = Path(path.name) if root.is_file() else path.relative_to(root)
        if not path.is_file() or not keep(rel):
            continue
        data = path.read_bytes()
        files.append(ShippedFile(prefix + rel.as_posix(), hashlib.sha256(data).hexdigest(), data))
    return files


def unpack_artifact_set(files: list[ShippedFile], into: Path) -> None:
    """Write the shipped files under `into`, each checked against its sha256 first."""
    for f in files:
        if hashlib.sha256(f.data).hexdigest() != f.sha256:
            raise RuntimeError(f"{f.path}: arrived with another sha256 than it left with")
        rel = Path(f.path)
        if rel.is_absolute() or ".." in rel.parts:
            raise RuntimeError(f"{f.path}: not a path inside the artifacts folder")
        target = into / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.data)


@dataclass(frozen=True)
class RunArchive:
    name: str                          # the run folder's name on the node
    sha256: str
    data: bytes                        # tar (gzip) of the folder's contents


def pack_run(folder: Path) -> RunArchive:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    data = buffer.getvalue()
    return RunArchive(folder.name, hashlib.sha256(data).hexdigest(), data)


def publish_run(archive: RunArchive, final: Path, extra: dict[str, bytes]) -> None:
    """Unpack a run archive into `final` (plus `extra` files: name -> bytes): under a temporary
    name, renamed when complete; a bad archive leaves nothing behind."""
    if hashlib.sha256(archive.data).hexdigest() != archive.sha256:
        raise RuntimeError(f"run {archive.name}: the archive arrived with another sha256 than it left with")
    tmp = make_temp_dir(final)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive.data), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")   # refuses absolute paths, '..', devices and links out
        for name, data in extra.items():
            (tmp / name).write_bytes(data)
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
