"""What the suites share: the session context (options, manifest, data split, measured machine,
run record) and the steps every row takes (skip with a reason, or load a session)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest

from convbench.benchmarks.manifest import Manifest, load_dataset_for

SGEMM_REPEATS = 5  # best-of per pass; a peak, so more tries only help on a shared machine
SGEMM_PASSES = 3  # passes over the thread counts, max taken: one busy moment (another process) spoils one pass


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


class BenchContext:
    """Session-wide: the options, the manifest, its data split, and the measured machine."""

    def __init__(self, options, manifest: Manifest):
        self.options, self.manifest = options, manifest
        self.budget = options.budget

    @cached_property
    def dataset(self):
        return load_dataset_for(self.manifest)

    @cached_property
    def sgemm_peaks(self) -> dict[int, float]:
        """float32 SGEMM GFLOP/s at 1 thread and at all usable cores, measured once per session
        (before the first row; the run's record also re-measures it at the end)."""
        return measure_sgemm_peaks()

    @cached_property
    def record(self) -> dict:
        """What travels with the whole run (bench.json's machine_info["convbench"] and "convbench")."""
        from convbench.benchmarks.machine import machine_info
        from convbench.runtimes import RUNTIMES
        from convbench.fingerprint import FINGERPRINT_PACKAGES, library_versions, sha256_file

        m = self.manifest
        return {
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "options": self.options.as_record(),
            "manifest": {"path": str(m.path), "created": m.data.get("created"), "schema": m.data.get("schema"),
                         "sha256": sha256_file(m.path), "versions": m.data.get("versions")},
            "dataset": {k: m.dataset.get(k) for k in ("name", "fingerprint", "input_shape", "split_sizes")},
            "versions": library_versions(("pytest", "pytest-benchmark", *FINGERPRINT_PACKAGES)),
            "runtime_versions": {name: r.version() for name, r in RUNTIMES.items()},
            "machine": machine_info(),
            "sgemm_peak_gflops": {str(k): v for k, v in self.sgemm_peaks.items()},
            "sgemm": f"best of {SGEMM_PASSES} x {SGEMM_REPEATS} float32 1024x1024 matmuls (numpy BLAS, "
                     "threadpoolctl-limited), measured before the first row",
            "git": {"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain", "--untracked-files=no"))},
            "row_budget": dataclasses.asdict(self.budget),
            "loadavg_at_start": list(os.getloadavg()),
        }

    @property
    def context(self) -> dict:
        """The run-wide facts copied into every row's extra_info."""
        return {"dataset_fingerprint": self.manifest.fingerprint, "manifest_created": self.manifest.data.get("created"),
                "git_commit": self.record["git"]["commit"],
                # Another process on these cores shows here first (a regression gate can discount such rows).
                "loadavg_1m": os.getloadavg()[0]}

    def input_pool(self, batch: int, count: int, item_shape) -> tuple[list[np.ndarray], np.ndarray | None]:
        """`count` distinct batches of held-out test images (and their labels); random images
        when the model's input is not the data set's (or the test split is too small)."""
        item_shape = tuple(int(d) for d in item_shape)
        x, y = self.dataset.x_test, self.dataset.y_test
        if tuple(x.shape[1:]) == item_shape and len(x) >= batch * count:
            return [x[i * batch:(i + 1) * batch] for i in range(count)], y[:batch * count]
        rng = np.random.default_rng(0)
        return [rng.random((batch, *item_shape), dtype=np.float32) for _ in range(count)], None


def measure_sgemm_peaks() -> dict[int, float]:
    from convbench.benchmarks.machine import measure_sgemm_peak_gflops

    threads = sorted({1, len(os.sched_getaffinity(0))})
    passes = [{t: measure_sgemm_peak_gflops(t, repeats=SGEMM_REPEATS) for t in threads} for _ in range(SGEMM_PASSES)]
    return {t: max(p[t] for p in passes) for t in threads}


class ForeignCpu:
    """Share of all CPUs' time that other processes (and the hypervisor's steal) used while the
    block ran: 0 on a quiet machine; 0.5 on 2 cores means another process took a whole core.
    A row timed under such load is slower for reasons of its own (2-thread rows most)."""

    def __enter__(self) -> ForeignCpu:
        self._start = self._sample()
        self.fraction = None
        return self

    def __exit__(self, *exc) -> None:
        (w0, busy0, own0), (w1, busy1, own1) = self._start, self._sample()
        capacity = (w1 - w0) * len(os.sched_getaffinity(0))
        self.fraction = max(0.0, ((busy1 - busy0) - (own1 - own0)) / capacity) if capacity > 0 else None

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        import psutil

        cpu, own = psutil.cpu_times(), os.times()
        busy = cpu.user + cpu.nice + cpu.system + getattr(cpu, "irq", 0) + getattr(cpu, "softirq", 0) \
            + getattr(cpu, "steal", 0)
        return time.monotonic(), busy, own.user + own.system + own.children_user + own.children_system


def pool_count(batch: int, test_images: int = 256) -> int:
    """Distinct input batches a latency row cycles through: ~256 images, 2..8 batches."""
    return max(2, min(8, test_images // batch))


def runnable_runtime(case):
    """The row's runtime, or pytest.skip with the reason (a failed artifact, no GPU here)."""
    from convbench.runtimes import RUNTIMES

    if case.skip:
        pytest.skip(case.skip)
    runtime = RUNTIMES[case.runtime]
    ok, why = runtime.available(case.device)
    if not ok:
        pytest.skip(f"{case.device} row: {why}")
    return runtime


def load_session(case):
    """Skip rows that cannot run here (with the reason), else load: (session, load seconds)."""
    from convbench.runtimes import DeviceUnavailable

    runtime = runnable_runtime(case)
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
    from convbench.runtimes import RUNTIMES

    return {**session.describe(), "runtime_version": RUNTIMES[case.runtime].version()}


