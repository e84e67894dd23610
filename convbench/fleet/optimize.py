"""`convbench optimize|run --ray ADDRESS`: the optimize stage's own job list (optimize/stage.py:
one job per model, its training or ingest included, and one per scaling build) run as Ray tasks
instead of local worker processes. A runner with core.workers.run_jobs' signature, handed to
optimize_all; the stage, its cache layout and its manifest are the local ones.

Per job, on this machine (the driver): is everything it would make already in the cache? Then
its result is read here and nothing is sent. Otherwise its inputs (the split data set, the
model's trained and optimized folders, lesson 1's base, a user's model file) travel through Ray's
object store, each file sha256-checked on arrival; the task asks for one CPU and a local worker's
peak memory, and pins TensorFlow to one thread as a local worker does (the cache keys and the
weights depend on it); the node sends back the cache folders it made, each one archive with its
sha256, stamped with the machine that made them; the driver publishes each under a temporary
name, then renames it into place.
Only the driver writes into the artifacts folder."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from convbench.core.records import BuiltOn
from convbench.core.workers import TF_THREADS_PER_WORKER, WORKER_MEMORY_GIB, Job, WorkerDied

RETRIES = 1                    # a task whose node or worker died runs once more (Ray's max_retries), then fails
TRANSFER_TIMEOUT_S = 120.0     # fetching a finished task's folders
CANCEL_GRACE_S = 10.0          # after Ctrl-C or the timeout: how long the tasks get to stop
DEFAULT_TIMEOUT_S = 3600.0
OWN = "own"                    # where a user's model file travels, beside the artifacts folder


@dataclass(frozen=True)
class JobSpec:
    """One optimize job as a node runs it: the stage's function and arguments, and the four
    things that differ by kind of job (model, scaling build), all module-level so Ray pickles
    them by name."""

    fn: Callable[..., Any]
    args: tuple
    localize: Callable[[tuple, Path, Path], tuple]      # the args with the node's paths
    patterns: tuple[str, ...]                           # the cache folders it may make, as globs under its base
    stamper: Callable[[Any, Path, list[str], BuiltOn, tuple], Any]

    def localized_args(self, base: Path, own: Path) -> tuple:
        return self.localize(self.args, base, own)

    def cache_folders(self, base: Path) -> list[str]:
        return sorted({p.relative_to(base).as_posix() for pattern in self.patterns for p in base.glob(pattern)
                       if p.is_dir() and not p.name.startswith(".")})

    def stamp(self, result: Any, base: Path, made: list[str], built_on: BuiltOn) -> Any:
        return self.stamper(result, base, made, built_on, self.args)


# --- a model's job: optimize_model_job(config, name, own_path) ---------------------------------------

MODEL_FOLDERS = ("trained/*", "bases/*", "optimized/*/*")


def _model_spec(job: Job) -> JobSpec:
    """The job's arguments and, decided here, where its data set lies in the artifacts folder (a
    node may have no `--data` folder to derive that key from)."""
    config, name, own_path = job.args
    data = _data_file(config).relative_to(Path(config.train.out).resolve()).as_posix()
    own_path = Path(own_path).resolve() if own_path is not None else None   # as a local ingest records it
    return JobSpec(job.fn, (config, name, own_path, data), _model_localize, MODEL_FOLDERS, _model_stamp)


def _model_localize(args: tuple, base: Path, own: Path) -> tuple:
    config, name, own_path, data = args
    node_own = own / Path(own_path).name if own_path is not None else None
    train = replace(config.train, out=base, data_file=base / data, workers=0)
    return replace(config, train=train, own_models=(node_own,) if node_own else ()), name, node_own


def _data_file(config) -> Path:
    from convbench.models.train import data_path

    return data_path(config.train).resolve()


def _model_stamp(result, base: Path, made: list[str], built_on: BuiltOn, args: tuple):
    """The trained folder and variant folders made here, and the result's records of them, stamped
    with this machine; a user's model's source path the driver's, not this node's copy."""
    from convbench.core.formats import KERAS_FP32
    from convbench.core.records import TrainedRecord, VariantRecord, read_record, write_record
    from convbench.optimize.produce import RECORD_FILE

    own_path = args[2]

    def stamped(record: TrainedRecord) -> TrainedRecord:
        source = record.source and replace(record.source, path=str(own_path))
        return replace(record, built_on=built_on, source=source)

    trained = result.trained
    for rel in made:
        folder = base / rel
        if rel.startswith("trained/"):
            write_record(folder / "summary.json", stamped(read_record(folder / "summary.json", TrainedRecord)))
        elif rel.startswith("optimized/"):
            record = read_record(folder / RECORD_FILE, VariantRecord)
            write_record(folder / RECORD_FILE,
                         replace(record, artifacts=[replace(a, built_on=built_on) for a in record.artifacts]))
    if Path(trained.folder).resolve().relative_to(base.resolve()).as_posix() in made:
        trained = replace(trained, record=stamped(trained.record))
    artifacts = [replace(a, built_on=trained.record.built_on) if a.variant == KERAS_FP32 else
                 a if a.cached else replace(a, built_on=built_on) for a in result.artifacts]
    return replace(result, trained=trained, artifacts=artifacts)


def _model_inputs(config, name: str, own_path: Path | None):
    from convbench.core.records import MANIFEST_FILE
    from convbench.fleet.shipping import artifact_set, files_under

    out = Path(config.train.out)
    data = _data_file(config).relative_to(out.resolve()).as_posix()
    # --retrain: no trained model or base travels, so the node trains anew and sends it back.
    retrained = ("trained/", "bases/") if config.train.retrain else ()
    files = [f for f in artifact_set(out, (name,), scaling=False, require_manifest=False)
             if f.path != MANIFEST_FILE and (not f.path.startswith("data/") or f.path == data)
             and not f.path.startswith(retrained)]
    own = [] if own_path is None else files_under(own_path, prefix=f"{Path(own_path).name}/"
                                                  if Path(own_path).is_dir() else "")
    return files, own


def _model_here(result, node_base: Path, out: Path):
    """The node's result with its paths moved to this machine's artifacts folder."""
    def here(path) -> Path:   # the node's paths all lie under its resolved base
        return out / Path(path).relative_to(node_base)

    trained = replace(result.trained, folder=here(result.trained.folder))
    return replace(result, trained=trained, artifacts=[replace(a, path=str(here(a.path).resolve())) if a.path else a
                                                       for a in result.artifacts])


# --- a scaling build: scaling_job(root, arch, side, num_classes) --------------------------------------

def _scaling_localize(args: tuple, base: Path, own: Path) -> tuple:
    _, arch, side, num_classes = args
    return base, arch, side, num_classes


def _scaling_stamp(result, base: Path, made: list[str], built_on: BuiltOn, args: tuple):
    return result   # random weights: the same files on any machine that has the same libraries


def _scaling_here(result, node_base: Path, root: Path):
    return replace(result, folder=root / Path(result.folder).relative_to(node_base))


@dataclass(frozen=True)
class _Kind:
    """How the driver treats one kind of job: its cache probe, its inputs, where its folders go."""

    cached: Callable[..., Any]                          # the job's result from this machine's cache, or None
    inputs: Callable[..., tuple[list, list]]            # (files for its base folder, a user's model files)
    base: Callable[..., Path]                           # this machine's folder that the node's base stands for
    here: Callable[[Any, Path, Path], Any]              # the node's result with this machine's paths
    spec: Callable[[Job], JobSpec]


def _kinds() -> dict:
    from convbench.optimize import scaling
    from convbench.optimize.stage import cached_model_job, optimize_model_job

    model = _Kind(cached=cached_model_job, inputs=_model_inputs, base=lambda config, *_: Path(config.train.out),
                  here=_model_here,
                  spec=_model_spec)
    scaling_kind = _Kind(cached=scaling.cached_scaling, inputs=lambda *_: ([], []),
                         base=lambda root, *_: Path(root), here=_scaling_here,
                         spec=lambda job: JobSpec(job.fn, job.args, _scaling_localize, ("*",), _scaling_stamp))
    return {optimize_model_job: model, scaling.scaling_job: scaling_kind}


# --- the runner ------------------------------------------------------------------------------------

class ClusterRunner:
    """optimize_all's job runner on a connected cluster (see the module's docstring)."""

    def __init__(self, ray, address: str, timeout_s: float) -> None:
        self.ray, self.address, self.timeout_s = ray, address, timeout_s

    def __call__(self, jobs: list[Job], workers: int | None, desc: str, progress: bool = True) -> list[Any]:
        from convbench.core.progress import Progress

        kinds = _kinds()
        unknown = [j.label for j in jobs if j.fn not in kinds]
        if unknown:
            raise RuntimeError(f"--ray: no remote form for the job(s) {', '.join(unknown)}")
        results: list[Any] = [None] * len(jobs)
        errors: list[BaseException | None] = [None] * len(jobs)
        with Progress(sum(j.units for j in jobs), desc, "step", enabled=progress) as bar:
            send = []
            for i, job in enumerate(jobs):
                results[i] = kinds[job.fn].cached(*job.args)
                if results[i] is None:
                    send.append(i)
                else:
                    bar.advance(f"{job.label} cached", job.units)
            if not send:
                print(f"{desc} --ray: all {len(jobs)} job(s) cached here; nothing sent to the cluster", flush=True)
            else:
                print(f"{desc} --ray: {len(send)} job(s) sent to the cluster at {self.address}, "
                      f"{len(jobs) - len(send)} cached here (not sent)", flush=True)
                self._run_remote(jobs, send, kinds, bar, results, errors)
        for error in errors:
            if error is not None:
                raise error
        return results

    def _run_remote(self, jobs, send, kinds, bar, results, errors) -> None:
        from convbench.fleet.remote import job_on_node

        ray = self.ray
        task = ray.remote(max_retries=RETRIES)(job_on_node)
        env = {"env_vars": {"TF_NUM_INTRAOP_THREADS": str(TF_THREADS_PER_WORKER),
                            "TF_NUM_INTEROP_THREADS": str(TF_THREADS_PER_WORKER)}}
        deadline = time.monotonic() + self.timeout_s
        pending: dict = {}
        for i in send:
            job, kind = jobs[i], kinds[jobs[i].fn]
            files, own = kind.inputs(*job.args)
            # One core and a local worker's peak memory: Ray then runs no more jobs on a node than it holds.
            ref = task.options(num_cpus=TF_THREADS_PER_WORKER, memory=int(WORKER_MEMORY_GIB * 2**30),
                               runtime_env=env).remote(
                kind.spec(job), ray.put(files), ray.put(own))
            pending[ref] = i
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
                if not done:
                    self._cancel(list(pending))
                    for i in pending.values():
                        errors[i] = WorkerDied(f"{jobs[i].label}: no result from the cluster within --timeout "
                                               f"{self.timeout_s:g} s; its task was cancelled (what finished is "
                                               "cached, run the command again to resume)")
                    pending.clear()
                    break
                i = pending.pop(done[0])
                job, kind = jobs[i], kinds[jobs[i].fn]
                try:
                    results[i] = self._bring_back(done[0], job, kind)
                except Exception as exc:
                    errors[i] = exc
                bar.advance(f"{job.label} done", job.units)
                bar.finished(f"{job.label} done")
        except KeyboardInterrupt:
            self._cancel(list(pending))
            raise

    def _cancel(self, refs: list) -> None:
        from convbench.fleet.cluster import cancel_tasks

        cancel_tasks(self.ray, refs, CANCEL_GRACE_S)

    def _bring_back(self, ref, job: Job, kind: _Kind):
        """A finished task's cache folders published here, and its result with this machine's paths."""
        from convbench.fleet.cluster import first_line
        from convbench.fleet.shipping import publish_run

        ray = self.ray
        try:
            node_job = ray.get(ref, timeout=TRANSFER_TIMEOUT_S)
        except ray.exceptions.RayTaskError as exc:   # the job raised: as a local worker's exception
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, Exception) else RuntimeError(first_line(exc))) from None
        except ray.exceptions.RayError as exc:       # its node or worker died, also on the retry
            raise WorkerDied(f"{job.label}: its Ray task failed ({type(exc).__name__}: {first_line(exc)}; a lost node "
                             f"or worker is retried {RETRIES} time); what finished is cached, run the command again "
                             "to resume") from None
        base = kind.base(*job.args)
        for rel, archive in node_job.folders:   # each a whole cache folder: published or not, on its own
            final = base / rel                   # already here only with --retrain: replaced, as locally
            try:
                publish_run(archive, final, {})
            except (RuntimeError, OSError, ValueError) as exc:   # tarfile's errors are OSError/ValueError
                raise WorkerDied(f"{job.label}: its folder {rel} did not arrive intact ({first_line(exc)}); nothing "
                                 "of it was written, run the command again to build it") from None
        where = node_job.built_on
        print(f"{job.label}: built on {where.hostname} (Ray node {(where.ray_node_id or '?')[:12]}) in "
              f"{node_job.seconds:.0f} s; {len(node_job.folders)} folder(s) brought back", flush=True)
        return kind.here(node_job.result, Path(node_job.base), base)


@contextlib.contextmanager
def cluster_runner(address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[ClusterRunner]:
    """Connected to the cluster (bounded), every alive node with a CPU running the same software
    as this one (else one UserError), a runner for optimize_all; disconnected at the end."""
    from convbench.core.errors import UserError
    from convbench.fleet.cluster import alive_nodes, connect
    from convbench.fleet.software import check_same_software, node_stamps, this_software

    ray = connect(address)
    try:
        nodes = [n for n in alive_nodes(ray) if n.cpus >= 1]
        if not nodes:
            raise UserError(f"cluster {address}: no alive node offers a CPU to Ray tasks")
        if not any(n.memory_gib >= WORKER_MEMORY_GIB for n in nodes):
            raise UserError(f"cluster {address}: no alive node offers {WORKER_MEMORY_GIB:g} GiB of memory to a Ray "
                            f"task (an optimize job's peak; found at most {max(n.memory_gib for n in nodes):.1f} GiB)")
        stamps = node_stamps(ray, nodes)
        # The cache keys hold the library versions and convbench's code: no difference can be accepted.
        check_same_software(this_software(), {n.name: stamps[n.node_id] for n in nodes}, accept=False,
                            remedy="install the same versions there (the cache keys of what it would build hold them)")
        print(f"cluster {address}: {len(nodes)} node(s), {sum(n.cpus for n in nodes)} CPU(s), same software as "
              "here", flush=True)
        yield ClusterRunner(ray, address, timeout_s)
    finally:
        ray.shutdown()
