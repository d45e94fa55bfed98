"""Writers of real dataset files: S3 Inventory reports as S3 writes them, listings, manifests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

SOURCE_BUCKET = "training-data"
CONFIG = "daily-all"
STAMP = "2025-11-30T01-00Z"
CREATED_MS = 1_764_464_400_000  # 2025-11-30 01:00 UTC
CSV_SCHEMA = ["Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass"]
VERSIONED_SCHEMA = ["Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "ETag"]


@dataclass
class Report:
    """A written inventory report: where its manifest is and what it lists."""

    root: Path  # the destination prefix folder
    manifest: Path
    data_files: list[Path]
    manifest_doc: dict


def csv_line(fields: list[object]) -> str:
    """A row as S3 Inventory writes CSV: every field quoted, no header."""
    return ",".join('"' + str(field).replace('"', '""') + '"' for field in fields) + "\n"


def inventory_csv_rows(objects: list[tuple[str, object]]) -> list[list[object]]:
    """Rows of the default schema for (key, size) pairs; keys form-encoded as S3 does."""
    return [
        [SOURCE_BUCKET, quote_plus(key, safe=""), size, "2026-11-29T10:00:00.000Z", "e", "STANDARD"]
        for key, size in objects
    ]


def write_report(
    root: Path,
    files: list[bytes],
    *,
    file_format: str = "CSV",
    schema: str = ", ".join(CSV_SCHEMA),
    stamp: str = STAMP,
    extension: str = ".csv.gz",
    flat: bool = False,
) -> Report:
    """A report in the S3 layout ``<source-bucket>/<config-ID>/<stamp>/manifest.json`` beside
    ``<config-ID>/data/``, or everything in one folder when ``flat``."""
    config = root / SOURCE_BUCKET / CONFIG
    dated = config / stamp
    data_folder = dated if flat else config / "data"
    dated.mkdir(parents=True, exist_ok=True)
    data_folder.mkdir(parents=True, exist_ok=True)
    entries, paths = [], []
    for number, body in enumerate(files):
        name = f"{stamp}-{number:04d}-5f3a{extension}"
        path = data_folder / name
        path.write_bytes(body)
        paths.append(path)
        entries.append(
            {
                "key": f"{SOURCE_BUCKET}/{CONFIG}/data/{name}",
                "size": len(body),
                "MD5checksum": hashlib.md5(body, usedforsecurity=False).hexdigest(),
            }
        )
    doc = {
        "sourceBucket": SOURCE_BUCKET,
        "destinationBucket": "arn:aws:s3:::inventory-reports",
        "version": "2016-11-30",
        "creationTimestamp": str(CREATED_MS),
        "fileFormat": file_format,
        "fileSchema": schema,
        "files": entries,
    }
    manifest = dated / "manifest.json"
    manifest.write_text(json.dumps(doc, indent=2))
    return Report(root, manifest, paths, doc)


def gzip_csv(rows: list[list[object]]) -> bytes:
    return gzip.compress("".join(csv_line(row) for row in rows).encode())


PARQUET_SCHEMA_TEXT = (
    "message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
    "optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); "
    "optional binary e_tag (STRING); optional binary storage_class (STRING);}"
)
ORC_SCHEMA_TEXT = (
    "struct<bucket:string,key:string,size:bigint,last_modified_date:timestamp,"
    "e_tag:string,storage_class:string>"
)


def columnar_table(objects: list[tuple[str, object]], size_type: pa.DataType) -> pa.Table:
    """The columns S3 writes into Parquet and ORC inventories (keys not encoded there)."""
    count = len(objects)
    return pa.table(
        {
            "bucket": pa.array([SOURCE_BUCKET] * count),
            "key": pa.array([key for key, _ in objects]),
            "size": pa.array([size for _, size in objects], size_type),
            "last_modified_date": pa.array([1_764_400_000_000] * count, pa.timestamp("ms")),
            "e_tag": pa.array(["e"] * count),
            "storage_class": pa.array(["STANDARD"] * count),
        }
    )


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def orc_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    orc.write_table(table, sink)
    return sink.getvalue()
