"""Live progress lines: drawn on a terminal's stderr, never in a pipe, never on stdout."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading

from tests.support import REPO, stagebench, write_scenario

SCENARIO = """
[scenario]
name = "progress"
[dataset]
objects = 40
prefix = "{prefix}"
bucket = "stagebench-tests"
seed = 3
[dataset.sizes]
distribution = "lognormal"
median = "16KiB"
sigma = 1.0
[cluster]
hosts = 2
[storage]
endpoint = "{url}"
volume_root = "{volumes}"
[modes]
run = ["file", "pipe"]
"""


def _scenario(tmp_path, embedded, prefix):
    text = SCENARIO.format(prefix=prefix, url=embedded.url, volumes=tmp_path / "vol")
    return write_scenario(tmp_path, text)


def _run_on_terminal(*args: str) -> tuple[int, str, str]:
    """Run stagebench with stderr on a pseudo-terminal and stdout on a pipe; return the exit
    code, what the terminal showed and what stdout carried."""
    master, slave = pty.openpty()
    # A fresh pseudo-terminal is 0 columns wide; a real one has a size.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=dict(os.environ),
    )
    os.close(slave)
    shown = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=240)
    reader.join(timeout=10)
    os.close(master)
    return process.returncode, shown.decode(errors="replace"), stdout.decode(errors="replace")


def test_progress_is_drawn_on_a_terminal_and_stays_off_stdout(embedded, tmp_path, unique_prefix):
    path = _scenario(tmp_path, embedded, unique_prefix)
    code, terminal, stdout = _run_on_terminal("run", str(path), "--results", str(tmp_path / "r"))
    assert code == 0, terminal
    # One line per phase: populate, each mode's play across hosts, the report's steps.
    assert f"populate s3://stagebench-tests/{unique_prefix}" in terminal
    assert "file (2 hosts)" in terminal and "pipe (2 hosts)" in terminal
    assert "objects" in terminal and "B/s" in terminal
    assert "report" in terminal and "step" in terminal
    assert "\r" in terminal  # redrawn in place
    # stdout holds the tables and paths only
    assert "\r" not in stdout and "\x1b" not in stdout and "%|" not in stdout
    assert "results: " in stdout


def test_no_progress_option_silences_the_terminal(embedded, tmp_path, unique_prefix):
    path = _scenario(tmp_path, embedded, unique_prefix)
    results = str(tmp_path / "r")
    code, terminal, _ = _run_on_terminal(
        "run", str(path), "--results", results, "--no-progress", "--no-report"
    )
    assert code == 0, terminal
    assert "%|" not in terminal and "\r" not in terminal.replace("\r\n", "\n")
    assert "endpoint:" in terminal  # the plain status lines still come


def test_progress_is_off_when_stderr_is_not_a_terminal(embedded, tmp_path, unique_prefix):
    path = _scenario(tmp_path, embedded, unique_prefix)
    done = stagebench("run", str(path), "--results", str(tmp_path / "r"), "--no-report")
    assert done.returncode == 0, done.stderr
    for stream in (done.stderr, done.stdout):
        assert "\r" not in stream and "\x1b" not in stream and "%|" not in stream
    assert "mode file: 2 hosts" in done.stderr
