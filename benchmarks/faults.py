"""Faults injected on purpose into real sessions, to show that an audit catches what it exists
to catch (benchmarks/calibrate_audits.py, and the tests): a result cache keyed by the input's
bytes, the fault MLPerf's TEST04 looks for; a harness that adds busy work inside the timed
region, the fault the harness-overhead audit looks for."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from convbench.core.runtimes import Session


class MemoSession(Session):
    """`inner`, with its outputs memoized by the bytes of the input: a repeated input costs a
    hash of its bytes and a dict lookup, not the model (the hash is paid in `run`, as a real
    cache pays it, not in the untimed `prepare`)."""

    def __init__(self, inner: Session):
        self.inner, self.memo = inner, {}
        self.runtime, self.batch, self.device_used = inner.runtime, inner.batch, inner.device_used
        self.input_shape, self.output_shape, self.providers = inner.input_shape, inner.output_shape, inner.providers

    def _prepare(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return x, self.inner.prepare(x)

    def run(self, feed: tuple[np.ndarray, Any]) -> Any:
        x, inner_feed = feed
        key = x.tobytes()
        if key not in self.memo:
            self.memo[key] = self.inner.run(inner_feed)
        return self.memo[key]

    def postprocess(self, raw: Any) -> np.ndarray:
        return self.inner.postprocess(raw)


def slowed_pedantic(extra_s: float):
    """A harness that adds `extra_s` of busy work inside every timed round (the injected fault
    of the overhead audit)."""
    def pedantic(target, setup, rounds):
        out = []
        for _ in range(rounds):
            args, kwargs = setup()
            start = time.perf_counter()
            target(*args, **kwargs)
            until = time.perf_counter() + extra_s
            while time.perf_counter() < until:
                pass
            out.append(time.perf_counter() - start)
        return out

    return pedantic
