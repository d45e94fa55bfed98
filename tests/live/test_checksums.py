"""Which check verified each object, as summary.json counts it: the full-object checksum the
object was stored with where it has one, MD5 against a single-part ETag where it has none, and
nothing when ``storage.verify_etag`` is off or the ETag is a multipart one.

Runs go against the real embedded server; populate writes CRC64NVME checksums unless told not to.
"""

from __future__ import annotations

import json

import pytest

from bench.run.dataset import build_dataset, populate_dataset
from bench.s3 import populate
from bench.s3.client import sync_client
from tests.support import make_scenario, quiet_run

ALL_MODES = ["file", "pipe", "fastfile"]


def _counts(**by_check: int) -> dict[str, int]:
    return {"crc64nvme": 0, "crc32c": 0, "md5": 0, "none": 0} | by_check


def _summary_checks(result) -> dict[str, dict[str, int]]:
    summary = json.loads((result.run_dir / "summary.json").read_text())
    return summary["integrity_checks"]


def _populate_without_checksums(scenario, endpoint) -> None:
    """The scenario's objects as older objects, or other tools', are: an ETag and no checksum."""
    dataset = build_dataset(scenario.dataset)
    populate_dataset(endpoint, dataset, progress=False, checksum=None)


def test_summary_counts_the_check_of_every_get(tmp_path, embedded, unique_prefix):
    objects = 12
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        dataset={"objects": objects},
        cluster={"hosts": 2},
        modes={"run": ALL_MODES},
        training={"verify": True},
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    checks = _summary_checks(result)
    # File and Pipe read whole objects, asking for their checksum.
    assert checks["file"] == _counts(crc64nvme=objects)
    assert checks["pipe"] == _counts(crc64nvme=objects)
    # FastFile reads ranges (ranged answers carry no checksum); objects under a part are read
    # in one range from their start, which is the whole object, checked against its ETag.
    assert checks["fastfile"] == _counts(md5=objects)
    gets = result.events[result.events["op"] == "GET"]
    assert gets.groupby("mode")["check"].agg(set).to_dict() == {
        "file": {"crc64nvme"},
        "pipe": {"crc64nvme"},
        "fastfile": {"md5"},
    }
    assert set(result.events[result.events["op"] == "LIST"]["check"]) == {""}


def test_objects_without_a_checksum_fall_back_to_md5(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(tmp_path, embedded.url, unique_prefix, modes={"run": ["file", "pipe"]})
    _populate_without_checksums(scenario, embedded)  # the run finds them there and keeps them
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    objects = scenario.dataset.objects
    assert _summary_checks(result) == {
        "file": _counts(md5=objects),
        "pipe": _counts(md5=objects),
    }


def test_verify_etag_off_checks_nothing(tmp_path, embedded, unique_prefix):
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        modes={"run": ALL_MODES},
        storage={"verify_etag": False},
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    objects = scenario.dataset.objects
    assert _summary_checks(result) == {mode: _counts(none=objects) for mode in ALL_MODES}


@pytest.mark.parametrize(("checksum", "expected"), [("CRC64NVME", "crc64nvme"), (None, "none")])
def test_multipart_objects_are_checked_by_a_full_object_checksum_only(
    tmp_path, embedded, unique_prefix, monkeypatch, checksum, expected
):
    # Small parts, so a multipart object stays small: 5 MiB is S3's smallest part.
    monkeypatch.setattr(populate, "MULTIPART_THRESHOLD", 6 * 1024 * 1024)
    monkeypatch.setattr(populate, "PART_BYTES", 5 * 1024 * 1024)
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        dataset={"objects": 1, "sizes": {"distribution": "fixed", "size": "11MiB"}},
        cluster={"hosts": 1},
    )
    if checksum is None:
        _populate_without_checksums(scenario, embedded)
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.summary["error"]
    (key,) = result.events[result.events["op"] == "GET"]["key"]
    head = sync_client(embedded).head_object(Bucket="stagebench-tests", Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # an MD5 of MD5s: no use to a reader
    # A FULL_OBJECT CRC64NVME covers the object's bytes whatever the parts; without it, the
    # multipart ETag cannot be checked and the object is read unchecked, as before.
    assert _summary_checks(result) == {"file": _counts(**{expected: 1})}
