"""Run a command against a real local Ray cluster for the tests: tests/support/fleet_cluster.py
(a head and one more node) started inside a network namespace with only loopback and its own PID
namespace, so it can contact nothing else and nothing it started outlives it; the test skips
with the reason where that cannot be made (Ray missing, no root for `unshare`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

CLUSTER = REPO_ROOT / "tests" / "support" / "fleet_cluster.py"
NAMESPACE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
# The smallest bench that still measures roofs and accuracy: LiteRT's two tiny files at batch 1.
SMALL_BENCH = ["--quick", "--suites", "latency", "--runtimes", "litert", "--batches", "1"]


def namespace_problem() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not installed"
    probe = subprocess.run([*NAMESPACE, "bash", "-c", "ip link set lo up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a loopback-only network namespace here (needs root): {probe.stderr.strip()[:200]}"
    return None


def on_cluster(out: Path, tmp_path: Path, fleet_args: list[str], node_types=("b", "c"), kill_after=None,
             interrupt_after=None, before: str = "", command: str | None = None,
             label_type: str | None = None) -> subprocess.CompletedProcess:
    """`convbench fleet {address} --out OUT FLEET_ARGS` (or `command`, a bash line without single
    quotes) run against a fresh cluster, after `before`."""
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'convbench[ray]')")
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    convbench = f"{sys.executable} -m convbench.cli"
    fleet = command or " ".join([convbench, "fleet", "{address}", "--out", str(out), *fleet_args])
    script = f"{before}{fleet}"
    kill = ["--kill-node-after", str(kill_after)] if kill_after is not None else []
    kill += ["--interrupt-after", str(interrupt_after)] if interrupt_after is not None else []
    kill += ["--node-label-type", label_type] if label_type else []
    # Ray's session folders and the nodes' work folders in a folder of this test's, removed after it
    # (short: Ray's socket paths must fit in 107 characters).
    scratch = Path(tempfile.mkdtemp(prefix="cbray-"))
    inner = (f"ip link set lo up && cd {tmp_path} && TMPDIR={scratch} {sys.executable} {CLUSTER} --head-types a "
             f"--node-types {' '.join(node_types)} {' '.join(kill)} -- bash -c '{script}'")
    try:
        done = subprocess.run([*NAMESPACE, "bash", "-c", inner], capture_output=True, text=True, timeout=240,
                              cwd=REPO_ROOT)
        # The nodes' work folders that their benches did not remove themselves (killed, not cancelled).
        done.left_on_nodes = sorted(p.name for p in scratch.glob("convbench-fleet-*"))
        return done
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
