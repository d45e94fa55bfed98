"""The skew subcommand's library: tables, sweeps and the files the plots write."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis import skew
from bench.core import metrics, sharding
from bench.core.sizes import sample_sizes
from bench.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def skewed_sizes() -> np.ndarray:
    spec = {"distribution": "lognormal", "median": 1 << 20, "sigma": 2.0}
    return sample_sizes(spec, 5000, np.random.default_rng(21))


def assert_images(paths):
    assert [path.suffix for path in paths] == [".png", ".svg"]
    png, svg = paths
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 1000
    text = svg.read_text()
    assert "<svg" in text
    assert text.rstrip().endswith("</svg>")


def test_skew_table_has_one_sensible_row_per_strategy(skewed_sizes):
    hosts = 32
    table = skew.skew_table(skewed_sizes, hosts, throughput_bps=2e8, hourly_price=1.5)
    assert table["strategy"].tolist() == list(sharding.STRATEGIES)
    rows = table.set_index("strategy")
    assert (rows["hosts"] == hosts).all()
    assert (rows["objects"] == skewed_sizes.size).all()
    assert (rows["total_bytes"] == skewed_sizes.sum()).all()
    assert rows["gini_sizes"].iloc[0] == pytest.approx(metrics.gini(skewed_sizes))

    mean_bytes = skewed_sizes.sum() / hosts
    assert rows.loc["uniform", "imbalance_ratio"] <= 1 + 1 / mean_bytes
    assert rows.loc["fully-replicated", "imbalance_ratio"] == 1.0
    assert rows.loc["fully-replicated", "idle_cost"] == 0.0
    sharded = rows.loc["sharded-by-s3-key"]
    balanced = rows.loc["bytes-balanced"]
    assert sharded["imbalance_ratio"] > balanced["imbalance_ratio"] >= 1.0
    assert sharded["straggler_delay_s"] > balanced["straggler_delay_s"]
    assert sharded["idle_cost"] > 0
    assert rows.loc["uniform", "max_objects_per_host"] >= skewed_sizes.size // hosts


def test_skew_table_counts_empty_hosts_when_hosts_outnumber_objects():
    sizes = np.array([5, 50, 500], dtype=np.int64)
    table = skew.skew_table(sizes, 5, throughput_bps=1e6, hourly_price=1.0).set_index("strategy")
    assert table.loc["sharded-by-s3-key", "empty_hosts"] == 2
    assert table.loc["fully-replicated", "empty_hosts"] == 0


@pytest.mark.parametrize("hosts", [8, 100], ids=["bars", "sorted-steps"])
def test_plot_bytes_per_host_writes_png_and_svg(tmp_path, skewed_sizes, hosts):
    paths = plots.bytes_per_host(skewed_sizes, hosts, tmp_path / "bytes.per.host")
    assert [path.name for path in paths] == ["bytes.per.host.png", "bytes.per.host.svg"]
    assert_images(paths)


def test_skew_sweep_shape_and_trend():
    hosts_list = (2, 16, 128)
    sigmas = (0.0, 1.0, 2.5)
    table = skew.skew_sweep(n_objects=4000, hosts_list=hosts_list, sigmas=sigmas, rng=5)
    assert len(table) == len(hosts_list) * len(sigmas) * len(skew.SWEEP_STRATEGIES)
    assert set(table["strategy"]) == set(skew.SWEEP_STRATEGIES)
    assert (table["parameter"] == "sigma").all()
    assert (table["imbalance_ratio"] >= 1.0).all()

    def ratio(sigma, hosts, strategy):
        row = table[
            (table["skew"] == sigma) & (table["hosts"] == hosts) & (table["strategy"] == strategy)
        ]
        return float(row["imbalance_ratio"].iloc[0])

    assert ratio(2.5, 128, "sharded-by-s3-key") > ratio(0.0, 128, "sharded-by-s3-key")
    assert ratio(2.5, 128, "sharded-by-s3-key") > ratio(2.5, 2, "sharded-by-s3-key")
    for sigma in sigmas:
        for hosts in hosts_list:
            assert ratio(sigma, hosts, "uniform") == pytest.approx(1.0, abs=1e-6)
            assert ratio(sigma, hosts, "bytes-balanced") <= ratio(sigma, hosts, "sharded-by-s3-key")
    gini_by_sigma = table.groupby("skew")["gini"].first()
    assert gini_by_sigma.is_monotonic_increasing
    assert gini_by_sigma.iloc[0] == pytest.approx(0.0, abs=1e-9)


def test_skew_sweep_is_reproducible_and_seed_dependent():
    arguments = {"n_objects": 2000, "hosts_list": (4, 64), "sigmas": (1.5,)}
    first = skew.skew_sweep(**arguments, rng=np.random.default_rng(1))
    again = skew.skew_sweep(**arguments, rng=np.random.default_rng(1))
    other = skew.skew_sweep(**arguments, rng=np.random.default_rng(2))
    assert first.equals(again)
    assert not first["imbalance_ratio"].equals(other["imbalance_ratio"])


def test_pareto_sweep_and_plots(tmp_path):
    table = skew.skew_sweep(
        n_objects=3000, hosts_list=(4, 256), alphas=(3.0, 1.2), family="pareto", rng=3
    )
    assert (table["parameter"] == "alpha").all()
    heavy = table[(table["skew"] == 1.2) & (table["strategy"] == "sharded-by-s3-key")]
    light = table[(table["skew"] == 3.0) & (table["strategy"] == "sharded-by-s3-key")]
    assert heavy["imbalance_ratio"].max() > light["imbalance_ratio"].max()
    assert_images(plots.imbalance_vs_skew(table, tmp_path / "pareto"))


def test_plot_sweep_writes_png_and_svg(tmp_path):
    table = skew.skew_sweep(n_objects=2000, hosts_list=(2, 32), sigmas=(0.0, 2.0), rng=0)
    assert_images(plots.imbalance_vs_skew(table, tmp_path / "sweep"))


def test_plot_sweep_refuses_an_empty_table(tmp_path):
    table = skew.skew_sweep(n_objects=100, hosts_list=(2,), sigmas=(), rng=0)
    with pytest.raises(ValueError, match="empty"):
        plots.imbalance_vs_skew(table, tmp_path / "sweep")


def test_skew_sweep_rejects_an_unknown_family():
    with pytest.raises(ValueError, match="family = 'weibull'"):
        skew.skew_sweep(family="weibull")


def test_lognormal_sigma_recovers_the_sampled_skew():
    spec = {"distribution": "lognormal", "median": 1 << 16, "sigma": 1.5}
    sizes = sample_sizes(spec, 20_000, np.random.default_rng(4))
    assert abs(skew.lognormal_sigma(sizes) - 1.5) < 0.05
    assert np.isnan(skew.lognormal_sigma(np.array([5])))


def test_imbalance_ratio_is_max_over_mean():
    assert metrics.imbalance_ratio(np.array([1, 1, 4])) == 2.0
    assert metrics.imbalance_ratio(np.zeros(3)) == 1.0


def test_imbalance_vs_skew_marks_the_dataset(tmp_path):
    table = skew.skew_sweep(n_objects=500, hosts_list=(2, 8), sigmas=(0.0, 1.0, 2.0), rng=1)
    assert_images(plots.imbalance_vs_skew(table, tmp_path / "marked", dataset_sigma=1.2))
