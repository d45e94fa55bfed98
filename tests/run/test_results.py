"""Result files are written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import ResultsError
from bench.run import results


def _interrupted_halfway(path: Path, data: str, *args, **kwargs) -> int:
    """A write that stops halfway, as a Ctrl-C during a long write does (a moment a test
    cannot hit for real)."""
    with open(path, "w") as half:
        half.write(data[: len(data) // 2])
    raise KeyboardInterrupt


def test_an_interrupted_write_leaves_no_temporary_file_and_the_old_file_whole(
    tmp_path, monkeypatch
):
    summary = tmp_path / "summary.json"
    results.write_json(summary, {"status": "ok", "runs": 1})
    before = summary.read_bytes()

    monkeypatch.setattr(Path, "write_text", _interrupted_halfway)
    with pytest.raises(KeyboardInterrupt):
        results.write_json(summary, {"status": "ok", "runs": 2, "padding": "x" * 10_000})
    monkeypatch.undo()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    assert summary.read_bytes() == before
    assert json.loads(before)["runs"] == 1


def test_a_writer_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch):
    def fail_halfway(self, path, *args, **kwargs):
        Path(path).write_text("key,size\nhalf")
        raise MemoryError

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_halfway)
    with pytest.raises(MemoryError):
        results.write_csv(tmp_path / "hosts.csv", pd.DataFrame({"host": [0, 1]}))
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_a_results_error_and_leaves_nothing(tmp_path):
    missing = tmp_path / "gone" / "summary.json"
    with pytest.raises(ResultsError, match="cannot write"):
        results.write_json(missing, {"status": "ok"})
    assert list(tmp_path.iterdir()) == []
