"""A real local Ray cluster for the fleet tests: a head and one more node, each with its machine
types as custom resources, then a list of steps run against it one after another, then every Ray
process stopped, also on failure. Meant to run inside a network namespace with only loopback and
its own PID namespace (tests/support/ray_cluster.py), so it can contact nothing else and nothing
it started outlives it.

    python fleet_cluster.py --head-types a --node-types b c [--node-label-type d] --steps STEPS.json

--node-label-type gives the second node one more machine type as the node label machine-type=<T>
(Ray's labels) rather than as a custom resource: both ways of naming a type, on a real cluster.

STEPS.json lists the steps: {"command": a bash line ('{address}' in it replaced by the head's),
"cwd": its folder, "out": where its stdout.txt, stderr.txt, rc and left.json go (the nodes' work
folders that appeared in TMPDIR during the step and are still there), and at most one of
"kill_node_after" (kill the second node; only the last step, the node stays dead) and
"interrupt_after" (send the command Ctrl-C's SIGINT): S seconds after the command prints a line
with "bench submitted" (its benches are running then), not at a guessed time. One cluster for
every step: starting and stopping one takes about 5 s, most of a short step.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path


def left_on_nodes() -> set[str]:
    return {p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("convbench-fleet-*")}


def run_step(step: dict, cluster, node) -> None:
    out = Path(step["out"])
    out.mkdir(parents=True, exist_ok=True)
    before = left_on_nodes()
    with open(out / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen(["bash", "-c", step["command"].replace("{address}", cluster.address)],
                                stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1, cwd=step["cwd"])
        timer, lines = None, []
        try:
            for line in proc.stdout:   # kept, and watched for the moment to kill the node
                lines.append(line)
                if timer is None and "bench submitted" in line:
                    if step.get("kill_node_after") is not None:
                        timer = threading.Timer(step["kill_node_after"],
                                                lambda: cluster.remove_node(node, allow_graceful=False))
                    elif step.get("interrupt_after") is not None:
                        timer = threading.Timer(step["interrupt_after"], lambda: proc.send_signal(signal.SIGINT))
                    if timer is not None:
                        timer.start()
            rc = proc.wait(timeout=300)
        finally:
            if timer is not None:
                timer.cancel()
            if proc.poll() is None:
                proc.kill()
    (out / "stdout.txt").write_text("".join(lines))
    (out / "left.json").write_text(json.dumps(sorted(left_on_nodes() - before)))
    (out / "rc").write_text(str(rc))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--head-types", nargs="*", default=[])
    p.add_argument("--node-types", nargs="*", default=[])
    p.add_argument("--node-label-type", help="the second node's machine-type label")
    p.add_argument("--steps", type=Path, required=True)
    args = p.parse_args()
    steps = json.loads(args.steps.read_text())
    if any(s.get("kill_node_after") is not None for s in steps[:-1]):
        p.error("only the last step may kill the second node")

    from ray.cluster_utils import Cluster

    def types(names):
        return {f"machine-type:{n}": 1 for n in names}

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": types(args.head_types),
                                                            "include_dashboard": False})
    try:
        labels = {"machine-type": args.node_label_type} if args.node_label_type else None
        node = cluster.add_node(num_cpus=1, resources=types(args.node_types), labels=labels)
        cluster.wait_for_nodes(timeout=60)
        print(f"cluster: {cluster.address}", flush=True)
        for step in steps:
            run_step(step, cluster, node)
        return 0
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
