"""Profile files: presets load, bad values are one-line errors naming file, key and fix."""

from __future__ import annotations

import pytest

from bench.config.profile import (
    gp2_throughput_bps,
    load_instances,
    load_profile,
    parse_profile,
    preset_names,
)
from bench.errors import StagebenchError

MINIMAL = """
[profile]
version = 1
[latency]
first_byte_p50_ms = 10
first_byte_p90_ms = 20
[bandwidth]
connection = 1e8
[list]
page_base_s = 0.1
"""


@pytest.mark.parametrize("name", ["aws-s3-standard", "aws-s3-express"])
def test_presets_load_and_resolve(name):
    assert name in preset_names()
    profile = load_profile(name)
    storage = profile.storage(keys_in_bucket=10_000, nic_bps=1.25e9)
    assert storage.latency_s >= profile.first_byte_p50_s
    assert storage.nic_bps == 1.25e9
    assert storage.requests_per_s == profile.get_per_s_per_prefix


def test_express_is_faster_than_standard():
    standard, express = load_profile("aws-s3-standard"), load_profile("aws-s3-express")
    assert express.mean_latency_s < standard.mean_latency_s


def test_instances_have_nics():
    instances = load_instances()
    assert instances["ml.p4d.24xlarge"].nic_bps > instances["ml.g5.xlarge"].nic_bps > 0


def test_gp2_rule_is_monotonic_between_its_corners():
    sizes = [10, 170, 200, 300, 334, 1000]
    rates = [gp2_throughput_bps(s) for s in sizes]
    assert rates == sorted(rates)
    assert rates[0] == rates[1] < rates[2] < rates[3] < rates[4] == rates[5]


def test_list_page_grows_with_the_bucket(tmp_path):
    text = MINIMAL.replace(
        "page_base_s = 0.1", "page_base_s = 0.1\npage_per_key_in_bucket_s = 1e-6"
    )
    profile = parse_profile(text, path=tmp_path / "p.toml")
    assert profile.list_page_s(100_000) > profile.list_page_s(1_000)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("connection = 1e8", "connection = -3"), "bandwidth.connection = -3"),
        (("connection = 1e8", "connection = 'fast'"), "must be a number"),
        (("[list]", "[list]\nspeed = 1"), "unknown key list.speed"),
        (("version = 1", "version = 9"), "profile.version = 9"),
        (("first_byte_p90_ms = 20", "first_byte_p90_ms = 5"), "must not decrease"),
        (("[list]", "[lists]"), "unknown section [lists]"),
    ],
)
def test_bad_values_name_the_key(tmp_path, edit, needle):
    path = tmp_path / "bad.toml"
    with pytest.raises(StagebenchError) as info:
        parse_profile(MINIMAL.replace(*edit), path=path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_unknown_preset_lists_the_presets():
    with pytest.raises(StagebenchError, match="aws-s3-standard"):
        load_profile("no-such-profile")
