"""A real local Ray cluster for the fleet tests: a head and one more node, each with its machine
types as custom resources, then one command run against it ('{address}' in its arguments is
replaced by the head's), then every Ray process stopped, also on failure. Meant to run inside a
network namespace with only loopback and its own PID namespace (tests/test_fleet.py), so it can
contact nothing else and nothing it started outlives it.

    python fleet_cluster.py --head-types a --node-types b c [--node-label-type d]
                            [--kill-node-after S | --interrupt-after S] -- CMD...

--node-label-type gives the second node one more machine type as the node label machine-type=<T>
(Ray's labels) rather than as a custom resource: both ways of naming a type, on a real cluster.

--kill-node-after S kills the second node (--interrupt-after S: sends the command Ctrl-C's SIGINT)
S seconds after the command prints a line with "bench submitted" (its benches are running then),
not at a guessed time.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--head-types", nargs="*", default=[])
    p.add_argument("--node-types", nargs="*", default=[])
    p.add_argument("--node-label-type", help="the second node's machine-type label")
    p.add_argument("--kill-node-after", type=float, help="kill the second node this many seconds after the fleet "
                                                         "says it submitted its benches")
    p.add_argument("--interrupt-after", type=float, help="send the command SIGINT (Ctrl-C) this many seconds after "
                                                         "the fleet says it submitted its benches")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

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
        proc = subprocess.Popen([a.replace("{address}", cluster.address) for a in command], stdout=subprocess.PIPE,
                                text=True, bufsize=1)
        timer = None
        try:
            for line in proc.stdout:   # passed through, watched for the moment to kill the node
                print(line, end="", flush=True)
                if timer is None and "bench submitted" in line:
                    if args.kill_node_after is not None:
                        timer = threading.Timer(args.kill_node_after,
                                                lambda: cluster.remove_node(node, allow_graceful=False))
                    elif args.interrupt_after is not None:
                        timer = threading.Timer(args.interrupt_after, lambda: proc.send_signal(signal.SIGINT))
                    if timer is not None:
                        timer.start()
            return proc.wait(timeout=300)
        finally:
            if timer is not None:
                timer.cancel()
            if proc.poll() is None:
                proc.kill()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
