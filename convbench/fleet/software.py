"""The software a process runs, as a SoftwareStamp: the driver's and each node's are compared
before any work, since a run from another convbench or another runtime version measures
something else."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from convbench.core.errors import UserError
from convbench.core.fingerprint import FINGERPRINT_PACKAGES, library_versions
from convbench.core.records.fleet import SoftwareStamp

# What times rows or runs the fleet, besides what builds the artifacts (FINGERPRINT_PACKAGES).
STAMP_PACKAGES = (*FINGERPRINT_PACKAGES, "pytest", "pytest-benchmark", "mlcommons-loadgen", "ray", "pydantic", "duckdb")


def _git(*args: str) -> str | None:
    """git's answer in convbench's own folder; None where it is not a checkout or git is missing."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def this_software() -> SoftwareStamp:
    try:
        version = metadata.version("convbench")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return SoftwareStamp(convbench_version=version, git_commit=_git("rev-parse", "HEAD"),
                         git_dirty=bool(_git("status", "--porcelain", "--untracked-files=no")),
                         python=platform.python_version(), libraries=library_versions(STAMP_PACKAGES))


ACCEPT_REMEDY = "install the same versions there, or accept it with --accept-software-mismatch (recorded in each run)"


def check_same_software(driver: SoftwareStamp, nodes: dict[str, SoftwareStamp], accept: bool,
                        remedy: str = ACCEPT_REMEDY) -> dict[str, list[str]]:
    """Each node's differences from the driver (node name -> lines). Any difference without
    `accept` is one UserError naming the first node that differs, what differs and `remedy`."""
    differences = {name: driver.differences(stamp) for name, stamp in nodes.items()}
    differing = {name: d for name, d in differences.items() if d}
    if differing and not accept:
        name, lines = next(iter(differing.items()))
        more = f" (and {len(differing) - 1} more node(s))" if len(differing) > 1 else ""
        raise UserError(f"node {name} runs other software than this driver{more}: {'; '.join(lines)}; {remedy}")
    return differences


STAMP_TIMEOUT_S = 120.0        # a node's first task starts a Python worker and imports convbench: seconds


def node_stamps(ray, nodes: list) -> dict[str, SoftwareStamp]:
    """Each node's (cluster.Node) SoftwareStamp by node id, from a small task pinned to it; a node
    that does not answer within STAMP_TIMEOUT_S, or cannot run convbench, is one UserError."""
    from convbench.fleet.cluster import first_line, pinned
    from convbench.fleet.remote import node_software

    stamp_task = ray.remote(max_retries=0)(node_software)
    refs = {n.node_id: (n, stamp_task.options(**pinned(n, num_cpus=0)).remote()) for n in nodes}
    stamps: dict[str, SoftwareStamp] = {}
    for nid, (node, ref) in refs.items():
        try:
            stamps[nid] = ray.get(ref, timeout=STAMP_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise UserError(f"node {node.name} did not answer within {STAMP_TIMEOUT_S:g} s "
                            "(is convbench installed in its Python?)") from None
        except ray.exceptions.RayError as exc:
            raise UserError(f"node {node.name} cannot run convbench: {first_line(exc)}") from None
    return stamps
