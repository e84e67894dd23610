"""Atomic writes: a reader never sees a half-written artifact, and an interrupted run leaves
nothing that a later run mistakes for a finished one (temp name in the same folder, then rename).
What convbench writes gets the permissions the user's umask gives (tempfile's own 0600/0700
would hide report.html from a CI upload or a web server), and the temporaries a killed run left
behind are removed by the next run that holds the folder's lock."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Iterator

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: restore at once
    os.umask(mask)
    return mask


def _as_umask_allows(path: Path, directory: bool) -> None:
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _as_umask_allows(Path(tmp), directory=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def make_temp_dir(final: Path) -> Path:
    """An empty folder beside `final`, named so that remove_stale_temporaries() knows it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=TMP_SUFFIX))
    _as_umask_allows(tmp, directory=True)
    return tmp


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished temp folder to `final`, replacing an older one."""
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}{TMP_SUFFIX}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temp folder beside `final`; on success it is renamed to `final` (replacing an
    older one), on any error it is removed. The folder's existence therefore means "complete"."""
    tmp = make_temp_dir(final)
    try:
        yield tmp
        publish_dir(tmp, Path(final))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Remove what killed runs left under `root`: hidden '*.tmp' files and folders made by the
    functions above (and the converters' '.scratch-*' files). Call it only while holding the
    folder's lock (convbench.core.lock), so no live run's temporaries are touched."""
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for path in sorted(root.rglob(".*"), key=lambda p: len(p.parts)):
        if not (path.name.endswith(TMP_SUFFIX) or path.name.startswith(".scratch-")) or not path.exists():
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
