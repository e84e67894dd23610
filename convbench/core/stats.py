"""The statistics of the regression gate and of the report's accuracy test, one implementation
each (scipy.stats does the math; it is imported only when a test runs, so `convbench --help`
stays fast).

* Discordant pairs and McNemar's exact test: both sides classified the same images, so the
  comparison is paired and only the images one side gets right and the other wrong carry
  evidence; under "same accuracy" each of them is a fair coin between the sides (a two-sided
  binomial test). The report compares a row with fp32 (base: fp32), the gate a change with its
  base.
* The ABBA block ratio: rounds taken A B B A per block, the change's two over the base's two,
  so that what both sides share while a block runs cancels; the median of those ratios with a
  percentile bootstrap interval.
* The one-sided Mann-Whitney U test of the between-runs gate on two runs' raw samples.
* Between runs with repeated rounds (--repeat): the ratio of the runs' round p50s with a
  bootstrap interval, a machine's run-to-run spread, and the one rule that calls a difference
  distinguishable from noise (the gate, `machines` and `history` all use it).
* The ratio of two unpaired samples' medians with an order-statistic interval: the report's
  speed ties (which rows cannot be told apart from the fastest)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same samples give the same interval on every machine


# ---- paired accuracy: discordant pairs, exact McNemar ------------------------------------

def discordant(base_correct, change_correct) -> tuple[int, int]:
    """(images only the base gets right, images only the change gets right): the discordant
    pairs of two sides' right/wrong on the same images."""
    base, change = np.asarray(base_correct, bool), np.asarray(change_correct, bool)
    if base.shape != change.shape:
        raise ValueError(f"both sides must classify the same images, got {base.shape} and {change.shape}")
    return int(np.sum(base & ~change)), int(np.sum(~base & change))


def mcnemar_exact_p(base_only: int, change_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts. No discordant image: no
    evidence of a difference (p = 1)."""
    if base_only < 0 or change_only < 0:
        raise ValueError(f"discordant counts must be >= 0, got {base_only}, {change_only}")
    from scipy.stats import binomtest

    n = base_only + change_only
    return 1.0 if n == 0 else float(binomtest(min(base_only, change_only), n, 0.5).pvalue)


@dataclass(frozen=True)
class McNemar:
    base_only_correct: int
    change_only_correct: int
    p_value: float


def mcnemar(base_correct, change_correct) -> McNemar:
    """McNemar's exact test on two sides' right/wrong per image (the same images, in order)."""
    b, c = discordant(base_correct, change_correct)
    return McNemar(b, c, mcnemar_exact_p(b, c))


# ---- paired latency: the ABBA block ratio and its bootstrap interval ---------------------

@dataclass(frozen=True)
class RatioEstimate:
    ratio: float                       # median of the per-block change/base ratios
    ci_low: float
    ci_high: float


def block_ratios(base_round_s, change_round_s) -> np.ndarray:
    """Rounds were taken A B B A per block (two of each side): change's sum over base's sum per
    block, which cancels a drift that is linear over the block."""
    a, b = np.asarray(base_round_s, float), np.asarray(change_round_s, float)
    if a.size != b.size or a.size < 2 or a.size % 2:
        raise ValueError(f"need the same even number of rounds per side, got {a.size} and {b.size}")
    return b.reshape(-1, 2).sum(axis=1) / a.reshape(-1, 2).sum(axis=1)


def median_ratio(base_round_s, change_round_s, alpha: float, resamples: int = BOOTSTRAP_RESAMPLES) -> RatioEstimate:
    """The median block ratio and its two-sided (1 - alpha) percentile bootstrap interval."""
    from scipy.stats import bootstrap

    ratios = block_ratios(base_round_s, change_round_s)
    median = float(np.median(ratios))
    if np.all(ratios == ratios[0]):
        return RatioEstimate(median, median, median)  # no spread: scipy would warn about a degenerate interval
    ci = bootstrap((ratios,), np.median, confidence_level=1 - alpha, n_resamples=resamples, method="percentile",
                   rng=np.random.default_rng(BOOTSTRAP_SEED)).confidence_interval
    return RatioEstimate(median, float(ci.low), float(ci.high))


# ---- two unpaired samples: one-sided Mann-Whitney U --------------------------------------

def mann_whitney_p(slower, faster) -> float:
    """P-value of the one-sided Mann-Whitney U test that `slower` tends to be larger."""
    from scipy.stats import mannwhitneyu

    if min(slower) == max(slower) == min(faster) == max(faster):
        return 1.0  # all equal: scipy would warn and return nan
    return float(mannwhitneyu(slower, faster, alternative="greater").pvalue)


# ---- two runs: each row's rounds (--repeat) on each side ---------------------------------

def between_runs_ratio(base_p50s, new_p50s, alpha: float = 0.05,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> RatioEstimate | None:
    """new / base of the medians of each run's round p50s (--repeat), with a two-sided
    (1 - alpha) percentile bootstrap interval that resamples each side's rounds on its own: the
    runs were timed apart, so nothing pairs them. None when a side has fewer than 2 rounds (one
    round's samples say nothing of how the next run will differ)."""
    from scipy.stats import bootstrap

    a, b = np.asarray(base_p50s, float), np.asarray(new_p50s, float)
    if a.size < 2 or b.size < 2:
        return None
    ratio = float(np.median(b) / np.median(a))
    if np.all(a == a[0]) and np.all(b == b[0]):
        return RatioEstimate(ratio, ratio, ratio)  # no spread: scipy would warn about a degenerate interval

    def statistic(x, y, axis=-1):
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    ci = bootstrap((a, b), statistic, paired=False, vectorized=True, confidence_level=1 - alpha,
                   n_resamples=resamples, method="percentile",
                   rng=np.random.default_rng(BOOTSTRAP_SEED)).confidence_interval
    return RatioEstimate(ratio, float(min(ci.low, ratio)), float(max(ci.high, ratio)))


def run_to_run_spread(rows_p50s) -> float | None:
    """A machine's yardstick from one run with --repeat: over its rows, the median of each
    row's slowest round over its fastest (1.08: a row's rounds typically span 8 %). None
    without rows of 2 or more rounds."""
    spans = [max(p) / min(p) for p in rows_p50s if len(p) >= 2 and min(p) > 0]
    return float(np.median(spans)) if spans else None


def distinguishable(estimate: RatioEstimate | None, spread: float | None) -> bool | None:
    """The rule every comparison between runs uses: a ratio is told apart from noise when its
    whole interval lies beyond 1 and beyond the machines' run-to-run spread (the larger side's):
    above `spread` or below 1/spread. An interval that reaches into [1/spread, spread] is what
    the same files on the same machine also give from run to run (rows drift together with the
    machine's neighbours, which the rounds of one row alone underestimate). None: no interval
    (a side ran one round)."""
    if estimate is None:
        return None
    bound = max(spread or 1.0, 1.0)
    return estimate.ci_low > bound or estimate.ci_high < 1 / bound


def max_spread(*spreads: float | None) -> float | None:
    """The yardstick of a comparison: the larger of its sides' run-to-run spreads."""
    known = [s for s in spreads if s is not None]
    return max(known) if known else None


def compare_rounds(base_p50s, new_p50s, base_spread: float | None,
                   new_spread: float | None) -> tuple[RatioEstimate | None, bool | None]:
    """A row in two runs: the ratio of its rounds with its interval, and the one rule's verdict
    against the larger of the two runs' spreads ((None, None) where a side ran one round)."""
    estimate = between_runs_ratio(base_p50s, new_p50s)
    return estimate, distinguishable(estimate, max_spread(base_spread, new_spread))


# ---- two unpaired samples: the ratio of their medians -------------------------------------

def median_interval(samples, alpha: float) -> tuple[float, float]:
    """The distribution-free (1 - alpha) interval of a sample's median: the order statistics
    whose ranks the Binomial(n, 1/2) count of values below the median puts at alpha/2 from
    either end (no bootstrap, no assumption about the shape of a latency distribution)."""
    from scipy.stats import binom

    x = np.sort(np.asarray(samples, float))
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"need a non-empty 1-D sample, got shape {x.shape}")
    k = int(binom.ppf(alpha / 2, x.size, 0.5))   # ranks below k hold the median with prob < alpha/2
    return float(x[max(k - 1, 0)]), float(x[min(x.size - k, x.size - 1)])


def median_ratio_interval(base_s, other_s, alpha: float) -> RatioEstimate:
    """median(other) / median(base) for two unpaired samples, with a conservative (1 - alpha)
    interval: each median's (1 - alpha/2) interval (Bonferroni), lowest over highest and highest
    over lowest. It says nothing about drift between the moments the two were timed: a caller
    comparing rows timed apart must add its own minimum effect."""
    base_low, base_high = median_interval(base_s, alpha / 2)
    other_low, other_high = median_interval(other_s, alpha / 2)
    ratio = float(np.median(np.asarray(other_s, float)) / np.median(np.asarray(base_s, float)))
    return RatioEstimate(ratio, other_low / base_high, other_high / base_low)
