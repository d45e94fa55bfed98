"""Bad input through the command line: one line naming what is wrong and how to fix it,
exit code 2, no traceback (``--debug`` shows one)."""

from __future__ import annotations

import socket

import pytest

from tests.support import stagebench, write_scenario
from tests.support.s3_error_server import S3ErrorServer

BASE = """
[dataset]
objects = 4
prefix = "bad/"
[dataset.sizes]
distribution = "fixed"
size = "1KiB"
[cluster]
hosts = 2
[distribution]
type = "ShardedByS3Key"
"""

# (id, scenario text (BASE with a change) or None, extra CLI args, fragments of the message)
CASES = [
    ("malformed-toml", "[dataset\nobjects = 4", [], ["not valid TOML"]),
    ("unknown-key", BASE.replace("hosts = 2", "hostss = 2"), [], ["unknown key cluster.hostss"]),
    ("unknown-section", BASE + "[clustr]\n", [], ["unknown section [clustr]"]),
    ("wrong-type", BASE.replace("hosts = 2", 'hosts = "2"'), [], ["cluster.hosts", "whole number"]),
    ("zero-objects", BASE.replace("objects = 4", "objects = 0"), [], ["dataset.objects", ">= 1"]),
    ("negative-count", BASE.replace("hosts = 2", "hosts = -1"), [], ["cluster.hosts", "-1"]),
    ("zero-size", BASE.replace('size = "1KiB"', "size = 0"), [], ["dataset.sizes.size"]),
    ("negative-size", BASE.replace('size = "1KiB"', "size = -5"), [], ["dataset.sizes.size"]),
    ("bad-unit", BASE.replace('"1KiB"', '"1 furlong"'), [], ["furlong", "KiB"]),
    (
        "unknown-distribution",
        BASE.replace('"fixed"', '"normalish"'),
        [],
        ["normalish", "lognormal"],
    ),
    ("unknown-mode", BASE + '[modes]\nrun = ["tape"]\n', [], ["modes.run", "tape", "pipe"]),
    ("unknown-mode-cli", BASE, ["--modes", "file,tape"], ["tape", "fastfile"]),
    ("hosts-zero-cli", BASE, ["--hosts", "0"], ["cluster.hosts", ">= 1"]),
    ("bad-distribution", BASE.replace('"ShardedByS3Key"', '"Sharded"'), [], ["ShardedByS3Key"]),
    ("bad-endpoint", BASE + '[storage]\nendpoint = "ftp://x"\n', [], ["storage.endpoint", "URL"]),
    (
        "missing-manifest",
        '[dataset]\nmanifest = "none.csv"\n',
        [],
        ["dataset.manifest", "not found"],
    ),
    ("missing-file", None, [], ["no such scenario file"]),
    ("bad-dask", BASE, ["--dask", "local:x"], ["local:N"]),
    (
        "unreachable-endpoint",
        BASE,
        ["--endpoint", "http://127.0.0.1:9"],
        ["cannot reach", "127.0.0.1:9"],
    ),
    (
        "no-disk-for-volumes",
        BASE.replace('size = "1KiB"', 'size = "4TiB"').replace("objects = 4", "objects = 200"),
        [],
        ["needs", "GB on the volumes", "storage.volume_root"],
    ),
    (
        "nonexistent-bucket",
        '[dataset]\nuri = "s3://no-such-bucket-here/x/"\n',
        [],
        ["no-such-bucket-here", "does not exist"],
    ),
]


@pytest.mark.parametrize(("name", "text", "args", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(tmp_path, name, text, args, fragments):
    path = tmp_path / "missing.toml" if text is None else write_scenario(tmp_path, text)
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    done = stagebench("run", str(path), "--results", str(tmp_path / "r"), *args, env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("stagebench: error:")]
    assert len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_manifest_without_size_column(tmp_path):
    (tmp_path / "m.csv").write_text("key,bytes\na,1\n")
    path = write_scenario(tmp_path, '[dataset]\nmanifest = "m.csv"\n')
    done = stagebench("run", str(path), "--results", str(tmp_path / "r"))
    assert done.returncode == 2 and "lacks column(s) size" in done.stderr


def test_manifest_with_negative_size(tmp_path):
    (tmp_path / "m.csv").write_text("key,size\na,1\nb,-3\n")
    path = write_scenario(tmp_path, '[dataset]\nmanifest = "m.csv"\n')
    done = stagebench("run", str(path), "--results", str(tmp_path / "r"))
    assert done.returncode == 2 and "row 3" in done.stderr and "-3" in done.stderr


@pytest.mark.parametrize(
    ("code", "fragment"),
    [("AccessDenied", "access denied"), ("InvalidAccessKeyId", "rejected the credentials")],
)
def test_access_denied_and_bad_credentials(tmp_path, code, fragment):
    path = write_scenario(tmp_path, BASE)
    with S3ErrorServer(code) as server:
        done = stagebench(
            "run",
            str(path),
            "--endpoint",
            server.url,
            "--results",
            str(tmp_path / "r"),
            env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
        )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert fragment in done.stderr and code in done.stderr


def test_unwritable_results_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = write_scenario(tmp_path, BASE)
    done = stagebench("run", str(path), "--results", str(blocker / "sub"))
    assert done.returncode == 2 and "--results" in done.stderr and "Traceback" not in done.stderr


def test_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = stagebench("serve", "--port", str(port))
    assert done.returncode == 2
    assert f"127.0.0.1:{port}" in done.stderr and "--port" in done.stderr


def test_hosts_beyond_objects_warns_but_runs(tmp_path):
    path = write_scenario(tmp_path, BASE.replace("hosts = 2", "hosts = 6"))
    done = stagebench("run", str(path), "--results", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "2 hosts get nothing and are still billed" in done.stderr


def test_debug_shows_the_traceback(tmp_path):
    path = write_scenario(tmp_path, BASE.replace("hosts = 2", "hosts = 0"))
    done = stagebench("--debug", "run", str(path))
    assert done.returncode != 0 and "Traceback" in done.stderr
