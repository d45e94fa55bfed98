"""calibrate, validate and startup end to end against the session's embedded S3 server."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.analysis.calibrate import fit_list, fit_timer
from bench.analysis.startup import equal_sizes
from bench.analysis.validate import CSV_COLUMNS
from bench.cli import main
from bench.config.profile import load_profile

SCENARIO = """
[scenario]
name = "tiny"
[dataset]
objects = 30
bucket = "stagebench-tests"
prefix = "{prefix}"
seed = 3
[dataset.sizes]
distribution = "lognormal"
median = "32KiB"
sigma = 0.8
[cluster]
hosts = 2
concurrency = 4
[distribution]
type = "ShardedByS3Key"
[storage]
endpoint = "{url}"
volume_root = "{volumes}"
[training]
compute_rate = "20MB/s"
step_bytes = "256KiB"
[modes]
run = {modes}
"""


def _scenario(tmp_path, embedded, prefix, modes=("file", "pipe", "fastfile")):
    path = tmp_path / "tiny.toml"
    path.write_text(
        SCENARIO.format(
            prefix=prefix,
            url=embedded.url,
            volumes=tmp_path / "vol",
            modes="[" + ", ".join(f'"{m}"' for m in modes) + "]",
        )
    )
    return path


def test_calibrate_quick_writes_a_loadable_profile_and_never_overwrites(embedded, tmp_path, capsys):
    out = tmp_path / "measured.toml"
    argv = ["calibrate", "--quick", "--endpoint", embedded.url, "--out", str(out)]
    argv += ["--results", str(tmp_path / "results"), "--bucket", "stagebench-calibrate-test"]
    assert main(argv) == 0
    profile = load_profile(out)
    assert profile.name == "measured"
    assert 0 < profile.first_byte_p50_s <= profile.first_byte_p90_s <= profile.first_byte_p99_s
    assert profile.connection_bps > 0 and profile.endpoint_bps > 0
    assert profile.endpoint_get_per_s > 0
    assert profile.list_page_base_s >= 0 and profile.list_page_per_key_s >= 0
    assert profile.list_page_s(1000) > 0
    assert 1 <= profile.list_parallel <= 4
    measurements = pd.read_csv(next((tmp_path / "results").glob("calibrate-*/measurements.csv")))
    assert set(measurements["measure"]) >= {"first_byte_s", "get_per_s", "list_page_s"}
    assert set(measurements["measure"]) >= {"timer_asked_s", "timer_slept_s"}
    assert "list_page_10_keys_s" in set(measurements["measure"])
    assert 0 <= profile.list_key_s <= profile.list_page_s(1000) / 1000
    assert profile.timer_tick_s >= 0 and profile.timer_wake_s >= 0
    assert sorted(measurements.loc[measurements["measure"] == "get_per_s", "concurrency"]) == [
        1,
        4,
        16,
        64,
    ]
    before = out.read_text()
    capsys.readouterr()
    assert main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert "--out" in message and str(out) in message and "\n" not in message
    assert out.read_text() == before


def test_list_fit_recovers_a_line_and_refuses_a_negative_slope():
    keys = [1000, 5000, 20000]
    base, per_key = fit_list([(k, 0.2 + 3e-5 * k) for k in keys])
    assert base == pytest.approx(0.2) and per_key == pytest.approx(3e-5)
    base, per_key = fit_list([(1000, 0.5), (5000, 0.3)])
    assert per_key == 0.0 and base == pytest.approx(0.4)


def test_timer_fit_finds_a_millisecond_tick():
    """Sleeps that end at the next whole millisecond plus 0.1 ms are a 1 ms tick; sleeps that
    end 0.1 ms late whatever their length are an exact timer."""
    asked = np.linspace(0.001, 0.03, 97)
    ticked = [(a, math.ceil(a * 1e3) / 1e3 + 1e-4) for a in asked]
    tick, wake = fit_timer(ticked)
    assert tick == pytest.approx(1e-3) and wake == pytest.approx(1e-4)
    tick, wake = fit_timer([(a, a + 1e-4) for a in asked])
    assert tick == 0.0 and wake == pytest.approx(1e-4)


def test_validate_prints_and_writes_the_error_table(embedded, tmp_path, unique_prefix, capsys):
    path = _scenario(tmp_path, embedded, unique_prefix)
    argv = ["validate", str(path), "--storage-profile", "embedded", "--repeat", "2"]
    assert main([*argv, "--results", str(tmp_path / "results")]) == 0
    printed = capsys.readouterr().out
    assert "median |error|" in printed and "startup_s" in printed
    assert "medians of 2 runs" in printed
    assert len(list((tmp_path / "results").glob("tiny-*"))) == 2
    (csv,) = (tmp_path / "results").glob("tiny-*/validate.csv")
    table = pd.read_csv(csv)
    assert tuple(table.columns) == CSV_COLUMNS
    assert (table["live_min"] <= table["live"]).all() and (table["live"] <= table["live_max"]).all()
    assert set(table["mode"]) == {"file", "pipe", "fastfile"}
    assert set(table["scope"]) == {"job", "host median"}
    core = table[table["metric"].isin(["startup_s", "epoch_s"])]
    assert len(core) == 3 * 2 * 2
    values = core[["live", "model", "error", "model_profile"]].to_numpy(dtype=float)
    assert np.isfinite(values).all() and (core["live"] > 0).all()
    # A gross-breakage bound (a unit or a mode mixed up), not the accuracy goal, which
    # `validate` reports: live times of a tiny job swing several-fold with the machine's load
    # (FastFile's epoch measured 0.19 s against the model's 0.52 s on a loaded CI machine).
    # Pipe's first byte is excepted: tens of ms live, dominated by concurrent first requests
    # the model serves in order.
    checked = core[~((core["mode"] == "pipe") & (core["metric"] == "startup_s"))]
    assert (checked["error"].abs() < 5.0).all(), checked.to_string()


def test_validate_needs_a_profile_for_an_unknown_endpoint(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(
        '[dataset]\nobjects = 3\n[dataset.sizes]\ndistribution = "fixed"\nsize = 10\n'
        '[storage]\nendpoint = "http://127.0.0.1:9"\n'
    )
    assert main(["validate", str(path), "--results", str(tmp_path / "r")]) == 2
    message = capsys.readouterr().err.strip()
    assert "--storage-profile" in message and "\n" not in message


def test_startup_model_only_writes_plot_and_csv_and_grows_with_files(
    embedded, tmp_path, unique_prefix, capsys
):
    path = _scenario(tmp_path, embedded, unique_prefix)
    argv = ["startup", str(path), "--no-live", "--storage-profile", "embedded"]
    assert main([*argv, "--results", str(tmp_path / "results")]) == 0
    (run_dir,) = (tmp_path / "results").glob("tiny-startup-*")
    for name in ("startup.csv", "startup.png", "startup.svg"):
        assert (run_dir / name).stat().st_size > 0, name
    table = pd.read_csv(run_dir / "startup.csv")
    assert set(table["source"]) == {"model"}
    assert table["files"].min() == 10 and table["files"].max() == 10_000_000
    file_mode = table[table["mode"] == "file"].sort_values("files")
    # A fixed total: files shrink as they multiply (down to one byte each).
    assert (file_mode["file_bytes"].diff().dropna() <= 0).all()
    startup = file_mode["startup_s"].to_numpy()
    # More files of the same total cost more requests: non-decreasing, and far larger at 10^7.
    assert np.all(np.diff(startup) >= -1e-9 * startup[:-1])
    assert startup[-1] > 100 * startup[0]
    assert "file model" in capsys.readouterr().out


def test_startup_live_points_are_markers(embedded, tmp_path, unique_prefix):
    path = _scenario(tmp_path, embedded, unique_prefix, modes=("file",))
    argv = ["startup", str(path), "--max-files", "100", "--storage-profile", "embedded"]
    assert main([*argv, "--results", str(tmp_path / "results")]) == 0
    (run_dir,) = (tmp_path / "results").glob("tiny-startup-*")
    table = pd.read_csv(run_dir / "startup.csv")
    live = table[table["source"] == "live"].sort_values("files")
    assert live["files"].tolist() == [10, 100]
    assert (live["startup_s"] > 0).all()
    assert all(math.isfinite(v) for v in live["startup_s"])


def test_equal_sizes_keep_the_total_or_the_file_size():
    sizes = equal_sizes(7, total_bytes=100, file_bytes=None)
    assert sizes.sum() == 100 and sizes.max() - sizes.min() <= 1
    assert equal_sizes(10, total_bytes=3, file_bytes=None).min() == 1  # at least one byte each
    assert equal_sizes(4, total_bytes=None, file_bytes=500).tolist() == [500] * 4


TWO_CHANNELS = """
[scenario]
name = "tiny-two"
[[channels]]
name = "train"
objects = 30
bucket = "stagebench-tests"
prefix = "{prefix}train/"
seed = 3
sizes = {{ distribution = "lognormal", median = "32KiB", sigma = 0.8 }}
distribution = "ShardedByS3Key"
[[channels]]
name = "validation"
input_mode = "fastfile"
distribution = "FullyReplicated"
objects = 8
bucket = "stagebench-tests"
prefix = "{prefix}validation/"
seed = 4
sizes = {{ distribution = "fixed", size = "24KiB" }}
[cluster]
hosts = 2
concurrency = 4
[storage]
endpoint = "{url}"
volume_root = "{volumes}"
[training]
epochs = 2
compute_rate = "20MB/s"
step_bytes = "256KiB"
[modes]
run = ["file", "pipe"]
"""


def test_validate_compares_a_two_channel_job_as_a_job(embedded, tmp_path, unique_prefix, capsys):
    path = tmp_path / "tiny-two.toml"
    path.write_text(
        TWO_CHANNELS.format(prefix=unique_prefix, url=embedded.url, volumes=tmp_path / "vol")
    )
    argv = ["validate", str(path), "--storage-profile", "embedded", "--repeat", "1"]
    assert main([*argv, "--results", str(tmp_path / "results")]) == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "pinned before it (validation)" in printed and "median |error|" in printed
    (csv,) = (tmp_path / "results").glob("tiny-two-*/validate.csv")
    table = pd.read_csv(csv)
    assert set(table["mode"]) == {"file", "pipe"}
    job = table[table["scope"] == "job"].set_index(["mode", "metric"])
    # The job's end holds both channels' passes: well past the training channel's epochs alone.
    assert np.isfinite(job[["live", "model"]].to_numpy(dtype=float)).all()
    for mode in ("file", "pipe"):
        assert job.loc[(mode, "end_s"), "model"] > 2 * job.loc[(mode, "epoch_s"), "model"] * 0.9
        assert abs(job.loc[(mode, "end_s"), "error"]) < 5.0  # gross breakage, not accuracy
