"""What the suites share: the session context (options, manifest, data split, measured machine and
roofs, run record) and the steps every row takes (skip with a reason, check the file, load a
session)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from datetime import datetime, UTC
from functools import cached_property, cache
from pathlib import Path

import numpy as np
import pytest

from convbench.benchmarks.artifact_ops import ArtifactOps, count_file
from convbench.core.errors import UserError
from convbench.core.fingerprint import sha256_file
from convbench.core.formats import TFLITE_FP32, family
from convbench.core.records import Manifest, RunRecord, RunRoofs, TrainedRecord, relative_path

def _git(*args: str) -> str | None:
    """git's answer in the package's folder, None where it is not a checkout or git is missing."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


class BenchContext:
    """Session-wide: the options, the manifest, its data split, and the measured machine."""

    def __init__(self, options, manifest: Manifest, run_dir: Path):
        self.options, self.manifest, self.run_dir = options, manifest, Path(run_dir)
        self.budget = options.budget

    @cached_property
    def dataset(self):
        from convbench.models.data import Dataset

        info = self.manifest.dataset
        dataset = Dataset.load(self.manifest.resolve(info.path))
        if dataset.fingerprint != info.fingerprint:
            raise UserError(f"{self.manifest.resolve(info.path)}: data fingerprint {dataset.fingerprint[:16]}... is "
                            f"not the manifest's {info.fingerprint[:16]}...; run `convbench optimize` again")
        return dataset

    def measure_roofs(self) -> RunRoofs:
        """The roofs of the run's devices, measured in a child process (benchmarks/roofs.py):
        before the first row (the record) and again after the last (conftest). Only the latency
        and scaling rows are divided by a roof: a run without them measures none."""
        from convbench.benchmarks.results import ROOFED_SUITES
        from convbench.benchmarks.roofs import measure_in_child

        if not set(ROOFED_SUITES) & set(self.options.suite_list):
            return RunRoofs(not_measured={d: f"no {' or '.join(ROOFED_SUITES)} suite in this run"
                                          for d in self.options.device_list})
        return measure_in_child(self.options.device_list, quick=self.options.quick)

    def ops_of(self, case) -> ArtifactOps | None:
        """What the row's file computes per call (artifact_ops.py). A Keras row counts the same
        model's fp32 TFLite file: the converter keeps its conv and dense layers as they are."""
        path = case.path
        if family(case.format) == "keras":
            twin = self.manifest.artifact(case.model, TFLITE_FP32, TFLITE_FP32)
            path = str(self.manifest.artifact_path(twin)) if twin and twin.ok and twin.path else ""
        return count_file(path) if path else None

    @cached_property
    def record(self) -> RunRecord:
        from convbench.benchmarks.machine import machine_info
        from convbench.core.fingerprint import FINGERPRINT_PACKAGES, library_versions
        from convbench.core.runtimes import RUNTIMES

        options = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self.options).items()}
        return RunRecord(
            started=datetime.now(UTC).isoformat(timespec="seconds"), options=options,
            manifest_created=self.manifest.created, manifest_sha256=sha256_file(self.manifest.path),
            dataset_fingerprint=self.manifest.dataset.fingerprint,
            versions=library_versions(("pytest", "pytest-benchmark", *FINGERPRINT_PACKAGES)),
            runtime_versions={name: r.version() for name, r in RUNTIMES.items()}, machine=machine_info(),
            roofs=self.measure_roofs(),
            git_commit=_git("rev-parse", "HEAD"),
            git_dirty=bool(_git("status", "--porcelain", "--untracked-files=no")),
            row_budget=dataclasses.asdict(self.budget), loadavg_at_start=list(os.getloadavg()))

    def row_context(self, case, foreign_cpu_fraction: float | None = None) -> dict:
        """Facts of one row's run: which file (relative to the run folder), its hash, the load."""
        return dict(artifact=relative_path(case.path, self.run_dir) if case.path else None,
                    sha256=case.artifact.sha256 if case.artifact else None, loadavg_1m=os.getloadavg()[0],
                    foreign_cpu_fraction=foreign_cpu_fraction)

    @cache  # noqa: B019 -- one context per bench session: the cache lives as long anyway
    def reference_outputs(self, model: str) -> np.ndarray | None:
        """The trained fp32 model's outputs on the held-out split: the yardstick of agreement."""
        path = self.manifest.trained_file(model, TrainedRecord.REFERENCE_FILE)
        return np.load(path, allow_pickle=False) if path is not None and path.is_file() else None

    def held_out(self, item_shape) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """(images, labels, '') of the held-out split, or (None, None, why) when the model does not
        take the data set's images."""
        x = self.dataset.x_test
        if tuple(x.shape[1:]) != tuple(int(d) for d in item_shape):
            return None, None, f"input {tuple(item_shape)} is not the data set's {tuple(x.shape[1:])}"
        return x, self.dataset.y_test, ""

    def input_pool(self, batch: int, count: int, item_shape) -> list[np.ndarray]:
        """`count` distinct batches of held-out images; random images when the model's input is
        not the data set's (or the test split is too small)."""
        x, _, _ = self.held_out(item_shape)
        if x is not None and len(x) >= batch * count:
            return [x[i * batch:(i + 1) * batch] for i in range(count)]
        rng = np.random.default_rng(0)
        return [rng.random((batch, *item_shape), dtype=np.float32) for _ in range(count)]


class ForeignCpu:
    """Share of this process's CPUs' time (its affinity set, not the whole host) that other
    processes (and the hypervisor's steal) used while the block ran: 0 on a quiet machine; 0.5
    on 2 CPUs means another process took a whole one. A row timed under such load is slower for
    reasons of its own (2-thread rows most)."""

    def __enter__(self) -> ForeignCpu:
        self._cpus = sorted(os.sched_getaffinity(0))
        self._start = self._sample()
        self.fraction = None
        return self

    def __exit__(self, *exc) -> None:
        (w0, busy0, own0), (w1, busy1, own1) = self._start, self._sample()
        capacity = (w1 - w0) * len(self._cpus)
        self.fraction = max(0.0, ((busy1 - busy0) - (own1 - own0)) / capacity) if capacity > 0 else None

    def _sample(self) -> tuple[float, float, float]:
        import psutil

        per_cpu, own = psutil.cpu_times(percpu=True), os.times()
        busy = sum(c.user + c.nice + c.system + getattr(c, "irq", 0) + getattr(c, "softirq", 0)
                   + getattr(c, "steal", 0) for i, c in enumerate(per_cpu) if i in self._cpus)
        return time.monotonic(), busy, own.user + own.system + own.children_user + own.children_system


def pool_count(batch: int, test_images: int = 256) -> int:
    """Distinct input batches a latency row cycles through: ~256 images, 2..8 batches."""
    return max(2, min(8, test_images // batch))


def runnable_runtime(case):
    """The row's runtime, or pytest.skip with the reason (a failed artifact, no GPU here)."""
    from convbench.core.runtimes import RUNTIMES

    if case.skip:
        pytest.skip(case.skip)
    runtime = RUNTIMES[case.runtime]
    ok, why = runtime.available(case.device)
    if not ok:
        pytest.skip(f"{case.device} row: {why}")
    return runtime


@cache
def _sha256(path: str) -> str:
    return sha256_file(path)


def check_file(case) -> None:
    """Fail the row (only it) when its file is missing or is not the file the manifest lists."""
    if not case.path:
        return
    if not Path(case.path).is_file():
        pytest.fail(f"{case.path}: no such artifact (listed in the manifest)", pytrace=False)
    expected = case.artifact.sha256 if case.artifact else None
    if expected and _sha256(case.path) != expected:
        pytest.fail(f"{case.path}: sha256 {_sha256(case.path)[:12]}... is not the manifest's {expected[:12]}...: "
                    "the file changed after `convbench optimize`; run it again", pytrace=False)


def load_session(case):
    """Skip rows that cannot run here (with the reason), else load: (session, load seconds)."""
    from convbench.core.runtimes import DeviceUnavailable

    runtime = runnable_runtime(case)
    check_file(case)
    runtime.import_modules()  # once per process; load_ms is the model's load, not the library's import
    start = time.perf_counter()
    try:
        session = runtime.load(case.path, device=case.device, threads=case.threads, batch=case.batch)
    except DeviceUnavailable as exc:
        pytest.skip(f"{case.device} row: {exc}")
    load_s = time.perf_counter() - start
    assert session.device_used == case.device, f"{case.id}: asked for {case.device}, ran on {session.device_used}"
    return session, load_s


def session_info(case, session) -> dict:
    """Where the row really ran: the device and providers the session got, and the version."""
    from convbench.core.runtimes import RUNTIMES

    return dict(device_used=session.device_used, providers=list(session.providers),
                runtime_version=RUNTIMES[case.runtime].version())
