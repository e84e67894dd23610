"""One convbench command at a time per artifacts folder. Two `optimize` runs on one folder
raced each other's variant folders (their manifests listed hashes of files the other had
replaced); two `bench` runs would share the cores they time. The second waits, saying why."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from collections.abc import Iterator

from filelock import FileLock, Timeout

from convbench.core import quiet

LOCK_FILE = ".convbench.lock"


@contextlib.contextmanager
def folder_lock(folder: Path, command: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold the folder's lock for the block. If another convbench command holds it, print one
    line naming it and wait (`wait_s` None: as long as it takes; else give up with a UserError).
    While holding it, remove the temporaries that killed runs left behind."""
    from convbench.core.errors import UserError
    from convbench.core.fsutil import remove_stale_temporaries

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _holder(path)
        print(f"convbench {command}: {folder} is in use by {holder}; waiting for it to finish",
              file=quiet.user_stream(), flush=True)
        try:
            lock.acquire(timeout=-1 if wait_s is None else wait_s)
        except Timeout:
            raise UserError(f"{folder}: still in use by {holder} after {wait_s:g} s") from None
    try:
        with contextlib.suppress(OSError):  # who holds it, for the next one's message
            path.with_suffix(".owner").write_text(f"convbench {command} (pid {os.getpid()})\n")
        remove_stale_temporaries(folder)
        yield
    finally:
        lock.release()


def _holder(path: Path) -> str:
    try:
        return path.with_suffix(".owner").read_text().strip() or "another convbench command"
    except OSError:
        return "another convbench command"
