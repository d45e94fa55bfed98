"""Fixtures of the dataset-source tests; the file writers are in ``writers``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def report_root(tmp_path: Path) -> Path:
    """Where a test writes its inventory reports, as a destination bucket would hold them."""
    return tmp_path / "inventory-reports"
