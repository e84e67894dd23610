"""How the interleaved A/B gate times one row: both sides' sessions in this one process, alternately, in
ABBA blocks (base, change, change, base), each round on the same prepared input on both sides.
Whatever the machine does meanwhile (another tenant on the cores, frequency changes) hits both
sides of a block alike, so the per-block ratio sees the change and not the machine."""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np

from convbench.gate import checks

ABBA = (0, 1, 1, 0)  # side indices of one block: 0 base, 1 change


@dataclass(frozen=True)
class InterleaveBudget:
    """Timed seconds per row (both sides together), split into ABBA blocks of rounds. A round is
    `calls_per_round` back-to-back calls, as many as make it last `min_round_s`, so that a
    very fast model's round is not a few microseconds of timer and loop overhead."""

    row_time_s: float = 0.5
    min_blocks: int = 20
    max_blocks: int = 2000
    min_round_s: float = 2e-4
    warmup_calls: int = 10

    def __post_init__(self) -> None:
        checks.row_time(self.row_time_s)
        if not (2 <= self.min_blocks <= self.max_blocks and self.min_round_s > 0
                and self.warmup_calls >= 1):
            raise ValueError(f"bad interleave budget {self}")


@dataclass(frozen=True)
class Interleaved:
    calls_per_round: int
    base_round_s: list[float]          # two per block, in the order taken
    change_round_s: list[float]


def time_interleaved(base, change, x_batches: Sequence[np.ndarray], budget: InterleaveBudget) -> Interleaved:
    """Time `base` and `change` (Sessions at the same batch) alternately on the same inputs.
    Untimed: preparing every input for each side, and the warm-up (each side runs every input,
    alternating, at least `warmup_calls` calls), whose times size the rounds and blocks."""
    sessions = (base, change)
    feeds = [[s.prepare(x) for x in x_batches] for s in sessions]
    n = len(x_batches)
    warm: list[float] = []
    for i in range(max(budget.warmup_calls, n)):
        for side in (0, 1):
            start = time.perf_counter()
            sessions[side].run(feeds[side][i % n])
            warm.append(time.perf_counter() - start)
    per_call_s = max(float(np.median(warm)), 1e-9)
    calls = max(1, math.ceil(budget.min_round_s / per_call_s))
    blocks = int(min(budget.max_blocks, max(budget.min_blocks, budget.row_time_s / (4 * calls * per_call_s))))

    rounds: tuple[list[float], list[float]] = ([], [])
    runs = tuple(s.run for s in sessions)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one round would land on one side only
    try:
        for block in range(blocks):
            first = block * calls  # every round of a block runs the same inputs, on both sides
            for side in ABBA:
                run, side_feeds = runs[side], feeds[side]
                start = time.perf_counter()
                for k in range(first, first + calls):
                    run(side_feeds[k % n])
                rounds[side].append(time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Interleaved(calls, *rounds)
