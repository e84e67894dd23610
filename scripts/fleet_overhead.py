"""Ray's own cost in `convbench fleet` (a measurement, not part of `make test`): the same bench
run locally and through a fleet on a local Ray cluster, alternated, wall time of each command.

    .venv/bin/python scripts/fleet_overhead.py ARTIFACTS --repeats 2 -- --quick --models lesson5_custom --suites latency

The cluster (a head with machine type `a` and a second node with type `b`, all CPUs of this
machine each) runs inside a network namespace with only loopback and its own PID namespace
(needs root): nothing else is contacted and nothing outlives the script. Three commands, each
on its own copy of ARTIFACTS (runs/, results.duckdb and fleets/ left out):

* local   `convbench bench ARGS`
* fleet1  `convbench fleet ADDRESS --machine-types a ARGS`: the same one bench, through Ray
          (connect, software check, ship the artifact set, bench on the node, bring back, store)
* fleet2  `convbench fleet ADDRESS ARGS`: both types at once. On one machine the two benches
          share its cores: this times the fleet's parallel path, not a speed-up between machines.

Prints a table; docs/measurements/index.md keeps the dated figures."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

INSIDE = "CONVBENCH_FLEET_OVERHEAD_INSIDE"
LEFT_OUT = ("runs", "results.duckdb", "fleets", "logs", "gates")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=lambda d, names: [n for n in names if Path(d) == src and n in LEFT_OUT])
    return dst


def _timed(cmd: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        print(f"{' '.join(cmd[2:5])}: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}", flush=True)
    return time.perf_counter() - t0, done.returncode


def _bench_times(out: Path) -> str:
    """Each run's own account: started -> finished (whole seconds), roofs and suites."""
    from datetime import datetime

    said = []
    for bench in sorted((out / "runs").glob("*/bench.json")):
        record = json.loads(bench.read_text())["convbench"]
        span = (datetime.fromisoformat(record["finished"]) - datetime.fromisoformat(record["started"])).total_seconds()
        suites = ", ".join(f"{k} {v:.1f} s" for k, v in record.get("suite_seconds", {}).items())
        said.append(f"{span:.0f} s started->finished ({suites}; load at start {record['loadavg_at_start'][0]:.1f})")
    return "; ".join(said) or "-"


def inside(args) -> int:
    from ray.cluster_utils import Cluster

    cpus = os.cpu_count() or 1
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "resources": {"machine-type:a": 1},
                                                            "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=cpus, resources={"machine-type:b": 1})
        cluster.wait_for_nodes(timeout=60)
        convbench = [sys.executable, "-m", "convbench.cli"]
        rows = []
        with tempfile.TemporaryDirectory(prefix="fleet-overhead-") as tmp:
            for i in range(args.repeats):
                for name, cmd in (("local", ["bench"]), ("fleet1", ["fleet", cluster.address, "--machine-types", "a"]),
                                  ("fleet2", ["fleet", cluster.address])):
                    out = _copy(args.artifacts, Path(tmp) / f"{name}-{i}")
                    wall, rc = _timed([*convbench, *cmd, "--out", str(out), *args.bench_args])
                    fleet = sorted((out / "fleets").glob("*/fleet.json"))
                    record = json.loads(fleet[0].read_text()) if fleet else {}
                    node_s = [round(m["seconds"], 1) for m in record.get("machines", [])]
                    rows.append((name, i, rc, wall, node_s, record.get("shipped_bytes")))
                    print(f"{name} #{i}: exit {rc}, {wall:.1f} s" + (f", per node {node_s} s" if node_s else "")
                          + f"; in bench.json: {_bench_times(out)}", flush=True)
                    shutil.rmtree(out, ignore_errors=True)
        print(f"\n{'command':8} {'repeat':>6} {'exit':>4} {'wall s':>7} {'per node s':>14} {'shipped MB':>10}")
        for name, i, rc, wall, node_s, shipped in rows:
            mb = f"{shipped / 1e6:.0f}" if shipped else "-"
            print(f"{name:8} {i:>6} {rc:>4} {wall:>7.1f} {str(node_s or '-'):>14} {mb:>10}")
        local = [w for n, _, _, w, _, _ in rows if n == "local"]
        for name in ("fleet1", "fleet2"):
            mine = [w for n, _, _, w, _, _ in rows if n == name]
            print(f"{name} / local (median walls): {median(mine) / median(local):.2f}x")
        return 0
    finally:
        cluster.shutdown()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("artifacts", type=Path)
    p.add_argument("--repeats", type=int, default=2)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)   # after --: the bench's own options
    args = p.parse_args(argv[:cut])
    args.artifacts = args.artifacts.resolve()
    args.bench_args = argv[cut + 1:]
    if os.environ.get(INSIDE):
        return inside(args)
    # Re-run inside a loopback-only network namespace with its own PID namespace.
    scratch = tempfile.mkdtemp(prefix="cbray-")   # Ray's session folders: short, removed after
    try:
        env = {**os.environ, INSIDE: "1", "TMPDIR": scratch}
        inner = ["bash", "-c", 'ip link set lo up && exec "$@"', "-", sys.executable, __file__, *sys.argv[1:]]
        return subprocess.run(["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", *inner],
                              env=env).returncode
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
