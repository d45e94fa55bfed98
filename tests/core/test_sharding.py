"""Sharding strategies against slow, obvious pure-Python references."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.core import sharding
from bench.core.sizes import sample_sizes

SEEDED = settings(derandomize=True, deadline=None, max_examples=200)

# Small inputs drawn from very few values (ties everywhere), from a realistic byte range and
# from sizes large enough that loads overflow a naive int32.
SIZE_LISTS = st.one_of(
    st.lists(st.integers(min_value=0, max_value=3), max_size=80),
    st.lists(st.integers(min_value=1, max_value=10**6), max_size=80),
    st.lists(st.integers(min_value=0, max_value=2**40), max_size=40),
)
HOSTS = st.integers(min_value=1, max_value=80)


def lpt_reference(sizes: list[int], hosts: int) -> list[int]:
    """Largest first (equal sizes in key order) onto the least-loaded, lowest-index host."""
    heap = [(0, host) for host in range(hosts)]
    host_of_object = [0] * len(sizes)
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        load, host = heapq.heappop(heap)
        host_of_object[index] = host
        heapq.heappush(heap, (load + sizes[index], host))
    return host_of_object


def uniform_reference(sizes: list[int], hosts: int) -> list[tuple[int, int, int, int]]:
    """(host, object, offset, length) by walking every object for every host's byte range."""
    total = sum(sizes)
    pieces = []
    for host in range(hosts):
        low, high = host * total // hosts, (host + 1) * total // hosts
        start = 0
        for index, size in enumerate(sizes):
            end = start + size
            first, last = max(low, start), min(high, end)
            if first < last:
                pieces.append((host, index, first - start, last - first))
            start = end
    return pieces


def pieces_of(shards: sharding.UniformShards) -> list[tuple[int, int, int, int]]:
    return list(
        zip(
            shards.host.tolist(),
            shards.object_index.tolist(),
            shards.offset.tolist(),
            shards.length.tolist(),
            strict=True,
        )
    )


@SEEDED
@given(sizes=SIZE_LISTS, hosts=HOSTS)
def test_bytes_balanced_is_exactly_heap_lpt(sizes, hosts):
    host_of_object = sharding.bytes_balanced(np.array(sizes, dtype=np.int64), hosts)
    assert host_of_object.dtype == np.int32
    assert host_of_object.tolist() == lpt_reference(sizes, hosts)


@pytest.mark.parametrize(
    ("spec", "count", "hosts"),
    [
        ({"distribution": "lognormal", "median": 1 << 20, "sigma": 1.0}, 60_000, 1024),
        ({"distribution": "lognormal", "median": 1 << 20, "sigma": 2.5}, 30_000, 64),
        ({"distribution": "lognormal", "median": 1 << 20, "sigma": 0.3}, 30_000, 2),
        ({"distribution": "pareto", "alpha": 1.1, "min": 4096}, 30_000, 300),
        ({"distribution": "uniform", "min": 1, "max": 3}, 30_000, 1000),
        ({"distribution": "log2-uniform", "min": 1, "max": 1 << 30}, 30_000, 17),
        ({"distribution": "fixed", "size": 4096}, 10_000, 999),
    ],
    ids=["lognormal-1024", "lognormal-64", "lognormal-2", "pareto", "ties", "log2", "fixed"],
)
def test_bytes_balanced_matches_heap_lpt_at_scale(spec, count, hosts):
    # Large enough for the multi-round and block steps to carry most of the work.
    sizes = sample_sizes(spec, count, np.random.default_rng(count + hosts))
    sizes[::97] = 0  # zero-byte objects take their own path
    assert sharding.bytes_balanced(sizes, hosts).tolist() == lpt_reference(sizes.tolist(), hosts)


@SEEDED
@given(sizes=SIZE_LISTS, hosts=HOSTS)
def test_loads_shortcuts_equal_accounting_of_the_assignment(sizes, hosts):
    array = np.array(sizes, dtype=np.int64)
    assignments = {
        "sharded-by-s3-key": sharding.sharded_by_s3_key(len(sizes), hosts),
        "sharded-by-s3-key-contiguous": sharding.sharded_by_s3_key(len(sizes), hosts, "contiguous"),
        "bytes-balanced": sharding.bytes_balanced(array, hosts),
    }
    for strategy, host_of_object in assignments.items():
        bytes_per_host, objects_per_host = sharding.loads(strategy, array, hosts)
        np.testing.assert_array_equal(
            bytes_per_host, sharding.bytes_per_host(array, host_of_object, hosts)
        )
        np.testing.assert_array_equal(
            objects_per_host, sharding.objects_per_host(host_of_object, hosts)
        )
    shards = sharding.uniform(array, hosts)
    bytes_per_host, pieces_per_host = sharding.loads("uniform", array, hosts)
    expected_bytes = [0] * hosts
    for host, length in zip(shards.host.tolist(), shards.length.tolist(), strict=True):
        expected_bytes[host] += length
    assert bytes_per_host.tolist() == expected_bytes
    np.testing.assert_array_equal(pieces_per_host, np.bincount(shards.host, minlength=hosts))


@pytest.mark.parametrize("largest", [2**20, 2**40], ids=["32-bit", "64-bit"])
def test_bytes_balanced_loads_at_scale_equal_the_assignment(largest):
    rng = np.random.default_rng(largest)
    sizes = rng.integers(0, largest, size=50_000)
    for hosts in (3, 1024):
        bytes_per_host, objects_per_host = sharding.loads("bytes-balanced", sizes, hosts)
        host_of_object = sharding.bytes_balanced(sizes, hosts)
        np.testing.assert_array_equal(
            bytes_per_host, sharding.bytes_per_host(sizes, host_of_object, hosts)
        )
        np.testing.assert_array_equal(
            objects_per_host, sharding.objects_per_host(host_of_object, hosts)
        )


def test_bytes_balanced_handles_sizes_too_large_for_composite_keys():
    sizes = [2**61, 2**60, 3, 2**61, 7, 0]
    host_of_object = sharding.bytes_balanced(np.array(sizes, dtype=np.int64), 3)
    assert host_of_object.tolist() == lpt_reference(sizes, 3)


@SEEDED
@given(sizes=SIZE_LISTS, hosts=HOSTS)
def test_bytes_balanced_keeps_lpt_bound(sizes, hosts):
    # Graham: LPT's largest load is at most mean + largest object.
    array = np.array(sizes, dtype=np.int64)
    loads = sharding.bytes_per_host(array, sharding.bytes_balanced(array, hosts), hosts)
    largest = max(sizes, default=0)
    assert loads.max(initial=0) <= sum(sizes) / hosts + largest


@SEEDED
@given(n_objects=st.integers(min_value=0, max_value=500), hosts=HOSTS)
def test_sharded_by_s3_key_rules_and_counts_within_one(n_objects, hosts):
    round_robin = sharding.sharded_by_s3_key(n_objects, hosts)
    contiguous = sharding.sharded_by_s3_key(n_objects, hosts, "contiguous")
    assert round_robin.dtype == np.int32
    assert contiguous.dtype == np.int32
    assert round_robin.tolist() == [index % hosts for index in range(n_objects)]
    expected_contiguous = [
        host
        for host, chunk in enumerate(np.array_split(np.arange(n_objects), hosts))
        for _ in chunk
    ]
    assert contiguous.tolist() == expected_contiguous
    for host_of_object in (round_robin, contiguous):
        counts = sharding.objects_per_host(host_of_object, hosts)
        assert counts.sum() == n_objects
        assert counts.max() - counts.min() <= 1
    assert np.all(np.diff(contiguous) >= 0)


@SEEDED
@given(sizes=SIZE_LISTS, hosts=HOSTS)
def test_uniform_pieces_equal_the_reference(sizes, hosts):
    shards = sharding.uniform(np.array(sizes, dtype=np.int64), hosts)
    assert pieces_of(shards) == uniform_reference(sizes, hosts)
    assert shards.host.dtype == np.int32
    assert len(shards) == shards.host.size


@SEEDED
@given(sizes=SIZE_LISTS, hosts=HOSTS)
def test_uniform_assigns_every_byte_once_in_contiguous_pieces(sizes, hosts):
    array = np.array(sizes, dtype=np.int64)
    shards = sharding.uniform(array, hosts)
    assert np.all(shards.length > 0)
    # Per object, pieces tile [0, size) in order.
    covered = np.zeros(len(sizes), dtype=np.int64)
    for index, offset, length in zip(
        shards.object_index.tolist(), shards.offset.tolist(), shards.length.tolist(), strict=True
    ):
        assert offset == covered[index]
        covered[index] += length
    np.testing.assert_array_equal(covered, array)
    # Per host, pieces are one run of the global byte stream.
    global_start = np.concatenate(([0], np.cumsum(array)))[shards.object_index] + shards.offset
    if len(shards) > 1:
        np.testing.assert_array_equal(global_start[1:], (global_start + shards.length)[:-1])
        assert np.all(np.diff(shards.host) >= 0)


@pytest.mark.parametrize("hosts", [3, 1024])
def test_uniform_over_many_chunks_matches_a_cut_point_reference(hosts, monkeypatch):
    # Large datasets are scanned in chunks: make chunks small so that boundaries fall in
    # many of them, and mix in zero-byte objects.
    monkeypatch.setattr(sharding, "_CHUNK", 1000)
    sizes = np.random.default_rng(hosts).integers(0, 5000, size=30_000)
    shards = sharding.uniform(sizes, hosts)
    ends = np.cumsum(sizes)
    total = int(ends[-1])
    starts = ends - sizes
    boundaries = np.array([host * total // hosts for host in range(hosts + 1)])
    cut_points = np.union1d(starts[sizes > 0], boundaries[:-1])
    object_index = np.searchsorted(ends, cut_points, side="right")
    np.testing.assert_array_equal(shards.object_index, object_index)
    np.testing.assert_array_equal(shards.offset, cut_points - starts[object_index])
    np.testing.assert_array_equal(shards.length, np.diff(np.append(cut_points, total)))
    np.testing.assert_array_equal(
        shards.host, np.searchsorted(boundaries, cut_points, side="right") - 1
    )
    bytes_per_host, pieces_per_host = sharding.loads("uniform", sizes, hosts)
    np.testing.assert_array_equal(bytes_per_host, np.diff(boundaries))
    np.testing.assert_array_equal(pieces_per_host, np.bincount(shards.host, minlength=hosts))


@SEEDED
@given(sizes=SIZE_LISTS, hosts=HOSTS)
def test_uniform_is_within_one_byte_of_the_mean(sizes, hosts):
    array = np.array(sizes, dtype=np.int64)
    bytes_per_host, pieces_per_host = sharding.loads("uniform", array, hosts)
    assert bytes_per_host.sum() == sum(sizes)
    mean_bytes = sum(sizes) / hosts
    assert bytes_per_host.max() - bytes_per_host.min() <= 1
    if mean_bytes:
        assert bytes_per_host.max() / mean_bytes <= 1 + 1 / mean_bytes
    shards = sharding.uniform(array, hosts)
    np.testing.assert_array_equal(
        bytes_per_host, np.bincount(shards.host, weights=shards.length, minlength=hosts)
    )
    assert pieces_per_host.sum() == len(shards)


@SEEDED
@given(
    host_count=HOSTS,
    data=st.data(),
)
def test_per_host_sums_counts_and_indices_match_python(host_count, data):
    sizes = data.draw(SIZE_LISTS)
    host_of_object = data.draw(
        st.lists(
            st.integers(min_value=0, max_value=host_count - 1),
            min_size=len(sizes),
            max_size=len(sizes),
        )
    )
    array = np.array(sizes, dtype=np.int64)
    hosts_array = np.array(host_of_object, dtype=np.int32)
    expected_bytes = [0] * host_count
    expected_objects = [0] * host_count
    expected_indices: list[list[int]] = [[] for _ in range(host_count)]
    for index, (size, host) in enumerate(zip(sizes, host_of_object, strict=True)):
        expected_bytes[host] += size
        expected_objects[host] += 1
        expected_indices[host].append(index)
    assert sharding.bytes_per_host(array, hosts_array, host_count).tolist() == expected_bytes
    assert sharding.objects_per_host(hosts_array, host_count).tolist() == expected_objects
    indices = sharding.host_object_indices(hosts_array, host_count)
    assert [part.tolist() for part in indices] == expected_indices


def test_bytes_per_host_is_exact_beyond_float_precision():
    sizes = np.array([2**60 + 1, 2**60 + 3, 5], dtype=np.int64)
    loads = sharding.bytes_per_host(sizes, np.array([0, 0, 1]), 2)
    assert loads.tolist() == [2**61 + 4, 5]


@SEEDED
@given(sizes=SIZE_LISTS, hosts=HOSTS)
def test_loads_of_every_strategy_account_for_all_bytes(sizes, hosts):
    array = np.array(sizes, dtype=np.int64)
    total = sum(sizes)
    for strategy in sharding.STRATEGIES:
        bytes_per_host, objects_per_host = sharding.loads(strategy, array, hosts)
        assert bytes_per_host.shape == (hosts,)
        assert objects_per_host.shape == (hosts,)
        assert bytes_per_host.dtype == np.int64
        if strategy == "fully-replicated":
            assert bytes_per_host.tolist() == [total] * hosts
            assert objects_per_host.tolist() == [len(sizes)] * hosts
        else:
            assert bytes_per_host.sum() == total
        if strategy in ("sharded-by-s3-key", "sharded-by-s3-key-contiguous", "bytes-balanced"):
            assert objects_per_host.sum() == len(sizes)


def test_sharded_by_s3_key_on_skewed_sizes_is_no_better_than_balanced():
    sizes = sample_sizes(
        {"distribution": "lognormal", "median": 1 << 20, "sigma": 2.0},
        20_000,
        np.random.default_rng(0),
    )
    sharded, _ = sharding.loads("sharded-by-s3-key", sizes, 64)
    balanced, _ = sharding.loads("bytes-balanced", sizes, 64)
    assert sharded.max() > balanced.max()


def test_more_hosts_than_objects_leaves_empty_hosts():
    sizes = np.array([10, 20, 30], dtype=np.int64)
    for strategy in ("sharded-by-s3-key", "sharded-by-s3-key-contiguous", "bytes-balanced"):
        _, objects_per_host = sharding.loads(strategy, sizes, 8)
        assert np.count_nonzero(objects_per_host == 0) == 5


def test_the_assumption_is_stated_for_reports():
    text = sharding.SHARDED_BY_S3_KEY_ASSUMPTION
    assert "round-robin" in text
    assert "contiguous" in text
    assert "not" in text and "document" in text


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: sharding.sharded_by_s3_key(10, 0), "hosts = 0"),
        (lambda: sharding.sharded_by_s3_key(10, 2, "random"), "variant = 'random'"),
        (lambda: sharding.sharded_by_s3_key(-1, 2), "n_objects"),
        (lambda: sharding.bytes_balanced(np.array([1, -2]), 2), ">= 0"),
        (lambda: sharding.bytes_balanced(np.array([[1, 2]]), 2), "1-D"),
        (lambda: sharding.uniform(np.array([1.5, 2.0]), 2), "whole numbers"),
        (lambda: sharding.bytes_per_host(np.array([1, 2]), np.array([0, 2]), 2), "[0, 2)"),
        (lambda: sharding.bytes_per_host(np.array([1, 2]), np.array([0]), 2), "1 entries"),
        (lambda: sharding.loads("round-robin", np.array([1]), 2), "fully-replicated"),
    ],
)
def test_bad_arguments_are_named(call, fragment):
    with pytest.raises(ValueError) as error:
        call()
    assert fragment in str(error.value)


def test_whole_float_sizes_are_accepted():
    sizes = np.array([3.0, 1.0, 2.0])
    assert sharding.bytes_balanced(sizes, 2).tolist() == lpt_reference([3, 1, 2], 2)
