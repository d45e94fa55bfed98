"""An S3 Inventory report: its manifest.json, then each data file it lists (CSV, Parquet, ORC).

The manifest (``sourceBucket``, ``fileFormat``, ``fileSchema``, ``creationTimestamp`` and
``files[]`` of ``key``, ``size``, ``MD5checksum``) lives at
``<destination-prefix>/<source-bucket>/<config-ID>/<YYYY-MM-DDTHH-MMZ>/manifest.json`` and the
data files under ``<...>/<config-ID>/data/``. A local copy keeps that layout, so a data file
key ``.../data/NAME`` is looked for at ``<config-ID>/data/NAME`` beside the dated folder (or,
for a flat copy, beside manifest.json itself).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.errors import ScenarioError
from bench.s3.client import Endpoint
from bench.sources._csv import gzip_source, read_csv
from bench.sources._keys import as_keys, check_present, under_prefix, url_decode
from bench.sources._listing import Where, clip
from bench.sources._s3 import ObjectReader, split_uri
from bench.sources._sizes import sizes_from_column

_FORMATS = {"csv": "csv", "parquet": "parquet", "orc": "orc"}
# Field names as the CSV fileSchema spells them (IsLatest) and as Parquet/ORC columns do
# (is_latest), compared without case or underscores.
_KEY, _SIZE, _LATEST, _DELETE_MARKER = "key", "size", "islatest", "isdeletemarker"


@dataclass(frozen=True)
class DataFile:
    key: str
    size: int | None
    md5: str | None


@dataclass(frozen=True)
class InventoryManifest:
    label: str  # the path or URI, for messages
    source_bucket: str | None
    file_format: str  # "csv" | "parquet" | "orc"
    csv_columns: list[str]  # CSV only: the fields of every row, in order
    files: list[DataFile]
    created: datetime | None


@dataclass(frozen=True)
class InventoryRead:
    parts: list[tuple[pa.LargeStringArray, np.ndarray]]
    manifest: InventoryManifest
    rows: int  # rows in the data files, before the prefix and version filters


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "")


def parse_manifest(raw: bytes, label: str) -> InventoryManifest:
    """Check a manifest.json and keep what reading the report needs."""
    fix = "give the manifest.json of an S3 Inventory report"
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{label}: not JSON ({exc}); {fix}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise ScenarioError(f"{label}: has no 'files' list; {fix}")
    file_format = _FORMATS.get(str(doc.get("fileFormat", "")).strip().lower())
    if file_format is None:
        raise ScenarioError(
            f"{label}: fileFormat {clip(doc.get('fileFormat'))} is not CSV, ORC or Parquet; {fix}"
        )
    schema = doc.get("fileSchema")
    if not isinstance(schema, str) or not schema.strip():
        raise ScenarioError(f"{label}: has no fileSchema; {fix}")
    csv_columns = [field.strip() for field in schema.split(",")] if file_format == "csv" else []
    named = {_normal(field) for field in csv_columns} or {
        _normal(word) for word in re.findall(r"[A-Za-z_]+", schema)
    }
    for needed, what in ((_KEY, "Key"), (_SIZE, "Size")):
        if needed not in named:
            raise ScenarioError(
                f"{label}: the inventory has no {what} field (fileSchema {clip(schema, 100)}); "
                f"add {what} to the inventory configuration's fields and use the next report"
            )
    files = []
    for number, entry in enumerate(doc["files"], start=1):
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key.strip("/"):
            raise ScenarioError(f"{label}: files[{number}] has no key; {fix}")
        size = entry.get("size")
        md5 = entry.get("MD5checksum")
        files.append(
            DataFile(
                key,
                size if isinstance(size, int) and not isinstance(size, bool) else None,
                md5 if isinstance(md5, str) else None,
            )
        )
    if not files:
        raise ScenarioError(f"{label}: lists no data files; the report is empty or incomplete")
    return InventoryManifest(
        label=label,
        source_bucket=doc.get("sourceBucket") if isinstance(doc.get("sourceBucket"), str) else None,
        file_format=file_format,
        csv_columns=csv_columns,
        files=files,
        created=_created(doc.get("creationTimestamp")),
    )


def _created(stamp: object) -> datetime | None:
    """``creationTimestamp`` is milliseconds since the epoch, written as a string."""
    try:
        return datetime.fromtimestamp(int(str(stamp)) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def find_local_manifest(path: Path) -> Path:
    """A manifest.json, the folder holding it, or a config folder of dated reports (the
    newest is read: the timestamps in the folder names sort in time order)."""
    if path.is_file():
        return path
    if (path / "manifest.json").is_file():
        return path / "manifest.json"
    dated = sorted(child for child in path.glob("*/manifest.json") if child.is_file())
    if not dated:
        raise ScenarioError(
            f"{path}: a folder without manifest.json or <date>/manifest.json; give an S3 "
            "Inventory manifest.json, a key,size manifest or a saved 'aws s3 ls' listing"
        )
    return dated[-1]


# One data file: its label for messages and a function that opens it (again) for pyarrow.
Opener = Callable[[], pa.NativeFile | str]


def read_local(manifest_path: Path, *, prefix: str) -> InventoryRead:
    manifest = parse_manifest(_read_bytes(manifest_path), str(manifest_path))

    def locate(data_file: DataFile) -> tuple[str, Opener]:
        path = _local_data_path(manifest_path, data_file)
        if path.name.endswith(".gz"):
            return str(path), lambda: gzip_source(path)
        return str(path), lambda: str(path)

    return _read_report(manifest, locate, prefix=prefix)


def read_s3(uri: str, *, prefix: str, endpoint: Endpoint | None) -> InventoryRead:
    bucket, key = split_uri(uri)
    reader = ObjectReader(endpoint)
    manifest = parse_manifest(reader.get(bucket, key), uri)

    def fetch(data_file: DataFile) -> tuple[str, Opener]:
        label = f"s3://{bucket}/{data_file.key}"
        body = reader.get(bucket, data_file.key)
        if data_file.md5 and hashlib.md5(body, usedforsecurity=False).hexdigest() != data_file.md5:
            raise ScenarioError(
                f"{label}: its MD5 differs from manifest.json's; the report is being rewritten "
                "or damaged, read it again or use another report"
            )
        if data_file.key.endswith(".gz"):
            return label, lambda: gzip_source(body)
        return label, lambda: pa.input_stream(pa.py_buffer(body))

    return _read_report(manifest, fetch, prefix=prefix)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _local_data_path(manifest_path: Path, data_file: DataFile) -> Path:
    key = PurePosixPath(data_file.key)
    if key.name in ("", ".", "..") or key.parent.name in (".", ".."):
        raise ScenarioError(f"{manifest_path}: data file key {clip(data_file.key)} is not a file")
    config_folder = manifest_path.parent.parent
    candidates = [config_folder / key.parent.name / key.name, manifest_path.parent / key.name]
    found = next((candidate for candidate in candidates if candidate.is_file()), None)
    if found is None:
        raise ScenarioError(
            f"{manifest_path}: its data file {clip(data_file.key)} is not at {candidates[0]}; "
            "copy the report keeping its S3 layout (<config-ID>/<date>/manifest.json beside "
            "<config-ID>/data/), e.g. 'aws s3 sync s3://DESTINATION/.../<config-ID>/ DIR', "
            "or give the s3:// URI of manifest.json"
        )
    actual = found.stat().st_size
    if data_file.size is not None and actual != data_file.size:
        raise ScenarioError(
            f"{found}: {actual:,} bytes where manifest.json says {data_file.size:,}; the copy "
            "is incomplete or from another report, copy it again"
        )
    return found


def _read_report(
    manifest: InventoryManifest,
    open_file: Callable[[DataFile], tuple[str, Opener]],
    *,
    prefix: str,
) -> InventoryRead:
    parts = []
    rows = 0
    for data_file in manifest.files:
        label, opener = open_file(data_file)
        table, names, where = _read_data_file(manifest, label, opener)
        rows += table.num_rows
        parts.append(
            _rows_of_dataset(
                table, names, where, prefix=prefix, url_encoded=manifest.file_format == "csv"
            )
        )
    return InventoryRead(parts, manifest, rows)


def _read_data_file(
    manifest: InventoryManifest, label: str, opener: Opener
) -> tuple[pa.Table, dict[str, str], Where]:
    if manifest.file_format == "csv":
        where = Where(label, "line", 1)
        names = {_normal(field): field for field in manifest.csv_columns}
        types = {names[_KEY]: pa.large_string(), names[_SIZE]: pa.int64()}
        for flag in (_LATEST, _DELETE_MARKER):
            if flag in names:
                types[names[flag]] = pa.large_string()
        table = read_csv(
            opener,
            where=where,
            column_names=manifest.csv_columns,
            types=types,
            size_column=names[_SIZE],
            shape_fix=f"manifest.json's fileSchema names {len(manifest.csv_columns)} fields "
            "and every row must have them; the data file belongs to another report",
        )
        return table, names, where
    where = Where(label, "row", 1)
    try:
        if manifest.file_format == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(opener())
            schema_names, read = parquet.schema_arrow.names, parquet.read
        else:
            import pyarrow.orc as orc

            orc_file = orc.ORCFile(opener())
            schema_names, read = orc_file.schema.names, orc_file.read
        names = {_normal(name): name for name in schema_names}
        missing = [field for field in (_KEY, _SIZE) if field not in names]
        if missing:
            raise where.fail(
                None,
                f"has no {' or '.join(missing)} column (it has {', '.join(schema_names)})",
                "the data file does not belong to this manifest.json",
            )
        fields = (_KEY, _SIZE, _LATEST, _DELETE_MARKER)
        wanted = [names[field] for field in fields if field in names]
        return read(columns=wanted), names, where
    except (OSError, pa.ArrowException) as exc:
        raise where.fail(
            None,
            f"cannot be read as {manifest.file_format.upper()} ({exc})".splitlines()[0],
            "check that the file is complete; copy it again",
        ) from exc


def _flag(column: pa.ChunkedArray) -> np.ndarray:
    """A true/false field, as a boolean column (Parquet, ORC) or text (CSV)."""
    if not pa.types.is_boolean(column.type):
        column = pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(column)), "true")
    return pc.fill_null(column, False).to_numpy(zero_copy_only=False)


def _rows_of_dataset(
    table: pa.Table, names: dict[str, str], where: Where, *, prefix: str, url_encoded: bool
) -> tuple[pa.LargeStringArray, np.ndarray]:
    """The current objects under the prefix: an inventory of all versions also lists old
    versions and delete markers, which a training job never reads."""
    keep = np.ones(table.num_rows, dtype=bool)
    if _LATEST in names:
        keep &= _flag(table[names[_LATEST]])
    if _DELETE_MARKER in names:
        keep &= ~_flag(table[names[_DELETE_MARKER]])
    column = table[names[_KEY]]
    check_present(column, keep, where)
    # Decoding reads the column's chunks as they are: combining them first would copy every key.
    keys = url_decode(column, where) if url_encoded else as_keys(column)
    inside = under_prefix(keys, prefix)
    if inside is not None:
        keep &= inside
    sizes = sizes_from_column(table[names[_SIZE]], keep=keep, where=where)
    if keep.all():
        return keys, sizes
    return keys.filter(pa.array(keep)), sizes[keep]
