"""A dataset's object keys and sizes, read from the files users already have.

One entry point, ``read_sizes(path_or_uri, prefix=...)``, tells the format apart and returns a
``Listing`` (keys in S3 order, int64 sizes, where they came from and how old they are):

- a **key,size manifest**, CSV (header row) or Parquet, names relative to the prefix — the
  ``dataset.manifest`` format;
- an **S3 Inventory report**: its ``manifest.json`` (a local copy, the folder holding it, a
  config folder of dated reports — the newest is read — or an ``s3://`` URI read with boto3)
  and the data files it lists, CSV (gzip, no header, fields in ``fileSchema`` order, keys
  URL-encoded), Parquet or ORC; rows outside the prefix, old versions and delete markers are
  dropped. A local copy keeps the report's S3 layout: ``<config-ID>/<date>/manifest.json``
  beside ``<config-ID>/data/``;
- the text of **``aws s3 ls --recursive s3://bucket/prefix/``** saved to a file.

Every size is checked: a whole number of bytes from 0 to ``MAX_OBJECT_SIZE``; values of 2**63
and more are refused, never wrapped; bad input is one ``ScenarioError`` naming the file, the row
and the fix. Files are read with pyarrow and checked as whole arrays, never row by row.

Sources:
- S3 Inventory, formats and fields ("When you're using the CSV file format, the key name is
  URL-encoded and must be decoded before you can use it"):
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html
- manifest.json location and fields (sourceBucket, destinationBucket, version,
  creationTimestamp, fileFormat, fileSchema, files[key, size, MD5checksum]) and data files
  under ``<config-ID>/data/``:
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html
  The CSV keys are form-encoded ('+' for a space, '%XX' for a byte), as Athena's
  ``url_decode`` reads them.
- Maximum object size: "each object can be up to 50 TB"; "the actual maximum object size is
  53.7 TB (48.8 TiB) ... 10,000 maximum parts x 5 GiB per part = 50,000 GiB", raised from 5 TB
  in December 2025: https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingObjects.html
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import ScenarioError
from bench.s3.client import Endpoint
from bench.sources._awsls import looks_like_listing, read_listing
from bench.sources._inventory import InventoryRead, find_local_manifest, read_local, read_s3
from bench.sources._keys import join_in_key_order
from bench.sources._listing import MAX_OBJECT_SIZE, Listing
from bench.sources._table import read_key_size

__all__ = ["MAX_OBJECT_SIZE", "Listing", "read_sizes"]


def read_sizes(
    source: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    keys: bool = True,
    endpoint: Endpoint | None = None,
) -> Listing:
    """The keys and sizes of the dataset under ``prefix``, from whichever file ``source`` is.

    Inventories and listings hold whole keys: rows outside the prefix are dropped. A key,size
    manifest names objects relative to the prefix, which is put in front of each name. With
    ``keys=False`` only the sizes are kept (still in key order). ``endpoint`` serves ``s3://``
    sources; AWS by default.
    """
    prefix = prefix or ""
    text = os.fspath(source)
    if text.startswith("s3://"):
        if not text.endswith(".json"):
            raise ScenarioError(
                f"{text}: only an S3 Inventory manifest.json is read from S3 here; give its "
                "URI (…/<config-ID>/<YYYY-MM-DDTHH-MMZ>/manifest.json)"
            )
        return _from_inventory(read_s3(text, prefix=prefix, endpoint=endpoint), prefix, keys)
    path = Path(text).expanduser()
    if not path.exists():
        raise ScenarioError(
            f"{path}: no such file; give a key,size manifest (.csv/.parquet), an S3 Inventory "
            "manifest.json or a saved 'aws s3 ls --recursive' listing"
        )
    if path.is_dir() or path.suffix.lower() == ".json":
        manifest = find_local_manifest(path)
        return _from_inventory(read_local(manifest, prefix=prefix), prefix, keys)
    if path.suffix.lower() != ".parquet" and looks_like_listing(_head(path)):
        found_keys, sizes, saved = read_listing(path, prefix=prefix)
        _require_rows(sizes.size, str(path), prefix, "among its lines")
        ordered_keys, ordered_sizes = join_in_key_order([(found_keys, sizes)], what=str(path))
        return Listing(
            ordered_keys if keys else None,
            ordered_sizes,
            "aws-s3-ls",
            "text",
            str(path),
            None,
            prefix,
            saved,
        )
    found_keys, sizes, file_format = read_key_size(path, prefix=prefix)
    ordered_keys, ordered_sizes = join_in_key_order([(found_keys, sizes)], what=str(path))
    return Listing(
        ordered_keys if keys else None,
        ordered_sizes,
        "manifest",
        file_format,
        str(path),
        None,
        prefix,
        None,
    )


def _from_inventory(read: InventoryRead, prefix: str, keys: bool) -> Listing:
    manifest = read.manifest
    found = sum(part_sizes.size for _, part_sizes in read.parts)
    among = f"among the {read.rows:,} rows of its {len(manifest.files)} data file(s)"
    _require_rows(found, manifest.label, prefix, among)
    ordered_keys, ordered_sizes = join_in_key_order(read.parts, what=manifest.label)
    return Listing(
        ordered_keys if keys else None,
        ordered_sizes,
        "inventory",
        manifest.file_format,
        manifest.label,
        manifest.source_bucket,
        prefix,
        manifest.created,
        len(manifest.files),
    )


def _require_rows(found: int, label: str, prefix: str, among: str) -> None:
    if found == 0:
        where = f"under prefix {prefix!r}" if prefix else "at all"
        raise ScenarioError(
            f"{label}: no current object {where} {among}; check dataset.prefix "
            "(inventories and listings hold whole keys, the prefix included)"
        )


def _head(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            return stream.read(1 << 12).decode("utf-8", errors="replace")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror or exc})") from exc
