"""The one statistics module (convbench.core.stats) on exact small inputs: the ABBA block
ratio and its bootstrap interval, the discordant pairs and McNemar's exact test that both the
interleaved gate and the report's per-row significance use."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.core import classes
from convbench.core.stats import (block_ratios, discordant, mcnemar, mcnemar_exact_p, median_interval, median_ratio,
                                  median_ratio_interval)


def test_block_ratios_pair_each_block_of_abba():
    # Blocks: base rounds (1, 3), change (2, 2); base (2, 2), change (4, 4).
    assert block_ratios([1, 3, 2, 2], [2, 2, 4, 4]).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError):
        block_ratios([1, 2, 3], [1, 2, 3])


def test_median_ratio_and_its_interval():
    base = [1.0] * 40
    change = [1.1] * 20 + [1.2] * 20         # block ratios: ten 1.1, ten 1.2
    est = median_ratio(base, change, alpha=0.01)
    assert est.ratio == pytest.approx(1.15) and 1.1 <= est.ci_low <= est.ratio <= est.ci_high <= 1.2
    flat = median_ratio([1.0] * 4, [1.0] * 4, alpha=0.01)
    assert (flat.ratio, flat.ci_low, flat.ci_high) == (1.0, 1.0, 1.0)


def test_median_interval_is_the_binomial_order_statistics():
    # n = 10: P(fewer than 2 of 10 below the median) = 11/1024 < 0.025, so the 2nd and 9th values
    assert median_interval(range(10, 0, -1), alpha=0.05) == (2.0, 9.0)
    assert median_interval([5.0], alpha=0.05) == (5.0, 5.0)          # one round: the value itself
    with pytest.raises(ValueError):
        median_interval([], alpha=0.05)


def test_median_interval_covers_the_true_median_as_often_as_it_says():
    rng = np.random.default_rng(0)   # right-skewed like latencies; the true median is exp(0) = 1
    covered = [low <= 1.0 <= high for low, high in (median_interval(rng.lognormal(0, 0.5, 50), 0.05)
                                                    for _ in range(2000))]
    assert 0.95 <= np.mean(covered) <= 0.99   # distribution-free, conservative by the discreteness


def test_ratio_of_medians_interval_is_conservative():
    est = median_ratio_interval(list(range(1, 11)), [2 * x for x in range(1, 11)], alpha=0.05)
    # each median at 97.5 %: base (2, 9), other (4, 18); low 4/9, high 18/2
    assert (est.ratio, est.ci_low, est.ci_high) == pytest.approx((2.0, 4 / 9, 9.0))


def test_mcnemar_counts_the_discordant_images():
    base = np.array([1, 1, 1, 1, 1, 1, 0, 1], bool)
    change = np.array([0, 0, 0, 0, 0, 0, 0, 1], bool)
    test = mcnemar(base, change)
    assert (test.base_only_correct, test.change_only_correct) == (6, 0)
    assert test.p_value == pytest.approx(2 / 2**6)    # exact: two-sided binomial, 6 of 6 one way
    assert mcnemar(base, base).p_value == 1.0
    with pytest.raises(ValueError):
        mcnemar(base, change[:4])


def test_mcnemar_exact_p_values():
    # two-sided binomial test on the discordant images, p = 1/2 each
    assert mcnemar_exact_p(0, 0) == 1.0                       # no disagreement: no evidence
    assert mcnemar_exact_p(5, 0) == pytest.approx(2 * 0.5 ** 5)
    assert mcnemar_exact_p(0, 10) == pytest.approx(2 / 1024)
    assert mcnemar_exact_p(3, 7) == pytest.approx(2 * (1 + 10 + 45 + 120) / 1024)
    assert mcnemar_exact_p(7, 3) == mcnemar_exact_p(3, 7)
    with pytest.raises(ValueError):
        mcnemar_exact_p(-1, 2)


def test_discordant_pairs_of_a_row_against_its_reference():
    # labels 1 0 1 0; the reference (fp32) decides 1 0 0 1, the row 1 1 1 0 (one sigmoid unit each)
    labels = np.array([1, 0, 1, 0])
    reference = np.array([[0.9], [0.1], [0.2], [0.8]])
    row = np.array([[0.7], [0.6], [0.9], [0.3]])
    # only the reference right: image 2 (index 1); only the row right: images 3 and 4
    assert discordant(classes.correct(reference, labels), classes.correct(row, labels)) == (1, 2)
    assert discordant(classes.correct(row, labels), classes.correct(row, labels)) == (0, 0)
