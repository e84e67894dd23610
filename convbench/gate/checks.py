"""The one check of each value the gate takes: a UserError naming the command-line option and
the value (the CLI prints it as one line and exits 2). The CLI runs them all before it reads an
input; the gate runs them again where a value enters it (compare_runs, GateOptions,
InterleaveBudget, calibrate), so a library caller gets the same message."""

from __future__ import annotations

import math

from convbench.core.errors import UserError

MAX_SLOWDOWN_PCT = 1000.0  # 11x a call: beyond it, a row's rounds take many times --row-time


def _number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def at_least_zero(option: str, value) -> None:
    """A budget or threshold: --max-accuracy-drop PP, --max-latency-regression PCT."""
    if not (_number(value) and value >= 0):
        raise UserError(f"{option} {value!r}: expected a number >= 0")


def alpha(value) -> None:
    if not (_number(value) and 0 < value < 1):
        raise UserError(f"--alpha {value!r}: expected a number between 0 and 1")


def row_time(value) -> None:
    if not (_number(value) and value > 0):
        raise UserError(f"--row-time {value!r}: expected a number of seconds > 0")


def slowdown(value) -> None:
    """The calibration's injected busy work, in percent of each row's median call."""
    if not (_number(value) and 0 < value <= MAX_SLOWDOWN_PCT):
        raise UserError(f"--slowdown {value!r}: expected a percentage of each row's median call, > 0 and at most "
                        f"{MAX_SLOWDOWN_PCT:g}")
