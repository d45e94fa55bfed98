"""Size distributions: spec validation, reproducibility and the shape of each family."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.core import sizes as sizes_module
from bench.core.sizes import (
    MAX_OBJECT_SIZE,
    SIZE_DISTRIBUTIONS,
    check_size_spec,
    sample_sizes,
)

SEEDED = settings(derandomize=True, deadline=None, max_examples=150)

VALID_SPECS = [
    {"distribution": "fixed", "size": 65536},
    {"distribution": "uniform", "min": 1, "max": 4096},
    {"distribution": "lognormal", "median": 1 << 20, "sigma": 1.5},
    {"distribution": "pareto", "alpha": 1.2, "min": 4096},
    {"distribution": "pareto", "alpha": 1.2, "min": 4096, "max": 1 << 30},
    {"distribution": "log2-uniform", "min": 1, "max": 1 << 30},
    {
        "distribution": "mixture",
        "components": [
            {"weight": 3, "distribution": "fixed", "size": 1024},
            {"weight": 1, "distribution": "lognormal", "median": 1 << 24, "sigma": 0.5},
        ],
    },
]


@pytest.mark.parametrize("spec", VALID_SPECS, ids=lambda spec: spec["distribution"])
def test_every_distribution_samples_whole_positive_bytes(spec):
    check_size_spec(spec)
    sizes = sample_sizes(spec, 5000, np.random.default_rng(1))
    assert sizes.dtype == np.int64
    assert sizes.shape == (5000,)
    assert sizes.min() >= 1
    assert sizes.max() <= MAX_OBJECT_SIZE


def test_every_listed_distribution_has_a_valid_example():
    assert {spec["distribution"] for spec in VALID_SPECS} == set(SIZE_DISTRIBUTIONS)


@pytest.mark.parametrize("spec", VALID_SPECS, ids=lambda spec: spec["distribution"])
def test_same_seed_same_sizes_and_other_seed_other_sizes(spec):
    first = sample_sizes(spec, 2000, np.random.default_rng(7))
    again = sample_sizes(spec, 2000, np.random.default_rng(7))
    other = sample_sizes(spec, 2000, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    if spec["distribution"] != "fixed":
        assert not np.array_equal(first, other)


@pytest.mark.parametrize("family", ["lognormal", "pareto", "log2-uniform"])
def test_chunking_does_not_change_the_sizes(family, monkeypatch):
    # Sampling runs in chunks internally; neither their size nor the dataset size may show in
    # the numbers, so a larger dataset starts with the smaller one.
    spec = next(spec for spec in VALID_SPECS if spec["distribution"] == family)
    in_one_chunk = sample_sizes(spec, 1000, np.random.default_rng(3))
    larger = sample_sizes(spec, 3000, np.random.default_rng(3))
    monkeypatch.setattr(sizes_module, "_CHUNK", 7)
    in_many_chunks = sample_sizes(spec, 1000, np.random.default_rng(3))
    np.testing.assert_array_equal(in_many_chunks, in_one_chunk)
    np.testing.assert_array_equal(larger[:1000], in_one_chunk)


def test_zero_count_gives_an_empty_array():
    sizes = sample_sizes(VALID_SPECS[2], 0, np.random.default_rng(0))
    assert sizes.shape == (0,)
    assert sizes.dtype == np.int64


def test_lognormal_median_and_sigma():
    median, sigma = 1 << 20, 1.2
    spec = {"distribution": "lognormal", "median": median, "sigma": sigma}
    sizes = sample_sizes(spec, 100_000, np.random.default_rng(11))
    assert np.median(sizes) == pytest.approx(median, rel=0.03)
    assert np.log(sizes).std() == pytest.approx(sigma, rel=0.02)


def test_lognormal_sigma_zero_is_constant():
    spec = {"distribution": "lognormal", "median": 123_456, "sigma": 0}
    sizes = sample_sizes(spec, 1000, np.random.default_rng(0))
    assert set(sizes.tolist()) == {123_456}


def test_fixed_is_constant():
    sizes = sample_sizes({"distribution": "fixed", "size": 4096.0}, 100, np.random.default_rng(0))
    assert set(sizes.tolist()) == {4096}


def test_uniform_covers_both_ends_inclusive():
    spec = {"distribution": "uniform", "min": 10, "max": 13}
    sizes = sample_sizes(spec, 10_000, np.random.default_rng(2))
    assert set(sizes.tolist()) == {10, 11, 12, 13}


def test_pareto_tail_follows_alpha_and_respects_min_and_cap():
    alpha, minimum = 1.5, 10_000
    spec = {"distribution": "pareto", "alpha": alpha, "min": minimum}
    sizes = sample_sizes(spec, 200_000, np.random.default_rng(5))
    assert sizes.min() >= minimum
    # P(X > k * min) = k ** -alpha for a Pareto.
    for factor in (2, 8):
        assert np.mean(sizes > factor * minimum) == pytest.approx(factor**-alpha, rel=0.05)
    capped = sample_sizes({**spec, "max": 4 * minimum}, 200_000, np.random.default_rng(5))
    assert capped.max() == 4 * minimum
    assert np.mean(capped == 4 * minimum) == pytest.approx(4**-alpha, rel=0.05)


def test_log2_uniform_has_equal_counts_per_doubling():
    minimum, doublings = 1024, 10
    spec = {"distribution": "log2-uniform", "min": minimum, "max": minimum * 2**doublings - 1}
    count = 100_000
    sizes = sample_sizes(spec, count, np.random.default_rng(9))
    assert sizes.min() >= minimum
    assert sizes.max() <= minimum * 2**doublings - 1
    per_doubling = np.bincount(np.floor(np.log2(sizes / minimum)).astype(int))
    assert per_doubling.size == doublings
    expected = count / doublings
    # Binomial standard deviation is about 95 here; 5% is five of them.
    np.testing.assert_allclose(per_doubling, expected, rtol=0.05)


def test_mixture_weights_set_the_component_shares():
    spec = {
        "distribution": "mixture",
        "components": [
            {"weight": 0.75, "distribution": "fixed", "size": 100},
            {"weight": 0.25, "distribution": "uniform", "min": 1000, "max": 2000},
        ],
    }
    sizes = sample_sizes(spec, 40_000, np.random.default_rng(4))
    small_share = np.mean(sizes == 100)
    assert small_share == pytest.approx(0.75, abs=0.015)
    large = sizes[sizes != 100]
    assert large.min() >= 1000
    assert large.max() <= 2000
    # Components are interleaved, not laid out in blocks.
    first_half_share = np.mean(sizes[: sizes.size // 2] == 100)
    assert first_half_share == pytest.approx(small_share, abs=0.02)


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        (
            {"distribution": "lognormal", "median": 1000, "sigma": -1},
            ["sizes.sigma", "-1", ">= 0"],
        ),
        (
            {"distribution": "gamma", "shape": 2},
            ["sizes.distribution", "'gamma'", "fixed", "lognormal", "log2-uniform"],
        ),
        (
            {"distribution": "lognormal", "median": 1000, "sigma": 1, "mean": 3},
            ["sizes.mean", "allowed", "median", "sigma"],
        ),
        ({"distribution": "uniform", "min": 1}, ["sizes.max", "missing", "min, max"]),
        ({"median": 1000, "sigma": 1}, ["sizes.distribution", "missing", "pareto"]),
        ({"distribution": "fixed", "size": "64KiB"}, ["sizes.size", "'64KiB'", "parse_size"]),
        ({"distribution": "fixed", "size": 0}, ["sizes.size", "0", ">= 1"]),
        ({"distribution": "fixed", "size": True}, ["sizes.size", "True", "number"]),
        ({"distribution": "fixed", "size": float("nan")}, ["sizes.size", "nan", "finite"]),
        ({"distribution": "fixed", "size": 49 * 1024**4}, ["sizes.size", "48.8 TiB"]),
        ({"distribution": "uniform", "min": 10, "max": 5}, ["sizes.max", "5", "sizes.min"]),
        ({"distribution": "pareto", "alpha": 0, "min": 10}, ["sizes.alpha", "0", "> 0"]),
        (
            {"distribution": "pareto", "alpha": 1, "min": 10, "max": 2},
            ["sizes.max", ">= sizes.min"],
        ),
        ({"distribution": "mixture", "components": []}, ["sizes.components", "non-empty"]),
        (
            {
                "distribution": "mixture",
                "components": [
                    {"weight": 1, "distribution": "fixed", "size": 1},
                    {"weight": 1, "distribution": "lognormal", "median": 5, "sigma": -2},
                ],
            },
            ["sizes.components[1].sigma", "-2"],
        ),
        (
            {"distribution": "mixture", "components": [{"distribution": "fixed", "size": 1}]},
            ["sizes.components[0].weight", "missing"],
        ),
        (
            {
                "distribution": "mixture",
                "components": [{"weight": -1, "distribution": "fixed", "size": 1}],
            },
            ["sizes.components[0].weight", "-1", "> 0"],
        ),
    ],
)
def test_bad_specs_are_rejected_with_a_message_naming_the_key(spec, fragments):
    with pytest.raises(ValueError) as error:
        check_size_spec(spec)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_sample_sizes_checks_the_spec_and_the_count():
    with pytest.raises(ValueError, match="sizes.sigma"):
        sample_sizes({"distribution": "lognormal", "median": 1, "sigma": -1}, 10, None)
    with pytest.raises(ValueError, match="count"):
        sample_sizes(VALID_SPECS[0], -1, np.random.default_rng(0))


def test_the_prefix_names_nested_tables():
    with pytest.raises(ValueError, match=r"^scenario\.sizes\.sigma"):
        check_size_spec(
            {"distribution": "lognormal", "median": 1, "sigma": -1}, name="scenario.sizes"
        )


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


@SEEDED
@given(
    distribution=st.sampled_from([*SIZE_DISTRIBUTIONS, "bogus"]),
    parameters=st.dictionaries(
        st.sampled_from(["size", "min", "max", "median", "sigma", "alpha", "components", "x"]),
        _ANY_VALUE,
        max_size=4,
    ),
)
def test_any_spec_is_either_rejected_cleanly_or_sampled(distribution, parameters):
    spec = {"distribution": distribution, **parameters}
    try:
        check_size_spec(spec)
    except ValueError as error:
        assert str(error).startswith("sizes")
        return
    sizes = sample_sizes(spec, 50, np.random.default_rng(0))
    assert sizes.min() >= 1
    assert sizes.max() <= MAX_OBJECT_SIZE


def test_pareto_median_matches_its_formula():
    # The sweep relies on median = min * 2**(1/alpha) to compare families at one median.
    alpha, minimum = 1.3, 50_000
    spec = {"distribution": "pareto", "alpha": alpha, "min": minimum}
    sizes = sample_sizes(spec, 100_000, np.random.default_rng(6))
    assert np.median(sizes) == pytest.approx(minimum * 2 ** (1 / alpha), rel=0.02)
    assert math.isfinite(float(sizes.mean()))
