"""Records of a fleet bench (convbench/fleet/): the software each node runs, which node of the
cluster a run folder came from (its fleet.json), and what each machine type's bench came to
(artifacts/fleets/<time>/fleet.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FLEET_SCHEMA = "convbench.fleet/1"
FLEET_FILE = "fleet.json"   # in a run folder the fleet brought back, and in artifacts/fleets/<time>/


@dataclass(kw_only=True)
class SoftwareStamp:
    """What must be alike on the driver and every node for their runs to compare: convbench's
    version and commit, Python, and the libraries that build or time the artifacts."""

    convbench_version: str
    git_commit: str | None             # None: not a checkout (an installed wheel)
    git_dirty: bool
    python: str
    libraries: dict[str, str] = field(default_factory=dict)   # package -> version (absent: not installed)

    def differences(self, other: SoftwareStamp) -> list[str]:
        """`what: mine -> other's` for everything that differs, in a fixed order."""
        mine, theirs = self._flat(), other._flat()
        return [f"{k}: {mine.get(k) or 'absent'} here, {theirs.get(k) or 'absent'} there"
                for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]

    def _flat(self) -> dict[str, str | None]:
        commit = None if self.git_commit is None else self.git_commit + ("+dirty" if self.git_dirty else "")
        return {"convbench": self.convbench_version, "convbench commit": commit, "python": self.python,
                **self.libraries}


@dataclass(kw_only=True)
class FleetNode:
    """Which node of which cluster measured a run folder, written by the driver into the folder
    it brought back (fleet.json beside bench.json)."""

    schema: str = FLEET_SCHEMA
    machine_type: str
    node_id: str                       # Ray's node id
    node_address: str
    cluster_address: str
    software: SoftwareStamp            # the node's
    accepted_differences: list[str] = field(default_factory=list)   # vs the driver, --accept-software-mismatch
    bench_niceness: int | None = None  # the node's bench process's nice value (0: a local bench's; Ray's workers: 15)


@dataclass(kw_only=True)
class FleetMachine:
    """One machine type's bench in a fleet run."""

    machine_type: str
    node_id: str | None
    status: Literal["stored", "measured", "failed"]   # measured: published but the store refused it
    reason: str | None = None          # why it failed: the node's, Ray's or the bench's words
    run_folder: str | None = None      # relative to the artifacts folder
    run_id: str | None = None          # in the results store
    bench_exit_status: int | None = None
    seconds: float = 0.0               # submit to result, as the driver saw it


@dataclass(kw_only=True)
class FleetRun:
    """A `convbench fleet` run: the cluster, the bench options and each machine type's outcome."""

    schema: str = FLEET_SCHEMA
    started: str
    finished: str | None = None
    cluster_address: str
    ray_version: str
    driver_software: SoftwareStamp
    bench_args: list[str] = field(default_factory=list)   # the `convbench bench` options each node ran
    shipped_files: int = 0
    shipped_bytes: int = 0
    machines: list[FleetMachine] = field(default_factory=list)
