"""S3 Inventory reports in CSV (gzip), Parquet and ORC, local copies and on the S3 server."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from bench.errors import ScenarioError
from bench.s3.client import sync_client
from bench.sources import MAX_OBJECT_SIZE, read_sizes

from .writers import (
    CREATED_MS,
    ORC_SCHEMA_TEXT,
    PARQUET_SCHEMA_TEXT,
    SOURCE_BUCKET,
    VERSIONED_SCHEMA,
    columnar_table,
    gzip_csv,
    inventory_csv_rows,
    orc_bytes,
    parquet_bytes,
    write_report,
)

# Keys that need URL-encoding in the CSV: spaces, '+', '%', '/', accents, an emoji, a comma.
HOSTILE_KEYS = [
    "train/a b.jpg",
    "train/1+1=2.txt",
    "train/100%.bin",
    "train/été/naïve,file.png",
    "train/🚀 launch.jpg",
    "train/x",
]


def expected(objects, prefix):
    chosen = sorted((k, s) for k, s in objects if k.startswith(prefix))
    return [k for k, _ in chosen], [s for _, s in chosen]


def test_csv_report_keeps_the_prefix_decodes_keys_and_sorts_across_files(report_root):
    rng = np.random.default_rng(7)
    sizes = rng.integers(0, 10**9, size=len(HOSTILE_KEYS) + 3).tolist()
    objects = list(zip(HOSTILE_KEYS + ["val/a", "val/b", "trainer"], sizes, strict=True))
    # Out of order and split over two data files, as a large report is.
    first, second = objects[3:], objects[:3]
    report = write_report(
        report_root, [gzip_csv(inventory_csv_rows(first)), gzip_csv(inventory_csv_rows(second))]
    )

    listing = read_sizes(report.manifest, prefix="train/")

    keys, sizes_expected = expected(objects, "train/")
    assert listing.keys.to_pylist() == keys
    assert listing.sizes.dtype == np.int64
    assert listing.sizes.tolist() == sizes_expected
    assert (listing.source, listing.format, listing.files) == ("inventory", "csv", 2)
    assert listing.bucket == SOURCE_BUCKET
    assert listing.as_of == datetime.fromtimestamp(CREATED_MS / 1000, tz=UTC)
    assert listing.total_bytes == sum(sizes_expected)
    assert f"{len(keys)} objects" in listing.description
    assert f"s3://{SOURCE_BUCKET}/train/" in listing.description


def test_a_folder_or_a_config_folder_reads_the_newest_report(report_root):
    old = [("train/a", 1)]
    new = [("train/a", 2), ("train/b", 3)]
    write_report(report_root, [gzip_csv(inventory_csv_rows(old))], stamp="2025-11-29T01-00Z")
    newest = write_report(report_root, [gzip_csv(inventory_csv_rows(new))])

    from_dated_folder = read_sizes(newest.manifest.parent)
    from_config_folder = read_sizes(newest.manifest.parent.parent)

    for listing in (from_dated_folder, from_config_folder):
        assert listing.keys.to_pylist() == ["train/a", "train/b"]
        assert listing.sizes.tolist() == [2, 3]
        assert listing.path == str(newest.manifest)


def test_a_flat_copy_beside_manifest_json_is_read_too(report_root):
    report = write_report(report_root, [gzip_csv(inventory_csv_rows([("k", 5)]))], flat=True)
    assert read_sizes(report.manifest).sizes.tolist() == [5]


@pytest.mark.parametrize(
    ("file_format", "schema", "writer"),
    [("Parquet", PARQUET_SCHEMA_TEXT, parquet_bytes), ("ORC", ORC_SCHEMA_TEXT, orc_bytes)],
)
def test_columnar_reports_take_keys_as_written(report_root, file_format, schema, writer):
    # Parquet and ORC keys are not URL-encoded: '%41' and '+' are literal characters.
    objects = [("train/%41+b", 10), ("train/a", 2**40), ("skip/me", 3), ("train/é", 0)]
    halves = [objects[:2], objects[2:]]
    report = write_report(
        report_root,
        [writer(columnar_table(half, pa.int64())) for half in halves],
        file_format=file_format,
        schema=schema,
        extension=f".{file_format.lower()}",
    )

    listing = read_sizes(report.manifest, prefix="train/")

    keys, sizes = expected(objects, "train/")
    assert listing.keys.to_pylist() == keys
    assert listing.sizes.tolist() == sizes
    assert listing.format == file_format.lower()


def test_an_inventory_of_all_versions_keeps_only_current_objects(report_root):
    rows = [
        [SOURCE_BUCKET, "d%2Fa", "v2", "true", "false", "20", "e"],
        [SOURCE_BUCKET, "d%2Fa", "v1", "false", "false", "10", "e"],
        # A delete marker has no size; it must not be read as a bad row.
        [SOURCE_BUCKET, "d%2Fgone", "v3", "true", "true", "", ""],
        [SOURCE_BUCKET, "d%2Fgone", "v2", "false", "false", "7", "e"],
        [SOURCE_BUCKET, "d%2Fb", "null", "true", "false", "30", "e"],
    ]
    report = write_report(report_root, [gzip_csv(rows)], schema=", ".join(VERSIONED_SCHEMA))

    listing = read_sizes(report.manifest, prefix="d/")

    assert listing.keys.to_pylist() == ["d/a", "d/b"]
    assert listing.sizes.tolist() == [20, 30]


def test_keys_false_keeps_sizes_in_key_order_only(report_root):
    objects = [("b", 2), ("a", 1), ("c", 3)]
    report = write_report(report_root, [gzip_csv(inventory_csv_rows(objects))])
    listing = read_sizes(report.manifest, keys=False)
    assert listing.keys is None
    assert listing.sizes.tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("size", "says"),
    [
        ("1.5", "'1.5' is a fraction of a byte"),
        ("-1", "is negative"),
        (str(2**63), f"'{2**63}' is more than the largest S3 object"),
        (str(2**64 + 5), "is more than the largest S3 object"),
        (str(MAX_OBJECT_SIZE + 1), "is more than the largest S3 object"),
        ("1e3", "is not written as plain digits"),
        ("ten", "'ten' is not a number"),
        ("", "has no size"),
    ],
)
def test_a_bad_size_names_the_data_file_and_its_line(report_root, size, says):
    objects = [("train/a", 1), ("train/b", size), ("train/c", 3)]
    report = write_report(report_root, [gzip_csv(inventory_csv_rows(objects))])
    with pytest.raises(ScenarioError) as caught:
        read_sizes(report.manifest, prefix="train/")
    message = str(caught.value)
    assert message.startswith(f"{report.data_files[0]} line 2: ")
    assert says in message
    assert f"{MAX_OBJECT_SIZE:,}" in message
    assert "\n" not in message


def test_the_largest_s3_object_is_accepted_exactly(report_root):
    objects = [("a", MAX_OBJECT_SIZE), ("b", 0)]
    report = write_report(report_root, [gzip_csv(inventory_csv_rows(objects))])
    assert read_sizes(report.manifest).sizes.tolist() == [MAX_OBJECT_SIZE, 0]


def test_bad_rows_outside_the_prefix_do_not_matter(report_root):
    objects = [("other/x", "-4"), ("train/a", 1)]
    report = write_report(report_root, [gzip_csv(inventory_csv_rows(objects))])
    assert read_sizes(report.manifest, prefix="train/").sizes.tolist() == [1]


def test_an_unsigned_column_past_2_63_is_refused_not_wrapped(report_root):
    objects = [("a", 2**63 + 1)]
    report = write_report(
        report_root,
        [parquet_bytes(columnar_table(objects, pa.uint64()))],
        file_format="Parquet",
        schema=PARQUET_SCHEMA_TEXT,
        extension=".parquet",
    )
    with pytest.raises(ScenarioError, match=r"row 1: size 9223372036854775809 is more than"):
        read_sizes(report.manifest)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('"training-data","a%zz","1","t","e","S"\n', "has a '%' without two hex digits"),
        ('"training-data","a%4","1","t","e","S"\n', "has a '%' without two hex digits"),
        ('"training-data","a%FF","1","t","e","S"\n', "is not UTF-8 once URL-decoded"),
        ('"training-data","","1","t","e","S"\n', "line 2: has no key"),
        ('"training-data","a","1"\n', "line 2 has 3 fields where 6 are expected"),
    ],
)
def test_a_hostile_row_is_one_line_naming_the_file(report_root, line, says):
    body = gzip.compress(('"training-data","ok","1","t","e","S"\n' + line).encode())
    report = write_report(report_root, [body])
    with pytest.raises(ScenarioError) as caught:
        read_sizes(report.manifest)
    assert str(caught.value).startswith(str(report.data_files[0]))
    assert says in str(caught.value)


def test_a_key_listed_twice_is_refused(report_root):
    rows = inventory_csv_rows([("a", 1)])
    report = write_report(report_root, [gzip_csv(rows), gzip_csv(rows)])
    with pytest.raises(ScenarioError, match="key 'a' appears more than once"):
        read_sizes(report.manifest)


def test_a_prefix_with_no_objects_says_so(report_root):
    report = write_report(report_root, [gzip_csv(inventory_csv_rows([("val/a", 1)]))])
    with pytest.raises(ScenarioError, match=r"no current object under prefix 'train/'.*1 rows"):
        read_sizes(report.manifest, prefix="train/")


def test_a_missing_or_short_data_file_names_the_layout(report_root):
    report = write_report(report_root, [gzip_csv(inventory_csv_rows([("a", 1)]))])
    data = report.data_files[0]
    data.write_bytes(data.read_bytes()[:-3])
    with pytest.raises(ScenarioError, match="the copy is incomplete"):
        read_sizes(report.manifest)
    data.unlink()
    with pytest.raises(ScenarioError, match=r"keeping its S3 layout.*<config-ID>/data/"):
        read_sizes(report.manifest)


def test_a_damaged_gzip_is_one_line(report_root):
    report = write_report(report_root, [b"\x1f\x8b" + b"not gzip at all" * 4])
    with pytest.raises(ScenarioError, match="cannot be read as CSV"):
        read_sizes(report.manifest)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"fileSchema": "Bucket, Key, LastModifiedDate"}, "has no Size field"),
        ({"fileFormat": "JSON"}, "fileFormat 'JSON' is not CSV, ORC or Parquet"),
        ({"files": []}, "lists no data files"),
        ({"files": [{"key": "/"}]}, "has no key"),
        ({"files": None}, "has no 'files' list"),
    ],
)
def test_a_manifest_that_is_not_an_inventory_is_refused(report_root, change, says):
    report = write_report(report_root, [gzip_csv(inventory_csv_rows([("a", 1)]))])
    report.manifest.write_text(json.dumps({**report.manifest_doc, **change}))
    with pytest.raises(ScenarioError, match=says):
        read_sizes(report.manifest)


def test_a_data_file_key_cannot_climb_out_of_the_report(report_root):
    report = write_report(report_root, [gzip_csv(inventory_csv_rows([("a", 1)]))])
    doc = dict(report.manifest_doc, files=[{"key": "x/../..", "size": 1}])
    report.manifest.write_text(json.dumps(doc))
    with pytest.raises(ScenarioError, match="is not a file"):
        read_sizes(report.manifest)


def test_a_manifest_read_from_the_s3_server(report_root, embedded, unique_prefix):
    objects = [("train/a b", 11), ("train/c+d", 22), ("val/e", 33)]
    report = write_report(report_root, [gzip_csv(inventory_csv_rows(objects))])
    client = sync_client(embedded)
    bucket = "stagebench-inventory"
    if bucket not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=bucket)
    destination = unique_prefix.rstrip("/")
    for path in [report.manifest, *report.data_files]:
        key = f"{destination}/{path.relative_to(report.root).as_posix()}"
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    # The manifest names data files by their key in the destination bucket.
    doc = dict(report.manifest_doc)
    doc["files"] = [dict(entry, key=f"{destination}/{entry['key']}") for entry in doc["files"]]
    manifest_key = f"{destination}/{report.manifest.relative_to(report.root).as_posix()}"
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(doc).encode())

    listing = read_sizes(f"s3://{bucket}/{manifest_key}", prefix="train/", endpoint=embedded)

    assert listing.keys.to_pylist() == ["train/a b", "train/c+d"]
    assert listing.sizes.tolist() == [11, 22]
    assert listing.path == f"s3://{bucket}/{manifest_key}"

    # A data file that changed after the manifest was written fails its MD5 check.
    data_key = doc["files"][0]["key"]
    client.put_object(Bucket=bucket, Key=data_key, Body=gzip_csv(inventory_csv_rows(objects[:1])))
    with pytest.raises(ScenarioError, match="its MD5 differs from manifest.json's"):
        read_sizes(f"s3://{bucket}/{manifest_key}", endpoint=embedded)
    with pytest.raises(ScenarioError, match="no such object"):
        read_sizes(f"s3://{bucket}/{destination}/nothing/manifest.json", endpoint=embedded)
