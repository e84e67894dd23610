"""`convbench fleet`: the same artifact set benchmarked on one node of each machine type. The
software is compared before any work; each bench runs with its node reserved (a task asking for
all the node's CPUs and GPUs, pinned to it); each run folder comes back as one archive, is
published under runs/ complete or not at all, and is imported into the store; what each machine
came to is recorded in fleets/<time>/fleet.json. Every wait is bounded."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from convbench.core import quiet
from convbench.core.errors import UserError
from convbench.core.records import to_jsonable, write_record
from convbench.core.records.fleet import FLEET_FILE, FleetMachine, FleetNode, FleetRun
from convbench.fleet.cluster import alive_nodes, cancel_tasks, connect, first_line, pick_nodes, pinned
from convbench.fleet.software import STAMP_TIMEOUT_S, check_same_software, node_stamps, this_software

CANCEL_GRACE_S = 10.0          # after Ctrl-C: how long the nodes get to stop their benches


@dataclass(frozen=True)
class FleetOptions:
    address: str
    out: Path
    machine_types: tuple[str, ...] = ()
    bench_args: tuple[str, ...] = ()
    accept_software_mismatch: bool = False
    timeout_s: float = 3600.0          # the whole fleet bench, all machine types together
    models: tuple[str, ...] = ()       # the bench's --models: only their trained/optimized files are shipped
    scaling: bool = True               # the scaling suite runs: its files are shipped
    priced_types: tuple[str, ...] = ()   # --price's and --reference's types: each must be among those benchmarked

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise UserError(f"fleet timeout {self.timeout_s!r}: must be > 0 seconds")


@dataclass
class FleetResult:
    record: FleetRun
    folder: Path                       # fleets/<time>/
    run_dirs: dict[str, Path] = field(default_factory=dict)   # machine type -> published run folder

    @property
    def failed(self) -> list[FleetMachine]:
        return [m for m in self.record.machines if m.status != "stored"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_fleet(options: FleetOptions) -> FleetResult:
    ray = connect(options.address)
    try:
        return _run(ray, options)
    finally:
        ray.shutdown()


def _run(ray, options: FleetOptions) -> FleetResult:
    from convbench.fleet.remote import bench_on_node
    from convbench.fleet.shipping import artifact_set

    chosen = pick_nodes(alive_nodes(ray), options.machine_types)
    unpriced = [t for t in options.priced_types if t not in chosen]
    if unpriced:
        raise UserError(f"--price/--reference {', '.join(map(repr, unpriced))}: not a machine type of this fleet "
                        f"({', '.join(chosen)})")
    driver = this_software()
    nodes = {n.node_id: n for n in chosen.values()}
    stamps = node_stamps(ray, list(nodes.values()))
    differences = check_same_software(driver, {nodes[nid].name: s for nid, s in stamps.items()},
                                      options.accept_software_mismatch)

    files = artifact_set(options.out, options.models, options.scaling)
    started = _now()
    folder = options.out / "fleets" / started.replace(":", "").replace("-", "").replace("+0000", "Z")
    record = FleetRun(started=started, cluster_address=options.address, ray_version=ray.__version__,
                      driver_software=driver, bench_args=list(options.bench_args), shipped_files=len(files),
                      shipped_bytes=sum(len(f.data) for f in files))
    result = FleetResult(record, folder)
    files_ref = ray.put(files)
    bench_task = ray.remote(max_retries=0)(bench_on_node)
    deadline = time.monotonic() + options.timeout_s
    pending: dict = {}
    for machine_type, node in chosen.items():
        resources = {r: 1 for r in node.type_resources if r.endswith(":" + machine_type)}
        ref = bench_task.options(**pinned(node, num_cpus=node.cpus, num_gpus=node.gpus, resources=resources)
                                 ).remote(files_ref, list(options.bench_args), options.timeout_s)
        pending[ref] = (machine_type, node, time.monotonic())
        print(f"fleet: {machine_type}: bench submitted to node {node.name}, {node.cpus} CPU(s) reserved", flush=True)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            if not done:
                for ref, (machine_type, node, t0) in pending.items():
                    ray.cancel(ref, force=True)
                    record.machines.append(FleetMachine(
                        machine_type=machine_type, node_id=node.node_id, status="failed", seconds=time.monotonic() - t0,
                        reason=f"no result within the fleet's {options.timeout_s:g} s; its task was cancelled"))
                pending.clear()
                break
            ref = done[0]
            machine_type, node, t0 = pending.pop(ref)
            fleet_node = FleetNode(machine_type=machine_type, node_id=node.node_id, node_address=node.address,
                                   cluster_address=options.address, software=stamps[node.node_id],
                                   accepted_differences=differences[node.name])
            record.machines.append(_bring_back(ray, ref, options.out, fleet_node, t0, result))
    except KeyboardInterrupt:
        cancel_tasks(ray, list(pending), CANCEL_GRACE_S)   # each node kills its bench
        for machine_type, node, t0 in pending.values():
            record.machines.append(FleetMachine(machine_type=machine_type, node_id=node.node_id, status="failed",
                                                reason="interrupted (Ctrl-C); its task was cancelled",
                                                seconds=time.monotonic() - t0))
        raise
    finally:
        order = list(chosen)   # the machine types in the order asked (or found), not the order they finished in
        record.machines.sort(key=lambda m: order.index(m.machine_type))
        result.run_dirs = {t: result.run_dirs[t] for t in order if t in result.run_dirs}
        record.finished = _now()
        write_record(folder / FLEET_FILE, record)
    return result


def _bring_back(ray, ref, out: Path, fleet_node: FleetNode, t0: float, result: FleetResult) -> FleetMachine:
    """One finished task: its run folder published and stored, or the reason it has none."""
    import json

    from convbench.core.fsutil import TMP_SUFFIX
    from convbench.store.db import import_runs, store_path

    machine_type = fleet_node.machine_type
    outcome = FleetMachine(machine_type=machine_type, node_id=fleet_node.node_id, status="failed")
    try:
        node_bench = ray.get(ref, timeout=STAMP_TIMEOUT_S)   # done already: the wait only bounds the transfer
    except ray.exceptions.RayError as exc:
        outcome.reason = f"{type(exc).__name__}: {first_line(exc)}"
        outcome.seconds = time.monotonic() - t0
        _say(f"fleet: {machine_type}: failed ({outcome.reason}); nothing of it was written")
        return outcome
    outcome.bench_exit_status = node_bench.exit_status
    outcome.seconds = time.monotonic() - t0
    if node_bench.archive is None:
        outcome.reason = (f"convbench bench exited {node_bench.exit_status} without a run folder; its last lines: "
                          + " | ".join(node_bench.log_tail[-5:]))
        _say(f"fleet: {machine_type}: {outcome.reason}")
        return outcome
    fleet_node.bench_niceness = node_bench.niceness
    name = f"{node_bench.archive.name}-{machine_type}"
    final, n = out / "runs" / name, 1
    while final.exists() or final.name.endswith(TMP_SUFFIX):
        n += 1
        final = out / "runs" / f"{name}-{n}"
    fleet_json = (json.dumps(to_jsonable(fleet_node), indent=2, sort_keys=True) + "\n").encode()
    from convbench.fleet.shipping import publish_run

    try:
        publish_run(node_bench.archive, final, {FLEET_FILE: fleet_json})
    except (RuntimeError, OSError, ValueError) as exc:   # tarfile's errors are OSError/ValueError subclasses
        outcome.reason = f"its run folder did not arrive intact: {first_line(exc)}"
        _say(f"fleet: {machine_type}: {outcome.reason}; nothing of it was written")
        return outcome
    result.run_dirs[machine_type] = final
    outcome.run_folder = final.relative_to(out).as_posix()
    try:
        (done,) = import_runs(store_path(out), [final])
    except UserError as exc:
        outcome.status, outcome.reason = "measured", f"not stored ({exc}); `convbench import {final}` stores it later"
        _say(f"fleet: {machine_type}: {final}: {outcome.reason}")
        return outcome
    outcome.status, outcome.run_id = "stored", done.run_id
    print(f"fleet: {machine_type}: {final} (bench exit {node_bench.exit_status}), stored as run {done.run_id[:12]}",
          flush=True)
    return outcome


def _say(line: str) -> None:
    print(line, file=quiet.user_stream(), flush=True)
