"""Skew metrics against their textbook definitions."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.core import metrics

SEEDED = settings(derandomize=True, deadline=None, max_examples=200)

VALUES = st.lists(st.integers(min_value=0, max_value=2**40), max_size=60)


def gini_reference(values: list[int]) -> float:
    """Mean absolute difference over twice the mean, summed over all pairs."""
    count, total = len(values), sum(values)
    if count == 0 or total == 0:
        return 0.0
    pairs = sum(abs(a - b) for a in values for b in values)
    return pairs / (2 * count * total)


@SEEDED
@given(values=VALUES)
def test_gini_matches_the_pairwise_definition(values):
    assert metrics.gini(np.array(values, dtype=np.int64)) == pytest.approx(
        gini_reference(values), abs=1e-9
    )


@SEEDED
@given(value=st.integers(min_value=0, max_value=2**40), count=st.integers(1, 50))
def test_gini_of_equal_sizes_is_zero(value, count):
    assert metrics.gini(np.full(count, value)) == pytest.approx(0.0, abs=1e-12)


@SEEDED
@given(count=st.integers(min_value=1, max_value=200))
def test_gini_when_one_object_holds_everything(count):
    values = np.zeros(count, dtype=np.int64)
    values[count // 2] = 1000
    assert metrics.gini(values) == pytest.approx((count - 1) / count)


def test_gini_over_many_chunks_matches_a_direct_computation(monkeypatch):
    # The rank-weighted sum runs in chunks; values that need int64 take the wide sort.
    monkeypatch.setattr(metrics, "_CHUNK", 1000)
    values = np.random.default_rng(3).integers(0, 2**40, size=25_000)
    ordered = np.sort(values).astype(np.float64)
    count = ordered.size
    rank = np.arange(1, count + 1)
    expected = 2 * np.dot(rank, ordered) / (count * ordered.sum()) - (count + 1) / count
    assert metrics.gini(values) == pytest.approx(expected, rel=1e-12)
    assert metrics.gini(values // 2**20) == pytest.approx(
        metrics.gini(values.astype(np.float64) // 2**20), rel=1e-12
    )


def test_gini_rejects_negative_sizes():
    with pytest.raises(ValueError, match=">= 0"):
        metrics.gini(np.array([3, -1]))


@SEEDED
@given(values=st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=60))
def test_coefficient_of_variation_is_pstdev_over_mean(values):
    mean = statistics.fmean(values)
    expected = statistics.pstdev(values) / mean if mean else 0.0
    assert metrics.coefficient_of_variation(np.array(values)) == pytest.approx(
        expected, rel=1e-9, abs=1e-12
    )


def test_coefficient_of_variation_of_nothing_is_zero():
    assert metrics.coefficient_of_variation(np.array([])) == 0.0


@SEEDED
@given(
    bytes_per_host=st.lists(st.integers(min_value=0, max_value=2**45), min_size=1, max_size=60),
    data=st.data(),
    throughput_bps=st.floats(min_value=1e3, max_value=1e11),
    hourly_price=st.floats(min_value=0, max_value=100),
)
def test_skew_metrics_follow_their_definitions(bytes_per_host, data, throughput_bps, hourly_price):
    objects_per_host = data.draw(
        st.lists(
            st.integers(min_value=0, max_value=1000),
            min_size=len(bytes_per_host),
            max_size=len(bytes_per_host),
        )
    )
    result = metrics.skew_metrics(
        np.array(bytes_per_host, dtype=np.int64),
        np.array(objects_per_host),
        throughput_bps=throughput_bps,
        hourly_price=hourly_price,
    )
    hosts = len(bytes_per_host)
    largest = max(bytes_per_host)
    mean = sum(bytes_per_host) / hosts
    finish_s = [load / throughput_bps for load in bytes_per_host]
    idle_host_s = sum(max(finish_s) - seconds for seconds in finish_s)
    assert result["hosts"] == hosts
    assert result["max_bytes"] == largest
    assert result["mean_bytes"] == pytest.approx(mean)
    assert result["imbalance_ratio"] == pytest.approx(largest / mean if mean else 1.0)
    assert result["empty_hosts"] == objects_per_host.count(0)
    assert result["straggler_delay_s"] == pytest.approx((largest - mean) / throughput_bps)
    assert result["idle_host_s"] == pytest.approx(idle_host_s, rel=1e-9, abs=1e-9)
    assert result["idle_cost"] == pytest.approx(
        idle_host_s / 3600 * hourly_price, rel=1e-9, abs=1e-9
    )
    assert result["cv_bytes"] == pytest.approx(
        statistics.pstdev(bytes_per_host) / mean if mean else 0.0, rel=1e-9, abs=1e-12
    )
    assert all(math.isfinite(value) for value in result.values())


def test_no_bytes_at_all_is_balanced_not_a_division_by_zero():
    result = metrics.skew_metrics(
        np.zeros(4, dtype=np.int64), np.zeros(4), throughput_bps=1e8, hourly_price=2.0
    )
    assert result["imbalance_ratio"] == 1.0
    assert result["cv_bytes"] == 0.0
    assert result["straggler_delay_s"] == 0.0
    assert result["idle_host_s"] == 0.0
    assert result["idle_cost"] == 0.0
    assert result["empty_hosts"] == 4


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"throughput_bps": 0.0, "hourly_price": 1.0}, "throughput_bps"),
        ({"throughput_bps": float("nan"), "hourly_price": 1.0}, "throughput_bps"),
        ({"throughput_bps": 1e8, "hourly_price": -1.0}, "hourly_price"),
    ],
)
def test_skew_metrics_reject_bad_rates(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        metrics.skew_metrics(np.array([1, 2]), np.array([1, 1]), **kwargs)


def test_skew_metrics_reject_mismatched_hosts():
    with pytest.raises(ValueError, match="objects_per_host"):
        metrics.skew_metrics(np.array([1, 2]), np.array([1]), throughput_bps=1.0, hourly_price=1.0)
    with pytest.raises(ValueError, match="non-empty"):
        metrics.skew_metrics(np.array([]), np.array([]), throughput_bps=1.0, hourly_price=1.0)
