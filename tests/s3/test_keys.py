"""Keys a bucket holds become local files only where that is safe (bench/s3/keys.py): the pure
rules, then hostile buckets read for real in every mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.errors import SafetyError, ScenarioError
from bench.s3.keys import (
    MAX_COMPONENT_BYTES,
    PROBLEMS,
    describe_unsafe,
    local_relative_path,
    screen_each_key,
    screen_keys,
)
from tests.support import make_scenario, quiet_run, stagebench, write_scenario

BUCKET = "stagebench-tests"


def _screen(relatives: list[str], sizes: list[int] | None = None, prefix: str = "p/"):
    keys = [prefix + r for r in relatives]
    return screen_keys(prefix, keys, sizes if sizes is not None else [1] * len(keys))


def _problems(screen) -> dict[str, str]:
    return {u.key: u.problem for u in screen.unsafe}


# --- the pure rules ------------------------------------------------------------------------


def test_safe_keys_are_files_at_their_relative_path():
    relatives = ["a.bin", "sub/b.bin", "sub/deeper/c.bin", "é" * 127, "x" * MAX_COMPONENT_BYTES]
    screen = _screen(relatives)
    assert screen.unsafe == [] and len(screen.folder_markers) == 0
    assert screen.files.tolist() == list(range(len(relatives)))
    for relative in relatives:
        assert local_relative_path("p/", "p/" + relative) == relative


@pytest.mark.parametrize(
    ("relative", "size", "problem"),
    [
        ("/tmp/x/abs.bin", 1, "absolute"),
        ("//abs.bin", 1, "absolute"),
        ("../../../../tmp/x/y", 1, "parent"),
        ("a/../../b", 1, "parent"),
        ("a/../b", 1, "parent"),  # stays inside, still refused: it names another key's path
        ("..", 1, "parent"),
        ("nul\0byte.bin", 1, "nul"),
        ("x" * (MAX_COMPONENT_BYTES + 1), 1, "too-long"),
        ("é" * 128, 1, "too-long"),  # 128 characters, 256 bytes of UTF-8
        ("ok/" + "y" * (MAX_COMPONENT_BYTES + 1) + "/z.bin", 1, "too-long"),
        ("folder-with-bytes/", 7, "not-a-file"),
        (".", 3, "not-a-file"),
    ],
)
def test_each_unsafe_key_is_named_with_its_problem(relative, size, problem):
    screen = _screen(["fine.bin", relative], [1, size])
    assert screen.files.tolist() == [0]
    assert _problems(screen) == {"p/" + relative: problem}
    with pytest.raises(ValueError, match="."):
        local_relative_path("p/", "p/" + relative)


def test_folder_markers_and_the_prefix_itself_are_not_files():
    screen = _screen(["", "sub/", "sub/x.bin", "sub/deeper/", "y.bin"], [0, 0, 5, 0, 5])
    assert screen.folder_markers.tolist() == [0, 1, 3]
    assert screen.files.tolist() == [2, 4]
    assert screen.unsafe == []
    # The key equal to the prefix is not a file whatever it holds.
    assert _screen([""], [9]).folder_markers.tolist() == [0]


def test_dot_and_empty_components_that_collide_keep_the_canonical_key():
    screen = _screen(["./a.bin", "a.bin", "b//c.bin", "b/c.bin", "b/./c.bin"])
    assert [screen_key for screen_key in _problems(screen)] == [
        "p/./a.bin",
        "p/b//c.bin",
        "p/b/./c.bin",
    ]
    assert set(_problems(screen).values()) == {"collision"}
    assert {u.other for u in screen.unsafe} == {"p/a.bin", "p/b/c.bin"}
    assert screen.files.tolist() == [1, 3]
    # Alone, a dot or a doubled slash is harmless: the key has one local path.
    alone = _screen(["./a.bin", "b//c.bin"])
    assert alone.unsafe == [] and local_relative_path("p/", "p/b//c.bin") == "b/c.bin"


def test_collisions_without_a_canonical_key_are_all_unsafe():
    screen = _screen(["./a.bin", "a/../a.bin", ".//a.bin"])
    assert set(_problems(screen).values()) <= {"collision", "parent"}
    assert screen.files.tolist() == []


def test_a_key_that_is_a_file_and_a_folder_is_unsafe_the_keys_beneath_it_stay():
    screen = _screen(["a", "a/b", "a/b/c.bin", "ab", "a.bin"])
    assert _problems(screen) == {"p/a": "file-and-folder", "p/a/b": "file-and-folder"}
    assert screen.unsafe[0].other == "p/a/b"
    assert screen.files.tolist() == [2, 3, 4]


def test_the_message_is_one_line_with_the_first_key_the_count_and_the_remedy():
    relatives = ["fine.bin", "../x", "line\nbreak/../y", "/abs"]
    screen = _screen(relatives)
    text = describe_unsafe(screen, bucket="b", total=len(relatives))
    assert "\n" not in text
    first = screen.unsafe[0]
    assert repr(first.key) in text and PROBLEMS[first.problem] in text
    assert f"{len(screen.unsafe)} of {len(relatives)} keys" in text
    assert 'dataset.unsafe_keys = "skip"' in text


_ALPHABET = st.sampled_from(["a", "b", ".", "/", "é", "\0"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(_ALPHABET, max_size=8), max_size=12, unique=True))
def test_every_kept_file_is_a_distinct_path_inside_the_channel(relatives):
    screen = _screen(relatives, [len(r) % 2 for r in relatives])
    paths = [local_relative_path("p/", "p/" + relatives[i]) for i in screen.files]
    assert len(set(paths)) == len(paths)
    channel = "/volume/data/train"
    for path in paths:
        resolved = os.path.normpath(os.path.join(channel, path))
        assert resolved.startswith(channel + "/") and "\0" not in path
    folders = {"/".join(p.split("/")[:d]) for p in paths for d in range(1, p.count("/") + 1)}
    assert not folders & set(paths)
    accounted = len(screen.files) + len(screen.folder_markers) + len(screen.unsafe)
    assert accounted == len(relatives)


_NAMES = st.sampled_from(["a", "b", "m", "é" * 70, "x" * 256, "", ".", "..", "\0"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_NAMES, min_size=1, max_size=3).map("/".join), max_size=12, unique=True))
def test_the_bulk_screen_agrees_with_the_rules_key_by_key(relatives):
    keys = ["p/" + r for r in relatives]
    sizes = np.array([len(r) % 2 for r in relatives], dtype=np.int64)
    bulk, each = screen_keys("p/", keys, sizes), screen_each_key("p/", keys, sizes)
    assert bulk.files.tolist() == each.files.tolist()
    assert bulk.folder_markers.tolist() == each.folder_markers.tolist()
    assert bulk.unsafe == each.unsafe


# --- scenarios -----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["/tmp/x", "..", ".", "a/b", "", "x" * 65, "tr ain"])
def test_channel_must_be_one_safe_folder_name(tmp_path, channel):
    with pytest.raises(ScenarioError, match="dataset.channel"):
        make_scenario(tmp_path, "http://127.0.0.1:1", "p/", dataset={"channel": channel})


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "", "nul\0", "x" * 201])
def test_scenario_name_must_be_one_safe_folder_name(tmp_path, name):
    with pytest.raises(ScenarioError, match="scenario.name"):
        make_scenario(tmp_path, "http://127.0.0.1:1", "p/", scenario={"name": name})


def test_unsafe_keys_option_is_checked(tmp_path):
    assert make_scenario(tmp_path, "http://127.0.0.1:1", "p/").dataset.unsafe_keys == "error"
    with pytest.raises(ScenarioError, match="dataset.unsafe_keys"):
        make_scenario(tmp_path, "http://127.0.0.1:1", "p/", dataset={"unsafe_keys": "ignore"})


def test_a_run_name_that_climbs_out_of_results_is_refused(tmp_path):
    path = write_scenario(
        tmp_path, '[scenario]\nname = "../../escaped"\n[dataset]\nuri = "s3://b-b-b/p/"\n'
    )
    done = stagebench("run", str(path), "--results", str(tmp_path / "results"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "scenario.name" in done.stderr
    assert not [p for p in tmp_path.parent.iterdir() if p.name.startswith("escaped")]
    assert not (tmp_path / "results").exists()


# --- hostile buckets, read for real --------------------------------------------------------


def _s3(embedded):
    s3 = boto3.client("s3", **embedded.client_kwargs())
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    return s3


def _body(relative: str) -> bytes:
    return (f"<{relative}>".encode() * 40)[: 200 + len(relative)]


def _hostile_bucket(embedded, prefix: str, sentinel: Path) -> dict[str, list[str]]:
    """Objects under ``prefix`` of every awkward kind; returns the relative keys by kind."""
    climb = "../" * 40  # more than enough to reach / from any volume
    kinds = {
        "files": ["a.bin", "d/e.bin", "ok/fine.bin", "z.bin"],
        "markers": ["", "sub/"],
        "unsafe": [
            str(sentinel / "abs.bin"),  # the prefix, then "/tmp/...": an absolute path
            climb + str(sentinel / "up.bin").lstrip("/"),
            "./a.bin",
            "d",
            "x" * 300 + ".bin",
        ],
    }
    s3 = _s3(embedded)
    for kind, relatives in kinds.items():
        for relative in relatives:
            body = b"" if kind == "markers" else _body(relative)
            s3.put_object(Bucket=BUCKET, Key=prefix + relative, Body=body)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"]
    assert listed == sum(map(len, kinds.values())), "the server must keep every hostile key"
    return kinds


def _scenario_text(embedded, prefix: str, tmp_path: Path, modes: list[str], extra: str = ""):
    return (
        f'[scenario]\nname = "hostile"\n'
        f'[dataset]\nuri = "s3://{BUCKET}/{prefix}"\n{extra}\n'
        f"[cluster]\nhosts = 2\nconcurrency = 4\n"
        f'[storage]\nendpoint = "{embedded.url}"\nvolume_root = "{tmp_path / "vol"}"\n'
        f"[modes]\nrun = {json.dumps(modes)}\n"
    )


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if not p.is_dir()] if folder.exists() else []


@pytest.mark.parametrize("modes", [["file"], ["pipe"], ["fastfile"], ["file", "pipe", "fastfile"]])
def test_hostile_bucket_is_refused_before_any_byte_is_read(tmp_path, embedded, modes):
    prefix = f"t-{os.urandom(5).hex()}/"
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    kinds = _hostile_bucket(embedded, prefix, sentinel)
    path = write_scenario(tmp_path, _scenario_text(embedded, prefix, tmp_path, modes))

    done = stagebench("run", str(path), "--results", str(tmp_path / "results"), "--no-report")

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("stagebench: error:")]
    assert len(errors) == 1
    total = sum(map(len, kinds.values()))
    assert f"{len(kinds['unsafe'])} of {total} keys" in errors[0]
    assert 'dataset.unsafe_keys = "skip"' in errors[0]
    assert _files_under(sentinel) == [] and _files_under(tmp_path / "vol") == []
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["modes"] == {}
    events = pd.read_parquet(run_dir / "events.parquet")
    assert len(events) == 0  # not one request for an object


def test_hostile_bucket_with_skip_reads_the_safe_files_in_every_mode(tmp_path, embedded):
    prefix = f"t-{os.urandom(5).hex()}/"
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    kinds = _hostile_bucket(embedded, prefix, sentinel)
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        prefix,
        dataset={"uri": f"s3://{BUCKET}/{prefix}", "unsafe_keys": "skip", "sizes": None},
        modes={"run": ["file", "pipe", "fastfile"]},
    )
    result = quiet_run(scenario, tmp_path, keep_volumes=True)

    assert result.status == "ok", result.summary["error"]
    summary = result.summary
    assert summary["folder_markers_skipped"] == len(kinds["markers"])
    assert summary["unsafe_keys_skipped"] == len(kinds["unsafe"])
    assert sum(summary["unsafe_keys_by_problem"].values()) == len(kinds["unsafe"])
    assert summary["dataset"]["objects"] == len(kinds["files"])
    expected_bytes = sum(len(_body(r)) for r in kinds["files"])
    for mode in ("file", "pipe", "fastfile"):
        figures = summary["modes"][mode]
        assert figures["objects"] == len(kinds["files"])  # ShardedByS3Key over the files only
        assert figures["bytes_fetched"] == expected_bytes
    # The File volumes hold exactly the safe files, each with its own bytes.
    (volumes,) = (tmp_path / "vol").glob("stagebench-volumes-*")
    on_disk = {}
    for host in sorted(volumes.glob("host-*")):
        channel = host / "data" / "train"
        on_disk.update({p.relative_to(channel).as_posix(): p for p in _files_under(channel)})
    assert sorted(on_disk) == sorted(kinds["files"])
    for relative, file in on_disk.items():
        assert file.read_bytes() == _body(relative)
    assert _files_under(sentinel) == []


def test_folder_markers_are_skipped_and_counted_in_every_mode(tmp_path, embedded):
    prefix = f"t-{os.urandom(5).hex()}/"
    s3 = _s3(embedded)
    files = ["sub/x.bin", "y.bin", "sub/deeper/z.bin"]
    markers = ["", "sub/", "sub/deeper/", "empty-folder/"]
    for relative in files:
        s3.put_object(Bucket=BUCKET, Key=prefix + relative, Body=_body(relative))
    for relative in markers:
        s3.put_object(Bucket=BUCKET, Key=prefix + relative, Body=b"")
    path = write_scenario(
        tmp_path, _scenario_text(embedded, prefix, tmp_path, ["file", "pipe", "fastfile"])
    )

    done = stagebench("run", str(path), "--results", str(tmp_path / "results"), "--no-report")

    assert done.returncode == 0, done.stderr
    assert f"left out: {len(markers)} folder markers" in done.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["folder_markers_skipped"] == len(markers)
    assert summary["unsafe_keys_skipped"] == 0
    expected_bytes = sum(len(_body(r)) for r in files)
    for mode in ("file", "pipe", "fastfile"):
        # FullyReplicated over 2 hosts: each host reads every file, no marker.
        assert summary["modes"][mode]["objects"] == 2 * len(files)
        assert summary["modes"][mode]["bytes_fetched"] == 2 * expected_bytes


def test_a_manifest_with_unsafe_keys_populates_nothing(tmp_path, embedded, unique_prefix):
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    escape = "../" * 40 + str(sentinel / "m.bin").lstrip("/")
    manifest = tmp_path / "keys.csv"
    manifest.write_text(f"key,size\na.bin,100\n./a.bin,100\n{escape},100\n")
    scenario = make_scenario(
        tmp_path,
        embedded.url,
        unique_prefix,
        dataset={"sizes": None, "objects": None, "manifest": str(manifest)},
        modes={"run": ["file", "pipe", "fastfile"]},
    )
    result = quiet_run(scenario, tmp_path)
    assert result.status == "failed" and isinstance(result.error, SafetyError)
    assert "2 of 3 keys" in str(result.error)
    s3 = _s3(embedded)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=unique_prefix)["KeyCount"] == 0
    assert _files_under(sentinel) == []


# --- the File path's own defence, for keys that were never screened ------------------------


def _file_mode_run(tmp_path, embedded, prefix: str, keys: list[str], volumes: Path):
    from bench.live.base import HostPlan
    from bench.live.engine import run_mode

    scenario = make_scenario(tmp_path, embedded.url, prefix, cluster={"hosts": 1})
    plan = HostPlan(
        host=0,
        bucket=BUCKET,
        prefix=prefix,
        keys=keys,
        sizes=np.array([len(_body(k)) for k in keys], dtype=np.int64),
        content_index=np.arange(len(keys), dtype=np.int64),
    )
    return asyncio.run(
        run_mode("file", [plan], endpoint=embedded, scenario=scenario, volumes=volumes)
    )


def _raised(run) -> BaseException:
    """The SafetyError inside what ``run`` raised (through task groups and the errors that
    wrap them), or the innermost exception when there is none."""
    try:
        run()
    except BaseException as exc:  # noqa: BLE001 - the caller checks the type
        error: BaseException = exc
    else:
        raise AssertionError("the run went through")
    while not isinstance(error, SafetyError):
        if isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        elif error.__cause__ is not None:
            error = error.__cause__
        else:
            break
    return error


@pytest.mark.parametrize("link_at", ["folder", "file"])
def test_file_mode_never_follows_a_link_on_the_volume(tmp_path, embedded, unique_prefix, link_at):
    s3 = _s3(embedded)
    relative = "evil/x.bin" if link_at == "folder" else "target.bin"
    key = unique_prefix + relative
    s3.put_object(Bucket=BUCKET, Key=key, Body=_body(relative))
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "target.bin").write_bytes(b"the user's file")
    volumes = tmp_path / "volumes"
    channel = volumes / "host-0000" / "data" / "train"
    channel.mkdir(parents=True)
    if link_at == "folder":
        (channel / "evil").symlink_to(sentinel, target_is_directory=True)
    else:
        (channel / "target.bin").symlink_to(sentinel / "target.bin")

    error = _raised(lambda: _file_mode_run(tmp_path, embedded, unique_prefix, [key], volumes))

    assert isinstance(error, SafetyError), repr(error)
    assert key in str(error)
    assert [p.name for p in sentinel.iterdir()] == ["target.bin"]
    assert (sentinel / "target.bin").read_bytes() == b"the user's file"


def test_file_mode_refuses_an_unscreened_key_that_escapes(tmp_path, embedded, unique_prefix):
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    relative = "../" * 40 + str(sentinel / "up.bin").lstrip("/")
    key = unique_prefix + relative
    _s3(embedded).put_object(Bucket=BUCKET, Key=key, Body=_body(relative))
    volumes = tmp_path / "volumes"
    started = time.perf_counter()
    error = _raised(lambda: _file_mode_run(tmp_path, embedded, unique_prefix, [key], volumes))
    assert isinstance(error, SafetyError) and "'..'" in str(error)
    assert _files_under(sentinel) == [] and time.perf_counter() - started < 30


def test_file_mode_refuses_two_unscreened_keys_on_one_path(tmp_path, embedded, unique_prefix):
    s3 = _s3(embedded)
    keys = [unique_prefix + "a.bin", unique_prefix + "./a.bin"]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=_body(key))
    volumes = tmp_path / "volumes"
    error = _raised(lambda: _file_mode_run(tmp_path, embedded, unique_prefix, keys, volumes))
    assert isinstance(error, SafetyError) and "already exists" in str(error)
