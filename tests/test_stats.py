"""LatencyStats: exact numbers on small inputs (numpy's default linear-interpolation percentiles)."""

from __future__ import annotations

import pytest

from convbench.core.records import PERCENTILE_METHOD, LatencyStats, to_jsonable


def test_five_samples_exact():
    # ms: 1, 2, 3, 4, 10 (shuffled: order must not matter)
    s = LatencyStats.from_seconds([0.004, 0.001, 0.010, 0.003, 0.002], batch=4)
    assert s.n == 5 and s.batch == 4
    assert s.mean_ms == pytest.approx(4.0)
    assert s.median_ms == s.p50_ms == pytest.approx(3.0)
    assert s.p90_ms == pytest.approx(7.6)    # rank 0.9*4 = 3.6: 4 + 0.6*(10-4)
    assert s.p99_ms == pytest.approx(9.76)   # rank 3.96: 4 + 0.96*6
    assert (s.q1_ms, s.q3_ms, s.iqr_ms) == pytest.approx((2.0, 4.0, 2.0))
    assert s.stdev_ms == pytest.approx(12.5 ** 0.5)  # squared deviations 9+4+1+0+36 = 50, /(n-1)
    assert (s.min_ms, s.max_ms) == pytest.approx((1.0, 10.0))
    assert s.throughput_items_per_s == pytest.approx(4 / 0.003)


def test_equal_samples_have_no_spread():
    s = LatencyStats.from_seconds([0.002] * 5, batch=1)
    assert (s.median_ms, s.p99_ms, s.iqr_ms, s.stdev_ms) == pytest.approx((2.0, 2.0, 0.0, 0.0))
    assert s.throughput_items_per_s == pytest.approx(500.0)


def test_single_sample_stdev_is_zero():
    s = LatencyStats.from_seconds([0.005], batch=2)
    assert (s.n, s.stdev_ms, s.p90_ms) == (1, 0.0, pytest.approx(5.0))


def test_the_written_record_names_the_percentile_method():
    s = LatencyStats.from_seconds([0.001, 0.002], batch=1)
    d = to_jsonable(s)
    assert d["percentile_method"] == PERCENTILE_METHOD == "linear"
    assert s.p50_ms == d["median_ms"] == pytest.approx(1.5)


@pytest.mark.parametrize("samples, batch", [([], 1), ([[0.1, 0.2]], 1), ([0.1], 0)])
def test_bad_input_raises(samples, batch):
    with pytest.raises(ValueError):
        LatencyStats.from_seconds(samples, batch)
