"""Speed ties: the batch-1 rows whose speed cannot be told apart from the fastest's, and the one
the recommendation picks among them by a stated rule, so that noise does not decide "fastest".

Within a run every row is timed in its own session at its own moment. Over five benches of one
artifacts folder on a shared 2-core Zen 4 VM (issue 21, docs/measurements) a one-thread row's
median moved by max/min 1.20x (median over 83 rows), 1.46x (90th percentile), 1.55x (95th),
whole sessions of one file running steadily slower than others. An interval from a row's own
rounds cannot see that, so a row ties unless its median is slower than the fastest's by more
than TIE_MIN_EFFECT even at the favourable end of that interval (core/stats.py:
median_ratio_interval). A finer claim needs rows timed interleaved: the gate's A/B mode."""

from __future__ import annotations

import math
from dataclasses import dataclass

from convbench.core.formats import FORMATS
from convbench.core.records import BenchRun, LatencyResult
from convbench.core.stats import RatioEstimate, median_ratio_interval

TIE_ALPHA = 0.05
# A row more than this much slower than the fastest (at the low end of the 95 % interval of the
# ratio of medians) is a real difference; anything closer is a tie: the 90th-95th percentile of a
# row's run-to-run spread above. 0.25 (the median spread and more) still let the pick move: one
# --quick bench timed lesson4's tflite_int8 session 1.41x slower than tflite_dynamic's, where
# the bench before had them 1.11x apart, and the pick went to lrq_dynamic_int8.
TIE_MIN_EFFECT = 0.5
TIE_RULE = (f"Files are compared at batch 1 and one thread (each file's speed on one core; all threads where a "
            "device has no one-thread rows), the pick's speed on more threads said beside it. "
            f"Ties: the rows within the budget whose median is not more than {TIE_MIN_EFFECT:.0%} slower "
            f"than the fastest's at the low end of a {1 - TIE_ALPHA:.0%} interval of the ratio of medians "
            "(order statistics of each row's rounds); among them the recommendation picks the fewest fine-tuning "
            "steps (a plain conversion before pruning, clustering or QAT), then the fewest conversion steps (the "
            "plain fp32 and int8 conversions before converter options and other quantizers, those before a "
            "layer-by-layer search), then the smallest download (gzip), then fewer threads.")
SIZE_RULE = ("Smallest: the fewest bytes to download (gzip -9 of the file); the raw file size, what a runtime "
             "maps into memory, is shown beside it.")


@dataclass(frozen=True)
class Tied:
    row: LatencyResult
    ratio: RatioEstimate               # its median over the fastest's, with the interval


@dataclass(frozen=True)
class SpeedTies:
    fastest: LatencyResult             # the lowest median, which noise alone may decide
    tied: list[Tied]                   # the rows that cannot be told apart from it, the pick first
    pick: LatencyResult                # the first of `tied` by the rule

    @property
    def is_tie(self) -> bool:
        return len(self.tied) > 1


def speed_ties(run: BenchRun, rows: list[LatencyResult]) -> SpeedTies:
    """The tie group of the fastest among `rows` (batch-1 rows of one device and model, all
    within the accuracy budget) and its pick."""
    if not rows:
        raise ValueError("no rows to compare")
    fastest = min(rows, key=lambda r: (r.stats.p50_ms, r.label))
    base = _samples(run, fastest)
    tied = []
    for row in rows:
        ratio = median_ratio_interval(base, _samples(run, row), TIE_ALPHA)
        if row is fastest or ratio.ci_low <= 1 + TIE_MIN_EFFECT:
            tied.append(Tied(row, ratio))
    tied.sort(key=lambda t: pick_key(run, t.row))
    return SpeedTies(fastest, tied, tied[0].row)


def steps(run: BenchRun, row: LatencyResult) -> tuple[int, int]:
    """(fine-tuning steps, conversion steps): the manifest's chain of techniques, the format's
    registry entry (core/formats.py: 0 plain, 1 an option or another quantizer, 2 a search)."""
    tuned = run.manifest.fine_tuning_steps(row.model, row.variant) if run.manifest else 0
    fmt = FORMATS.get(row.format)
    return tuned, fmt.steps if fmt else 1


def pick_key(run: BenchRun, row: LatencyResult) -> tuple:
    """The rule among tied rows: fewest fine-tuning steps, then fewest conversion steps, then
    the smallest download, then fewer threads; then the lower median and the label, so that
    the order is total. Every key but the median is fixed by the files, not by the timing."""
    artifact = run.artifact(row)
    gzip = artifact.gzip_bytes if artifact and artifact.gzip_bytes is not None else math.inf
    threads = row.threads if row.threads is not None else math.inf
    return *steps(run, row), gzip, threads, row.stats.p50_ms, row.label


def _samples(run: BenchRun, row: LatencyResult) -> list[float]:
    """The row's raw rounds; its median alone for a row without them (a hand-built run)."""
    return run.samples_s.get(row.key) or [row.stats.p50_ms / 1e3]
