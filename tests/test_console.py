"""The quiet console: library output (native fd 2, Python stderr, logging, warnings) goes to the
log while convbench's own lines reach the terminal; --verbose leaves everything on the console;
the bench stage's progress is one display, with a line per suite where there is no terminal.
Child processes, so that file descriptor 2 is really the one read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from convbench.benchmarks.progress import _show
from convbench.core.progress import Progress
from convbench.core.quiet import QUIET_ENV, VERBOSE_ENV

CHILD = r"""
import logging, os, sys, warnings
from pathlib import Path
from convbench.core import quiet
quiet.configure(sys.argv[2] == "verbose")
with quiet.library_output_to(Path(sys.argv[1])):
    os.write(2, b"native noise on fd 2\n")                # what C++ code prints
    print("python stderr noise", file=sys.stderr)
    logging.getLogger("somelib").warning("library logging noise")
    warnings.warn_explicit("library warning", UserWarning, "/x/site-packages/somelib/core.py", 1)
    warnings.warn_explicit("own warning", UserWarning, quiet.__file__, 1)
    print("convbench progress", file=quiet.user_stream())
    print("TF level", os.environ.get("TF_CPP_MIN_LOG_LEVEL"), file=quiet.user_stream())
print("stderr is back", file=sys.stderr)
os.write(2, b"fd 2 is back\n")
"""
NOISE = ("native noise on fd 2", "python stderr noise", "library logging noise", "library warning")


def run_child(tmp_path, mode: str) -> tuple[str, str | None]:
    log = tmp_path / "logs" / "x.log"
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENV and k != VERBOSE_ENV}   # as a fresh shell
    proc = subprocess.run([sys.executable, "-c", CHILD, str(log), mode], capture_output=True, text=True, check=True,
                          env=env)
    return proc.stderr, log.read_text() if log.exists() else None


def test_library_output_goes_to_the_log_and_convbench_output_to_the_terminal(tmp_path):
    console, log = run_child(tmp_path, "quiet")
    for line in NOISE:
        assert line in log and line not in console, line
    assert "convbench progress" in console and "own warning" in console and "TF level 3" in console
    assert console.endswith("stderr is back\nfd 2 is back\n")       # restored after the block


def test_verbose_leaves_library_output_on_the_console(tmp_path):
    console, log = run_child(tmp_path, "verbose")
    assert log is None and all(line in console for line in NOISE) and "TF level None" in console


def test_bench_progress_prints_a_line_per_suite_without_a_terminal(capsys):
    events = [{"total": 5}, {"done": "benchmarks/test_latency.py::test_latency[m-a]", "outcome": "passed"},
              {"done": "benchmarks/test_latency.py::test_latency[m-b]", "outcome": "skipped"},
              {"done": "benchmarks/test_memory.py::test_memory[m-a]", "outcome": "failed"}, "not json",
              {"done": "benchmarks/test_memory.py::test_memory[m-b]", "outcome": "passed"},
              {"done": "benchmarks/test_latency.py::test_latency[m-tf]", "outcome": "passed"}]
    with Progress(0, "bench", "row") as bar:
        _show([e if isinstance(e, str) else json.dumps(e) for e in events], bar)
    lines = [line.rsplit(" at ", 1)[0] for line in capsys.readouterr().err.splitlines()]
    assert lines == ["bench: latency done, 2/5 rows (1 passed, 1 skipped)",
                     "bench: memory done, 4/5 rows (2 passed, 1 skipped, 1 failed)",
                     "bench: latency (continued) done, 5/5 rows (3 passed, 1 skipped, 1 failed)"]


def test_every_stage_command_takes_verbose(tmp_path):
    from convbench.cli import build_parser, library_log

    parser = build_parser()
    for argv in (["train"], ["optimize"], ["bench"], ["run"], ["report", str(tmp_path)]):
        args = parser.parse_args([*argv, "--verbose"])
        assert args.verbose and not parser.parse_args(argv).verbose, argv
    run = parser.parse_args(["run", "--out", str(tmp_path / "a")])
    assert library_log(run).parent == tmp_path / "a" / "logs" and library_log(run).name.endswith("-run.log")
    assert library_log(parser.parse_args(["report", str(tmp_path)])) == tmp_path / "report.log"
    assert library_log(parser.parse_args(["report", str(tmp_path / "missing")])) is None   # no folder made
