"""A key,size manifest as CSV (a header row, extra columns ignored) or Parquet.

The same rules as ``dataset.manifest`` has always had: columns named ``key`` and ``size``, keys
present and unique, at least one row; names are relative to the dataset's prefix, which is put
in front of each. Sizes follow the checks of ``_sizes``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.errors import ScenarioError
from bench.sources._csv import read_csv
from bench.sources._keys import as_keys, check_present
from bench.sources._listing import Where
from bench.sources._sizes import sizes_from_column

_COLUMNS = ("key", "size")


def read_key_size(path: Path, *, prefix: str) -> tuple[pa.LargeStringArray, np.ndarray, str]:
    """Keys (prefix in front), sizes and the format ("csv" or "parquet") of one manifest."""
    if path.suffix.lower() == ".parquet":
        where = Where(str(path), "row", 1)
        table, file_format = _read_parquet(path, where), "parquet"
    else:
        where = Where(str(path), "line", 2)
        _require_columns(path, _csv_header(path))
        table = read_csv(
            lambda: str(path),
            where=where,
            column_names=None,
            types={"key": pa.large_string(), "size": pa.int64()},
            size_column="size",
            shape_fix="every row needs as many fields as the header 'key,size'",
        )
        file_format = "csv"
    if table.num_rows == 0:
        raise ScenarioError(f"{path}: manifest has no rows; it needs one row per object")
    keys = as_keys(table["key"])
    check_present(keys, None, where)
    sizes = sizes_from_column(table["size"], keep=None, where=where)
    if prefix:
        keys = pc.binary_join_element_wise(
            pa.scalar(prefix, pa.large_string()), keys, pa.scalar("", pa.large_string())
        )
    return keys, sizes, file_format


def _csv_header(path: Path) -> list[str]:
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(1 << 16)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ScenarioError(f"{path}: cannot read manifest: {exc}".splitlines()[0]) from exc
    first_line = head.decode("utf-8-sig", errors="replace").splitlines()[:1]
    return next(csv.reader(first_line), []) if first_line else []


def _read_parquet(path: Path, where: Where) -> pa.Table:
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as exc:
        raise ScenarioError(f"{path}: cannot read manifest: {exc}".splitlines()[0]) from exc
    _require_columns(path, names)
    try:
        return pq.read_table(path, columns=list(_COLUMNS))
    except (OSError, pa.ArrowException) as exc:
        raise where.fail(None, f"cannot be read ({exc})".splitlines()[0], "write it again") from exc


def _require_columns(path: Path, names: list[str]) -> None:
    missing = [name for name in _COLUMNS if name not in names]
    if missing:
        raise ScenarioError(
            f"{path}: manifest lacks column(s) {', '.join(missing)}; it needs a header row "
            "'key,size' (an S3 Inventory is read from its manifest.json, a saved listing "
            "from 'aws s3 ls --recursive')"
        )
