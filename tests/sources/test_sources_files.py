"""key,size manifests (CSV, Parquet) and saved ``aws s3 ls --recursive`` listings."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.errors import ScenarioError
from bench.run.dataset import read_manifest
from bench.sources import MAX_OBJECT_SIZE, read_sizes
from bench.sources._keys import as_keys, url_decode
from bench.sources._listing import Where
from bench.sources._sizes import sizes_from_column

SEEDED = settings(derandomize=True, deadline=None, max_examples=150)


def aws_ls_line(key: str, size: int, when: str = "2026-11-29 10:00:00") -> str:
    """One object line exactly as the aws CLI prints it: size right-aligned in 10 columns."""
    return f"{when} {size:>10} {key}\n"


# key,size manifests -----------------------------------------------------------------------


def test_csv_manifest_matches_dataset_read_manifest_with_the_prefix_in_front(tmp_path):
    rng = np.random.default_rng(3)
    names = [f"img/{i:05d}.jpg" for i in rng.permutation(200)]
    sizes = rng.integers(0, 2**40, size=200)
    path = tmp_path / "manifest.csv"
    pd.DataFrame({"key": names, "size": sizes, "label": "cat"}).to_csv(path, index=False)

    listing = read_sizes(path, prefix="data/")

    old_keys, old_sizes = read_manifest(path)
    order = np.argsort(np.array(old_keys, dtype=object), kind="stable")
    assert listing.keys.to_pylist() == ["data/" + old_keys[i] for i in order]
    assert listing.sizes.tolist() == old_sizes[order].tolist()
    assert (listing.source, listing.format, listing.as_of) == ("manifest", "csv", None)


def test_parquet_manifest_with_pandas_float_sizes_is_read(tmp_path):
    path = tmp_path / "m.parquet"
    pd.DataFrame({"key": ["b", "a"], "size": [2.0, 1024.0]}).to_parquet(path)
    listing = read_sizes(path)
    assert listing.keys.to_pylist() == ["a", "b"]
    assert listing.sizes.tolist() == [1024, 2]
    assert listing.format == "parquet"


def test_numeric_looking_keys_stay_text(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("key,size\n007,1\n7,2\n")
    assert read_sizes(path).keys.to_pylist() == ["007", "7"]


@pytest.mark.parametrize(
    ("column", "says"),
    [
        (pa.array([1.0, 1.5]), "row 2: size 1.5 is a fraction of a byte"),
        (pa.array([1.0, float("nan")]), "row 2: size nan is not a number"),
        (pa.array([1, -2]), "row 2: size -2 is negative"),
        (pa.array([1, 2**63], pa.uint64()), f"row 2: size {2**63} is more than"),
        (pa.array([1, None], pa.int64()), "row 2: has no size"),
        (pa.array([True, False]), "the size column holds bool"),
    ],
)
def test_parquet_manifest_bad_sizes(tmp_path, column, says):
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"key": ["a", "b"], "size": column}), path)
    with pytest.raises(ScenarioError) as caught:
        read_sizes(path)
    assert str(caught.value).startswith(f"{path}")
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("key,size\na,1\nb,1.5\n", "line 3: size '1.5' is a fraction of a byte"),
        ("key,size\na,1\nb,18446744073709551617\n", "line 3: size '18446744073709551617' is"),
        ("key,size\na,1\nb,-0.5\n", "line 3: size '-0.5' is negative"),
        ("key,size\n", "manifest has no rows"),
        ("name,bytes\na,1\n", "lacks column(s) key, size"),
        ("key,size\na,1\na,1\n", "key 'a' appears more than once"),
        ('key,size\n"",1\n', "line 2: has no key"),
        ("key,size\na,1,extra\n", "line 2 has 3 fields where 2 are expected"),
    ],
)
def test_csv_manifest_bad_rows(tmp_path, text, says):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        read_sizes(path)
    assert str(caught.value).startswith(str(path))
    assert says in str(caught.value)


def test_a_missing_file_says_what_it_can_read(tmp_path):
    with pytest.raises(ScenarioError, match="no such file; give a key,size manifest"):
        read_sizes(tmp_path / "nothing.csv")


def test_an_s3_uri_that_is_not_a_manifest_is_refused_before_any_request():
    with pytest.raises(ScenarioError, match="only an S3 Inventory manifest.json"):
        read_sizes("s3://bucket/train/")


# aws s3 ls --recursive --------------------------------------------------------------------


def test_a_saved_listing_keeps_spaces_and_skips_the_summary(tmp_path):
    objects = [
        ("train/a b c.jpg", 12),
        ("train/  leading spaces", 0),
        ("train/big", 12_345_678_901_234),  # wider than the 10 columns
        ("trainer/x", 5),
        ("train/é", 7),
    ]
    text = "".join(aws_ls_line(key, size) for key, size in objects)
    text += "\nTotal Objects: 5\n   Total Size: 12345678901258\n"
    path = tmp_path / "listing.txt"
    path.write_text(text)
    saved = 1_700_000_000
    os.utime(path, (saved, saved))

    listing = read_sizes(path, prefix="train/")

    chosen = sorted((k, s) for k, s in objects if k.startswith("train/"))
    assert listing.keys.to_pylist() == [k for k, _ in chosen]
    assert listing.sizes.tolist() == [s for _, s in chosen]
    assert (listing.source, listing.format) == ("aws-s3-ls", "text")
    assert listing.as_of.timestamp() == saved


def test_a_listing_with_windows_line_ends_reads_the_same(tmp_path):
    path = tmp_path / "listing.txt"
    path.write_bytes(b"2026-11-29 10:00:00          3 k one\r\n2026-11-29 10:00:00 4 k2\r\n")
    listing = read_sizes(path)
    assert listing.keys.to_pylist() == ["k one", "k2"]
    assert listing.sizes.tolist() == [3, 4]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("                           PRE train/\n", "without --recursive it shows folders"),
        ("2026-11-29 10:00:00    1.2 KiB k\n", "--human-readable"),
        ("2026-11-29 10:00:00         -1 k\n", "size '-1' is negative"),
        ("2026-11-29 10:00:00 99999999999999999999 k\n", "is more than the largest S3 object"),
        ("garbage\n", "line 2: is not an object line ('garbage')"),
    ],
)
def test_a_bad_listing_line_is_named(tmp_path, line, says):
    path = tmp_path / "listing.txt"
    path.write_text(aws_ls_line("k0", 1) + line)
    with pytest.raises(ScenarioError) as caught:
        read_sizes(path)
    assert str(caught.value).startswith(f"{path} line 2")
    assert says in str(caught.value)


def test_a_listing_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "listing.txt"
    path.write_bytes(aws_ls_line("k0", 1).encode() + b"2026-11-29 10:00:00 1 \xff\xfe\n")
    with pytest.raises(ScenarioError, match=r"line 2: is not UTF-8"):
        read_sizes(path)


# Fast code against slow obvious references ------------------------------------------------


@SEEDED
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30))
def test_url_decode_matches_unquote_plus(keys):
    encoded = as_keys(pa.array([quote_plus(key, safe="") for key in keys]))
    assert url_decode(encoded, Where("f")).to_pylist() == keys


@SEEDED
@given(
    st.lists(
        st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70).map(str),
            st.integers(min_value=0, max_value=MAX_OBJECT_SIZE).map(lambda n: f" {n:05d}.0 "),
            st.sampled_from(["", "1.5", "1e3", "+4", "0x10", "٣", "NaN", "7."]),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_text_sizes_accept_exactly_whole_bytes_up_to_the_maximum(texts):
    def reference(text: str) -> int | None:
        stripped = text.strip()
        whole, _, fraction = stripped.partition(".")
        if not whole.isascii() or not whole.isdigit() or fraction.strip("0"):
            return None
        value = int(whole)
        return value if value <= MAX_OBJECT_SIZE else None

    expected = [reference(text) for text in texts]
    column = pa.array(texts)
    if None in expected:
        with pytest.raises(ScenarioError, match=f"row {expected.index(None) + 1}:"):
            sizes_from_column(column, keep=None, where=Where("f"))
    else:
        assert sizes_from_column(column, keep=None, where=Where("f")).tolist() == expected


def test_large_files_keep_64_bit_offsets(tmp_path: Path):
    # Not 2 GiB of data, but the keys must come back as large_string so that such files can.
    path = tmp_path / "m.csv"
    path.write_text("key,size\na,1\n")
    assert read_sizes(path).keys.type == pa.large_string()


def test_url_decode_by_slices_matches_whole_and_numbers_rows(monkeypatch):
    import bench.sources._keys as keys_module

    rng = np.random.default_rng(11)
    keys = [f"d/{'x' * int(n)}+{n}%" for n in rng.integers(0, 9, size=50)]
    encoded = as_keys(pa.array([quote_plus(key, safe="") for key in keys]))
    monkeypatch.setattr(keys_module, "_DECODE_SLICE", 7)
    assert url_decode(encoded, Where("f")).to_pylist() == keys
    broken = as_keys(pa.array([quote_plus(key, safe="") for key in keys[:20]] + ["bad%G1"]))
    with pytest.raises(ScenarioError, match=r"^f line 21: key 'bad%G1'"):
        url_decode(broken, Where("f", "line", 1))
