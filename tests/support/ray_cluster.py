"""Run commands against a real local Ray cluster for the tests: tests/support/fleet_cluster.py
(a head and one more node) started inside a network namespace with only loopback and its own PID
namespace, so it can contact nothing else and nothing it started outlives it; the test skips
with the reason where that cannot be made (Ray missing, no root for `unshare`). One cluster runs
a whole list of steps, one after another."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

CLUSTER = REPO_ROOT / "tests" / "support" / "fleet_cluster.py"
NAMESPACE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
# The smallest bench that still measures roofs and accuracy: LiteRT's two tiny files at batch 1.
SMALL_BENCH = ["--quick", "--suites", "latency", "--runtimes", "litert", "--batches", "1"]
CONVBENCH = f"{sys.executable} -m convbench.cli"


def namespace_problem() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not installed"
    probe = subprocess.run([*NAMESPACE, "bash", "-c", "ip link set lo up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a loopback-only network namespace here (needs root): {probe.stderr.strip()[:200]}"
    return None


def fleet(out: Path, *args: str) -> str:
    """The bash line of `convbench fleet {address} --out OUT ARGS`."""
    return " ".join([CONVBENCH, "fleet", "{address}", "--out", str(out), *args])


@dataclass
class Step:
    """One command on the cluster ('{address}' replaced by the head's), run in `cwd`; at most one
    of: the second node killed (the last step only), or the command sent Ctrl-C, this many
    seconds after it printed "bench submitted"."""

    command: str
    cwd: Path
    kill_node_after: float | None = None
    interrupt_after: float | None = None


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str
    left_on_nodes: list[str]   # the nodes' work folders that their benches did not remove (killed, not cancelled)


def on_cluster(steps: list[Step], node_types=("b", "c"), label_type: str | None = None) -> list[Done]:
    """Each step's result, all run on one fresh cluster (a head of type a, a node of `node_types`
    and, as its label, `label_type`)."""
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'convbench[ray]')")
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    # Ray's session folders and the nodes' work folders in a folder of these steps', removed after
    # them (short: Ray's socket paths must fit in 107 characters).
    scratch = Path(tempfile.mkdtemp(prefix="cbray-"))
    plan = [{**asdict(s), "cwd": str(s.cwd), "out": str(scratch / "steps" / str(i))} for i, s in enumerate(steps)]
    (scratch / "steps.json").write_text(json.dumps(plan))
    label = f"--node-label-type {label_type}" if label_type else ""
    inner = (f"ip link set lo up && TMPDIR={scratch} {sys.executable} {CLUSTER} --head-types a "
             f"--node-types {' '.join(node_types)} {label} --steps {scratch / 'steps.json'}")
    try:
        cluster = subprocess.run([*NAMESPACE, "bash", "-c", inner], capture_output=True, text=True,
                                 timeout=120 + 240 * len(steps), cwd=REPO_ROOT)
        done = []
        for step in plan:
            out = Path(step["out"])
            if not (out / "rc").is_file():
                raise AssertionError(f"the cluster stopped before step {step['command']!r}:\n"
                                     f"{cluster.stdout[-2000:]}{cluster.stderr[-3000:]}")
            done.append(Done(int((out / "rc").read_text()), (out / "stdout.txt").read_text(),
                             (out / "stderr.txt").read_text(), json.loads((out / "left.json").read_text())))
        return done
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
