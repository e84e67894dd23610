"""What runs on a node, as plain functions the driver wraps in Ray tasks: the node's software
stamp; one `convbench bench` over a shipped artifact set in a fresh process, its run folder
returned as bytes; one optimize job (`optimize --ray`) over its shipped inputs, the cache folders
it made returned as bytes. The node writes only under its own temporary folder, removed at the end."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from convbench.core.child import child_python
from convbench.core.records import BuiltOn
from convbench.core.records.fleet import SoftwareStamp
from convbench.fleet.shipping import RunArchive, ShippedFile, pack_run, unpack_artifact_set

LOG_TAIL_LINES = 15
WORK_PREFIX = "convbench-fleet-"   # + the worker's pid: a folder whose worker died is removed by the next bench


def node_software() -> SoftwareStamp:
    from convbench.fleet.software import this_software

    return this_software()


@dataclass(frozen=True)
class NodeBench:
    exit_status: int
    archive: RunArchive | None         # None: the bench published no run folder
    log_tail: list[str]                # the end of `convbench bench`'s console output
    niceness: int | None = None        # the bench process's nice value (0: as a local bench)


def _as_a_local_bench() -> None:
    """In the bench's process, before it starts: killed when the Ray worker that started it dies
    (a killed node, a forced cancel) instead of measuring on as an orphan; and back at the normal
    priority. Ray starts its workers at nice 15 (measured: os.nice(0) in a task), where a bench
    loses the CPU to any other process: on a shared 2-core machine its latency suite took 39 %
    longer than a local one (22.9 s against 16.5 s at the same load). Raising the priority needs
    root or CAP_SYS_NICE; without them the bench runs niced and the driver records it."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


def _remove_orphaned_work() -> None:
    """The work folders of benches whose Ray worker was killed (a lost node, a forced cancel)
    never reached their own cleanup: removed here, by pid no longer alive."""
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*-*"):
        pid = folder.name.removeprefix(WORK_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _niceness(pid: int) -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:   # it has already exited
        return None


def bench_on_node(files: list[ShippedFile], bench_args: list[str], timeout_s: float) -> NodeBench:
    """Unpack the artifact set (sha256-checked), run `convbench bench --out <it> ARGS` in a fresh
    process group, return its one run folder packed. On cancel (KeyboardInterrupt from
    ray.cancel) or timeout the whole group is killed."""
    _remove_orphaned_work()
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-"))
    proc = None
    try:
        out = work / "artifacts"
        unpack_artifact_set(files, out)
        log = work / "bench-console.log"
        cmd = child_python("-m", "convbench.cli", "bench", "--out", str(out), *bench_args)
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, cwd=work, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=_as_a_local_bench)
            niceness = _niceness(proc.pid)
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise TimeoutError(f"convbench bench ran past {timeout_s:g} s on this node; killed") from None
        tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        runs_dir = out / "runs"
        runs = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")] if runs_dir.is_dir() else []
        return NodeBench(rc, pack_run(runs[0]) if len(runs) == 1 else None, tail, niceness)
    except BaseException:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class NodeJob:
    """One optimize job's outcome on a node: its return value (paths under `base`), the cache
    folders it made, each packed (path relative to `base`), and the machine that made them."""

    result: object
    base: str                          # the node's folder the job wrote under (its artifacts folder)
    folders: list[tuple[str, RunArchive]]
    built_on: BuiltOn
    seconds: float


def this_machine() -> BuiltOn:
    import socket

    from convbench.benchmarks.machine import machine_info

    try:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
    except Exception:   # not in a Ray task
        node_id = None
    return BuiltOn(hostname=socket.gethostname(), machine_id=machine_info().fingerprint, ray_node_id=node_id)


def job_on_node(spec, inputs: list[ShippedFile], own_files: list[ShippedFile]) -> NodeJob:
    """Run one optimize job (spec: convbench.fleet.optimize.JobSpec) over its shipped inputs in a
    work folder of this node: unpacked (sha256-checked), the job run with its paths moved here,
    the cache folders it made stamped with this machine and packed. The work folder is removed."""
    import time

    from convbench.core.workers import TF_THREADS_PER_WORKER

    # The task's runtime_env sets these before this worker started; checked, as a local worker's.
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(TF_THREADS_PER_WORKER)
    _remove_orphaned_work()
    # Resolved: every path the job returns then lies under `base` as written (the driver moves them).
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-")).resolve()
    try:
        started = time.perf_counter()
        base, own = work / "artifacts", work / "own"
        base.mkdir()
        unpack_artifact_set(inputs, base)
        unpack_artifact_set(own_files, own)
        before = set(spec.cache_folders(base))
        result = spec.fn(*spec.localized_args(base, own))
        made = [rel for rel in spec.cache_folders(base) if rel not in before]
        built_on = this_machine()
        result = spec.stamp(result, base, made, built_on)
        return NodeJob(result, str(base), [(rel, pack_run(base / rel)) for rel in made], built_on,
                       time.perf_counter() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
