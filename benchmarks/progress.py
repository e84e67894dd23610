"""The bench stage's one progress display. The child `python -m pytest` loads this module as a
plugin (-p) and reports each finished row as a JSON line on a pipe the parent gave it; the parent
draws them as one bar (counts, skips, failures, ETA) while pytest's own output goes to the run
folder's bench.log. Failures and skip reasons are in the summary printed after the run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from convbench.core.progress import Progress

PROGRESS_FD_ENV = "CONVBENCH_PROGRESS_FD"
LABEL_CHARS = 48                        # of the current row's id beside the bar: the bar keeps its width
_out = None                             # the child's end of the pipe (None: not reporting)
_outcomes: dict[str, str] = {}


def _emit(event: dict) -> None:
    if _out is not None:
        _out.write(json.dumps(event) + "\n")
        _out.flush()


# ---- in the child: pytest hooks --------------------------------------------------------------

def pytest_configure(config) -> None:
    global _out
    fd = os.environ.get(PROGRESS_FD_ENV)
    if fd and _out is None:
        _out = os.fdopen(int(fd), "w", buffering=1)


def pytest_collection_finish(session) -> None:
    _emit({"total": len(session.items)})


def pytest_runtest_logreport(report) -> None:
    # The worst phase decides: a setup skip, a call failure, a teardown error.
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped and _outcomes.get(report.nodeid) != "failed":
        _outcomes[report.nodeid] = "skipped"


def pytest_runtest_logfinish(nodeid, location) -> None:
    _emit({"done": nodeid, "outcome": _outcomes.get(nodeid, "passed")})


# ---- in the parent ----------------------------------------------------------------------------

def run_with_progress(cmd: list[str], log_path: Path, desc: str = "bench") -> int:
    """Run the pytest child with stdout and stderr into `log_path` and one progress bar on the
    console; returns its exit status. The parent blocks on the pipe: no polling loop."""
    read_fd, write_fd = os.pipe()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([*cmd, "-p", __name__], env={**os.environ, PROGRESS_FD_ENV: str(write_fd)}, stdout=log,
                                stderr=subprocess.STDOUT, pass_fds=(write_fd,))
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, encoding="utf-8") as events, Progress(0, desc, "row") as bar:
            _show(events, bar)
        return proc.wait()
    except BaseException:
        # Ctrl-C reached the child too (same process group): let pytest stop, then make sure.
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def _show(events, bar: Progress) -> None:
    """Advance the bar per finished row; a line per finished suite where there is no bar."""
    total, done, counts, suite, label, seen = 0, 0, {}, None, "", set()
    for line in events:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "total" in event:
            total = event["total"]
            bar.total(total)
            continue
        node = event["done"]
        name = Path(node.split("::")[0]).stem.removeprefix("test_")
        if name != suite:
            if suite is not None:
                bar.finished(f"{label} done, {done}/{total} rows ({_counts(counts)})")
                seen.add(suite)
            # rows that load TensorFlow run after all others (benchmarks/conftest.py): a suite may return
            suite, label = name, f"{name} (continued)" if name in seen else name
        done += 1
        counts[event["outcome"]] = counts.get(event["outcome"], 0) + 1
        row = node.split("[", 1)[-1].rstrip("]")
        bar.advance(f"{_counts(counts)} | {label} {row[:LABEL_CHARS]}")
    if suite is not None:
        bar.finished(f"{label} done, {done}/{total} rows ({_counts(counts)})")


def _counts(counts: dict[str, int]) -> str:
    """"12 passed, 2 skipped": the outcomes so far, in that order."""
    return ", ".join(f"{counts[k]} {k}" for k in ("passed", "skipped", "failed") if counts.get(k))
