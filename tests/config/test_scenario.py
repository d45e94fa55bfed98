from __future__ import annotations

import pytest

from bench.config.scenario import load_scenario
from bench.errors import ScenarioError
from tests.support import REPO, write_scenario

GOOD = """
[dataset]
objects = 10
prefix = "p/"
[dataset.sizes]
distribution = "lognormal"
median = "64KiB"
sigma = 1.0
[cluster]
hosts = 3
nic_bandwidth = "50MB/s"
first_byte_latency_ms = 5
[distribution]
type = "ShardedByS3Key"
[modes]
run = ["file"]
"""


def test_good_scenario_fills_defaults(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path, GOOD))
    assert scenario.name == "scenario"
    assert scenario.dataset.sizes == {"distribution": "lognormal", "median": 65536, "sigma": 1.0}
    assert scenario.cluster.hosts == 3
    assert scenario.cluster.concurrency == 8
    assert scenario.cluster.nic_bandwidth_bps == 50e6
    assert scenario.cluster.first_byte_latency_s == pytest.approx(0.005)
    assert scenario.storage.endpoint in ("embedded",) or scenario.storage.endpoint.startswith(
        "http"
    )
    assert scenario.modes == ("file",)
    assert scenario.training.readers == 4


def test_report_section_is_part_of_the_scenario(tmp_path):
    default = load_scenario(write_scenario(tmp_path, GOOD)).report
    assert (default.model_gb, default.headroom, default.given) == (1.0, 0.2, ())
    text = GOOD + '[report]\nscratch_gb = 50\nheadroom = 0.3\ncontainer_size = "256MiB"\n'
    report = load_scenario(write_scenario(tmp_path, text)).report
    assert (report.scratch_gb, report.headroom) == (50, 0.3)
    assert report.container_size == 256 * 1024**2
    assert report.given == ("scratch_gb", "headroom", "container_size")


def test_scenario_is_frozen(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path, GOOD))
    with pytest.raises(AttributeError):
        scenario.cluster.hosts = 5  # type: ignore[misc]


def test_shipped_scenarios_load():
    shipped = sorted((REPO / "scenarios").glob("*.toml"))
    assert shipped, "scenarios/ holds no scenario"
    for path in shipped:
        assert load_scenario(path).dataset.objects >= 1 or load_scenario(path).dataset.manifest


def test_manifest_dataset(tmp_path):
    (tmp_path / "m.csv").write_text("key,size\na,10\nb,20\n")
    text = '[dataset]\nmanifest = "m.csv"\nprefix = "x/"\n'
    scenario = load_scenario(write_scenario(tmp_path, text))
    assert scenario.dataset.source == "manifest"
    assert scenario.dataset.manifest == (tmp_path / "m.csv").resolve()


def test_s3_uri_dataset(tmp_path):
    text = '[dataset]\nuri = "s3://some-bucket/data/train/"\n'
    scenario = load_scenario(write_scenario(tmp_path, text))
    assert (scenario.dataset.bucket, scenario.dataset.prefix) == ("some-bucket", "data/train/")
    assert scenario.dataset.source == "s3"


def test_cli_overrides_win(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path, GOOD), overrides={"cluster.hosts": 7})
    assert scenario.cluster.hosts == 7


def test_hosts_more_than_objects_warns(tmp_path):
    text = GOOD.replace("hosts = 3", "hosts = 12")
    with pytest.warns(UserWarning, match="2 hosts get nothing"):
        load_scenario(write_scenario(tmp_path, text))


BAD = [
    # (replace this, with that, the error must contain all of these)
    ("hosts = 3", "hosts = 0", ["cluster.hosts", "0", ">= 1"]),
    ("hosts = 3", "hosts = -2", ["cluster.hosts", "-2"]),
    ("hosts = 3", 'hosts = "three"', ["cluster.hosts", "three", "whole number"]),
    ("hosts = 3", "hostz = 3", ["unknown key cluster.hostz", "allowed in [cluster]", "hosts"]),
    ("objects = 10", "objects = 0", ["dataset.objects", ">= 1"]),
    ('median = "64KiB"', 'median = "64 parsecs"', ["dataset.sizes.median", "parsecs"]),
    ("sigma = 1.0", "sigma = -1.0", ["sigma", "-1"]),
    ('distribution = "lognormal"', 'distribution = "zipfish"', ["zipfish", "lognormal"]),
    ('type = "ShardedByS3Key"', 'type = "Sharded"', ["distribution.type", "ShardedByS3Key"]),
    ('run = ["file"]', 'run = ["file", "tape"]', ["modes.run", "tape", "fastfile"]),
    ('nic_bandwidth = "50MB/s"', 'nic_bandwidth = "-5MB/s"', ["cluster.nic_bandwidth", "-5"]),
    ("[modes]", "[mode]", ["unknown section [mode]", "modes"]),
    ("[dataset]\nobjects", 'storage = "aws"\n[dataset]\nobjects', ["[storage]", "must be a table"]),
    ('prefix = "p/"', 'prefix = "p/"\nuri = "s3://b/x"', ["exactly one of"]),
    ("first_byte_latency_ms = 5", "first_byte_latency_ms = -1", ["first_byte_latency_ms"]),
    ("[modes]", "[report]\nheadroom = -0.1\n[modes]", ["report.headroom", ">= 0"]),
    ("[modes]", '[report]\ncontainer_size = "1KiB"\n[modes]', ["report.container_size"]),
    ("[modes]", "[training]\nreaders = 0\n[modes]", ["training.readers", ">= 1"]),
    ("[modes]", '[training]\nreaders = "many"\n[modes]', ["training.readers", "many"]),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_scenarios_give_one_line_naming_file_and_key(tmp_path, old, new, expected):
    assert old in GOOD
    path = write_scenario(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_malformed_toml(tmp_path):
    path = write_scenario(tmp_path, "[dataset\nobjects = 1")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_missing_manifest(tmp_path):
    path = write_scenario(tmp_path, '[dataset]\nmanifest = "absent.csv"\n')
    with pytest.raises(ScenarioError, match="dataset.manifest.*file not found"):
        load_scenario(path)


def test_bad_uri(tmp_path):
    path = write_scenario(tmp_path, '[dataset]\nuri = "http://x/y"\n')
    with pytest.raises(ScenarioError, match="s3://bucket/prefix"):
        load_scenario(path)
