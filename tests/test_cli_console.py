"""Every message reaches the console: under the quiet console sys.stderr is the library log, so
convbench's own lines go to quiet.user_stream(), and ruff forbids sys.stderr outside quiet.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_the_bench_says_a_run_was_not_stored_on_the_console_not_in_the_log(tmp_path, capsys):
    from convbench.cli.stages import store_run
    from convbench.core import quiet

    log = tmp_path / "logs" / "bench.log"
    with quiet.library_output_to(log):
        rc = store_run(tmp_path, 0, tmp_path / "runs" / "missing")
    assert rc == 1
    err = capsys.readouterr().err
    assert "the run was not stored" in err and "convbench import" in err
    assert not log.exists() or "not stored" not in log.read_text()


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff not installed")
@pytest.mark.parametrize("where, banned", [("benchmarks/new_module.py", True), ("convbench/cli/new.py", True),
                                           ("convbench/core/quiet.py", False)])
def test_ruff_forbids_sys_stderr_outside_the_quiet_console(where, banned):
    """Under the quiet console sys.stderr is the library log: a line printed there is lost."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    root = Path(__file__).resolve().parents[1]
    source = "import sys\n\nprint('lost in the log', file=sys.stderr)\n"
    done = subprocess.run([ruff, "check", "--no-cache", "--select", "TID251", "--stdin-filename", where, "-"],
                          input=source, capture_output=True, text=True, cwd=root)
    assert (done.returncode != 0 and "sys.stderr` is banned" in done.stdout) == banned, done.stdout + done.stderr
