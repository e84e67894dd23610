"""The interleaved gate's statistics: paired, so that what both sides share (the machine's
state while a block ran) cancels. Latency: per ABBA block, the change's two rounds over the
base's two; the median of those ratios with a bootstrap confidence interval (scipy.stats).
Accuracy: McNemar's exact test on the images only one side classifies right."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convbench.core.records.gate import IMPROVED, NOISE, OK, REGRESSION

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same samples give the same interval on every machine


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


def latency_verdict(estimate: RatioEstimate, threshold_pct: float) -> str:
    """REGRESSION: the median ratio is beyond the threshold AND the interval excludes 1 (the
    minimum effect and the evidence both); noise: beyond the threshold, interval includes 1."""
    change_pct = (estimate.ratio - 1) * 100
    if abs(change_pct) <= threshold_pct:
        return OK
    if change_pct > 0:
        return REGRESSION if estimate.ci_low > 1 else NOISE
    return IMPROVED if estimate.ci_high < 1 else NOISE


@dataclass(frozen=True)
class McNemar:
    base_only_correct: int
    change_only_correct: int
    p_value: float


def mcnemar(base_correct, change_correct) -> McNemar:
    """Exact McNemar: under "both sides are equally accurate" the images that only one side gets
    right split 50/50, a two-sided binomial test on them."""
    from scipy.stats import binomtest

    base, change = np.asarray(base_correct, bool), np.asarray(change_correct, bool)
    if base.shape != change.shape:
        raise ValueError(f"both sides must classify the same images, got {base.shape} and {change.shape}")
    b, c = int(np.sum(base & ~change)), int(np.sum(~base & change))
    return McNemar(b, c, 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue))


def accuracy_verdict(drop_pp: float, max_drop_pp: float) -> str:
    """The budget decides (as in the between-runs mode); McNemar's p is printed beside it."""
    return REGRESSION if drop_pp > max_drop_pp else (IMPROVED if drop_pp < 0 else OK)
