"""Calibration of the interleaved gate, a benchmark of the gate itself (`convbench
calibrate-gate`): the same artifacts on both sides (A/A: every REGRESSION is a false alarm),
then the same again with busy work injected into every call of one side (every row not flagged
is a miss). Written to <out>/gates/<UTC time>/calibration.json and printed with the machine
(printer.py), since both figures belong to the machine they were measured on."""

from __future__ import annotations

import time
from datetime import datetime, UTC
from pathlib import Path

import numpy as np

from convbench.core.records import write_record
from convbench.core.records.gate import CALIBRATION_FILE, GateCalibration
from convbench.core.runtimes.base import Session
from convbench.gate import checks
from convbench.gate.interleaved import GateOptions, run_interleaved

INJECTION = ("the change side's session is wrapped: after each run() it spins on time.perf_counter() for "
             "{pct:g} % of the base session's median call, measured on the same inputs right before the row "
             "is timed (busy work on the same core, as a slower kernel would be)")
MEDIAN_CALLS = 50


class SlowedSession(Session):
    """`inner`, with `extra_s` of busy work after every run: a known slowdown."""

    def __init__(self, inner: Session, extra_s: float):
        self.inner, self.extra_s = inner, extra_s
        self.runtime, self.batch, self.device_used = inner.runtime, inner.batch, inner.device_used
        self.input_shape, self.output_shape, self.providers = inner.input_shape, inner.output_shape, inner.providers

    def _prepare(self, x):
        return self.inner.prepare(x)

    def run(self, feed):
        out = self.inner.run(feed)
        until = time.perf_counter() + self.extra_s
        while time.perf_counter() < until:
            pass
        return out

    def postprocess(self, raw):
        return self.inner.postprocess(raw)


def median_call_s(session: Session, x_batches: list, calls: int = MEDIAN_CALLS) -> float:
    feeds = [session.prepare(x) for x in x_batches]
    times = []
    for i in range(calls):
        start = time.perf_counter()
        session.run(feeds[i % len(feeds)])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def calibrate(options: GateOptions, slowdown_pct: float) -> tuple[GateCalibration, Path]:
    """A/A, then A/A' with `slowdown_pct` injected, over every primary row of one manifest."""
    from convbench.benchmarks.machine import machine_info

    checks.slowdown(slowdown_pct)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    aa, _ = run_interleaved(options, progress="calibration A/A")

    def slowed(base: Session, change: Session, x_batches: list) -> Session:
        return SlowedSession(change, median_call_s(base, x_batches) * slowdown_pct / 100)

    slow, slow_path = run_interleaved(options, change_hook=slowed, slowdown_pct=slowdown_pct,
                                      progress=f"calibration +{slowdown_pct:g} %")
    calibration = GateCalibration(
        started=started, finished=datetime.now(UTC).isoformat(timespec="seconds"),
        manifest=str(options.base), machine=machine_info(),
        max_latency_regression_pct=options.max_latency_regression_pct,
        injected_slowdown_pct=slowdown_pct, injection=INJECTION.format(pct=slowdown_pct), aa=aa, slowed=slow)
    path = slow_path.parent / CALIBRATION_FILE
    write_record(path, calibration)
    return calibration, path
