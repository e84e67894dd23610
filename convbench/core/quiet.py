"""A quiet console: what TensorFlow, absl, the TFLite converter, tf2onnx and ONNX Runtime print goes
to a log file, and the terminal shows only convbench's own lines (progress, tables, errors).

Silenced at the source, in every process that imports a library:
* environment, set before TensorFlow is imported and inherited by every child (the spawned
  optimize workers, the bench child, its memory children): C++ log levels (TF, gRPC);
* the process's native stderr (fd 2, and stdout in workers) pointed at the log file: the only
  way to catch what C++ code prints itself (the converter's "fully_quantize: 0, ..." lines,
  XNNPACK's "Created TensorFlow Lite XNNPACK delegate", absl's pre-init warnings, which ignore
  TF_CPP_MIN_LOG_LEVEL in TF 2.21);
* Python warnings and logging of libraries into the same log; convbench's own warnings (a
  skipped corrupt image) still reach the terminal.

`--verbose` (every stage command) turns all of this off: libraries print as they always do."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TextIO
from collections.abc import Iterator

# Raised C++ log levels: TF 3 = errors too (cuInit's "failed call" on a machine without a GPU is an
# E-level line; a real failure surfaces as a Python exception with its message).
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "3"}
VERBOSE_ENV = "CONVBENCH_VERBOSE"      # "1": children leave library output alone too

_user: TextIO | None = None            # the terminal while the process's stderr goes to a log
_log: Path | None = None               # that log


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def configure(verbose_: bool) -> None:
    """Call before anything imports TensorFlow; children inherit it through the environment."""
    if verbose_:
        os.environ[VERBOSE_ENV] = "1"
        return
    os.environ.pop(VERBOSE_ENV, None)
    os.environ.update(QUIET_ENV)


def current_log() -> Path | None:
    """The log this process's library output goes to now (None: the terminal)."""
    return _log


def user_stream() -> TextIO:
    """Where convbench's own messages and progress go: the terminal, also while fd 2 is the log."""
    return _user or sys.stderr


@functools.lru_cache(maxsize=1)
def _package_dirs() -> tuple[Path, ...]:
    """Where convbench's code is, editable install (the repository's folders) or not."""
    dirs = []
    for name in ("convbench", "convbench.models", "convbench.optimize", "convbench.benchmarks", "convbench.report"):
        spec = importlib.util.find_spec(name)
        dirs += [Path(p).resolve() for p in (spec.submodule_search_locations or [])] if spec else []
    return tuple(dirs)


def _own(filename: str) -> bool:
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return False
    return any(path.is_relative_to(d) for d in _package_dirs())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """convbench's own warnings to the terminal, every library's to the log (sys.stderr now)."""
    out = user_stream() if _own(filename) else sys.stderr
    out.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextlib.contextmanager
def library_output_to(log_path: Path | None, stdout_too: bool = False) -> Iterator[Path | None]:
    """Point this process's fd 2 (and fd 1 with `stdout_too`), sys.stderr, Python warnings and
    logging at `log_path` (appended) for the block; convbench's own output goes to
    user_stream(). None, or verbose mode: change nothing."""
    global _user, _log
    if log_path is None or verbose():
        yield None
        return
    log_path = Path(log_path)
    # The folders this creates go again with an empty log: a command refused for a bad option
    # leaves no trace (not even an empty artifacts/ folder).
    created = [p for p in (log_path.parent, *log_path.parent.parents) if not p.exists()]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fds = (1, 2) if stdout_too else (2,)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in fds}
    before = (_user, _log, sys.stderr, sys.stdout, warnings.showwarning)
    # Our own lines keep going where stderr went: the terminal (a dup of fd 2), or whatever
    # object sys.stderr was if it is not fd 2 (pytest's capsys); nested, where they went before.
    terminal = None if _user else _terminal(sys.stderr, saved[2])
    _user, _log = _user or terminal, log_path
    log = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    root = logging.getLogger()
    # A root handler also stops logging.warning() from installing its own stderr handler later.
    root.addHandler(handler)
    try:
        for fd in fds:
            os.dup2(log.fileno(), fd)
        sys.stderr = log
        if stdout_too:
            sys.stdout = log
        warnings.showwarning = _show_warning
        yield log_path
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        root.removeHandler(handler)
        _user, _log, sys.stderr, sys.stdout, warnings.showwarning = before
        log.close()
        with contextlib.suppress(OSError):
            if log_path.stat().st_size == 0:
                log_path.unlink()      # nothing was said: no empty file to wonder about
                for folder in created:  # deepest first; a folder the command filled stays
                    folder.rmdir()
        if terminal not in (None, before[2]):
            terminal.close()


def _terminal(stream: TextIO, saved_fd: int) -> TextIO:
    try:
        if stream.fileno() != 2:
            return stream
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return stream                  # not a file (a capture buffer): it is not fd 2 either
    return os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding=getattr(stream, "encoding", None) or "utf-8",
                     errors="replace", closefd=True)


def tail(path: Path | None, lines: int = 15) -> list[str]:
    """The last lines of a log, for a failure message (empty when there is none)."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:] if path else []
    except OSError:
        return []
