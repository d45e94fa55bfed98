"""[[channels]]: a job of 1 to 20 input channels, each with its data, distribution, input mode
and role; bad tables are one line naming the channel and the key."""

from __future__ import annotations

import pytest

from bench.config.scenario import MAX_CHANNELS, build_scenario
from bench.errors import ScenarioError


def _channel(name, **keys):
    table = {"name": name, "objects": 10, "sizes": {"distribution": "fixed", "size": "4KiB"}}
    table.update(keys)
    return table


def _build(tmp_path, channels, **sections):
    raw = {"channels": channels, "cluster": {"hosts": 2}, **sections}
    return build_scenario(raw, path=tmp_path / "job.toml")


def test_channels_take_their_own_data_mode_and_distribution(tmp_path):
    scenario = _build(
        tmp_path,
        [
            _channel("validation", role="validation", input_mode="fastfile"),
            _channel("train", objects=30, distribution="ShardedByS3Key"),
        ],
        distribution={"type": "FullyReplicated"},
    )
    # The training channel leads, whatever order the file gives.
    assert [c.name for c in scenario.channels] == ["train", "validation"]
    train, validation = scenario.channels
    assert scenario.several_channels and scenario.dataset is train.dataset
    assert train.distribution.type == "ShardedByS3Key"
    assert validation.distribution.type == "FullyReplicated"  # the [distribution] default
    assert train.dataset.prefix == "job/train/" and validation.dataset.prefix == "job/validation/"
    assert (train.mode_in("pipe"), validation.mode_in("pipe")) == ("pipe", "fastfile")
    alone = scenario.channel_scenario(validation, "file")
    assert alone.modes == ("fastfile",) and alone.dataset.objects == 10
    assert not alone.several_channels


def test_the_first_channel_trains_unless_roles_say_otherwise(tmp_path):
    scenario = _build(tmp_path, [_channel("a"), _channel("b"), _channel("c")])
    assert [c.role for c in scenario.channels] == ["train", "validation", "validation"]


def test_a_scenario_without_channels_has_its_dataset_as_its_one_channel(tmp_path):
    raw = {"dataset": {"objects": 5, "sizes": {"distribution": "fixed", "size": "1KiB"}}}
    scenario = build_scenario(raw, path=tmp_path / "one.toml")
    assert len(scenario.channels) == 1 and not scenario.several_channels
    assert scenario.channels[0].name == "train" and scenario.channels[0].dataset is scenario.dataset


@pytest.mark.parametrize(
    ("channels", "extra", "message"),
    [
        ([_channel("a", role="train"), _channel("b", role="train")], {}, r"2 channels have role"),
        ([_channel("a"), _channel("a")], {}, r"two channels are named 'a'"),
        ([_channel("a"), _channel("b", colour=1)], {}, r"unknown key channels\[1\]\.colour"),
        ([_channel("a"), _channel("b", input_mode="tape")], {}, r"channels\[1\]\.input_mode"),
        ([_channel("a", objects=0)], {}, r"channels\[0\]\.objects"),
        ([{"objects": 3}], {}, r"channels\[0\]\.name is required"),
        ([_channel("a/b")], {}, r"channels\[0\]\.name"),
        (
            [_channel("a", prefix="data/"), _channel("b", prefix="data/b/")],
            {},
            r"channel b's prefix .* is inside channel a's",
        ),
        ([_channel(f"c{i}") for i in range(MAX_CHANNELS + 1)], {}, r"1 to 20 channels"),
        ([], {}, r"1 to 20 channels"),
        ([_channel("a")], {"dataset": {"objects": 3}}, r"\[dataset\] and \[\[channels\]\]"),
        ("train", {}, r"must be \[\[channels\]\] tables"),
    ],
)
def test_bad_channels_are_one_line(tmp_path, channels, extra, message):
    with pytest.raises(ScenarioError, match=message) as caught:
        _build(tmp_path, channels, **extra)
    assert "\n" not in str(caught.value)
