"""The Ray cluster as the fleet sees it: Ray imported (or one line naming the extra), the
address answering within a bounded wait (ray.init itself waits minutes on a dead address:
measured), and each alive node with its machine types."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from convbench.core.errors import UserError

TYPE_RESOURCE_PREFIX = "machine-type:"   # a custom resource `machine-type:<NAME>`: a node may have several
TYPE_LABEL = "machine-type"             # or a node label machine-type=<NAME>: one per node
CONNECT_TIMEOUT_S = 5.0


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("Ray is not installed: the fleet commands need the ray extra "
                        "(pip install 'convbench[ray]')") from None
    return ray


def split_address(address: str) -> tuple[str, int]:
    """HOST:PORT of a Ray head's GCS (what `ray start --head` prints); a UserError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"cluster address {address!r}: expected HOST:PORT of a Ray head (ray start --head --port=...)")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        why = f"no answer within {timeout_s:g} s" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise UserError(f"cluster address {address}: no Ray head reachable ({why})") from None


def connect(address: str):
    """ray.init on `address` after a bounded reachability check; returns the ray module."""
    ray = import_ray()
    check_reachable(address)
    # The driver's own logs stay out of the console (log_to_driver: the nodes' task output).
    ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=True)
    return ray


@dataclass(frozen=True)
class Node:
    node_id: str
    address: str
    cpus: int
    gpus: int
    types: tuple[str, ...]
    type_resources: tuple[str, ...]    # the custom resources that name its types (empty: a label does)
    memory_gib: float = 0.0            # the memory Ray lets its tasks ask for there

    @property
    def name(self) -> str:
        return f"{self.node_id[:12]} ({self.address})"


def alive_nodes(ray) -> list[Node]:
    nodes = []
    for info in ray.nodes():
        if not info.get("Alive"):
            continue
        resources = info.get("Resources", {})
        by_resource = tuple(sorted(k.removeprefix(TYPE_RESOURCE_PREFIX) for k in resources
                                   if k.startswith(TYPE_RESOURCE_PREFIX)))
        label = (info.get("Labels") or {}).get(TYPE_LABEL)
        types = tuple(dict.fromkeys((*by_resource, *([label] if label else []))))
        nodes.append(Node(info["NodeID"], info.get("NodeManagerAddress", "?"), int(resources.get("CPU", 0)),
                          int(resources.get("GPU", 0)), types,
                          tuple(TYPE_RESOURCE_PREFIX + t for t in by_resource), resources.get("memory", 0) / 2**30))
    return nodes


def pick_nodes(nodes: list[Node], asked: tuple[str, ...]) -> dict[str, Node]:
    """One node per machine type (asked, or every type present), the first alive node of each.
    A type no node has: one UserError listing the types found."""
    found = sorted({t for n in nodes for t in n.types})
    if not found:
        raise UserError(f"no node of this cluster has a machine type: give each node a custom resource "
                        f"{TYPE_RESOURCE_PREFIX}<NAME> or the label {TYPE_LABEL}=<NAME> (docs/fleet.md)")
    missing = [t for t in asked if t not in found]
    if missing:
        raise UserError(f"machine type(s) {', '.join(map(repr, missing))} match no alive node; "
                        f"types found: {', '.join(found)}")
    chosen = {}
    for t in asked or found:
        node = next(n for n in nodes if t in n.types)
        if node.cpus < 1:
            raise UserError(f"machine type {t!r}: its node {node.name} offers no CPU to Ray tasks")
        chosen[t] = node
    return chosen


def pinned(node: Node, **options) -> dict:
    """Ray task options that run it on `node` and nowhere else."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return dict(scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False), **options)


def first_line(exc: BaseException) -> str:
    lines = [t.strip() for t in str(exc).splitlines() if t.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def cancel_tasks(ray, refs: list, grace_s: float) -> None:
    """Ask each task to stop (KeyboardInterrupt in it), then force what is left after `grace_s`."""
    for ref in refs:
        ray.cancel(ref)
    if refs:
        _, left = ray.wait(refs, num_returns=len(refs), timeout=grace_s)
        for ref in left:
            ray.cancel(ref, force=True)
