"""An expensive test input built once per test run. Without pytest-xdist a session fixture already
is; with it, each worker has its own session, so the folder is built under a file lock in the
run's temp root, which all workers share: the first worker to ask builds it, the others wait for
it and reuse it. Tests read it; a test that writes into one takes a copy first."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def run_temp_root(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temp folder of the whole run: a worker's basetemp is <run's basetemp>/popen-gwN."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


def built_once(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], object]) -> Path:
    """<run temp root>/shared/<name>, filled by `build(folder)` unless a worker already did. A
    build that raised leaves no `.done` marker: the next worker to ask starts over."""
    root = run_temp_root(config, tmp_path_factory) / "shared"
    root.mkdir(parents=True, exist_ok=True)
    folder, done = root / name, root / f"{name}.done"
    with FileLock(root / f"{name}.lock"):
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            build(folder)
            done.touch()
    return folder
