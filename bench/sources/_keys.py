"""Object keys: present, URL-decoded where the format encodes them, filtered to the dataset's
prefix, and finally joined across files in S3's order — all as whole-array operations."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.errors import ScenarioError
from bench.sources._listing import Where, clip

_HEX_VALUE = np.full(256, -1, dtype=np.int16)
for _digit in b"0123456789":
    _HEX_VALUE[_digit] = _digit - ord("0")
for _letter in b"abcdef":
    _HEX_VALUE[_letter] = _HEX_VALUE[_letter - 32] = _letter - ord("a") + 10


def as_keys(column: pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    """One contiguous large_string array (64-bit offsets: 10M long keys exceed 2 GiB)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    return column.cast(pa.large_string())


def check_present(keys: pa.Array, keep: np.ndarray | None, where: Where) -> None:
    missing = pc.or_(keys.is_null(), pc.equal(pc.binary_length(pc.fill_null(keys, "")), 0))
    missing_rows = missing.to_numpy(zero_copy_only=False)
    if keep is not None:
        missing_rows &= keep
    if missing_rows.any():
        raise where.fail(
            int(np.argmax(missing_rows)), "has no key", "every row needs the object's key"
        )


def url_decode(keys: pa.LargeStringArray, where: Where) -> pa.LargeStringArray:
    """Form-decode every key at once ('+' is a space, '%XX' a byte), on the raw byte buffer.

    Each escape shrinks its key by two bytes, so the new offsets are the old ones less twice
    the escapes before them; the result is checked to be UTF-8 as a whole.
    """
    offsets, data = _buffers(keys)
    plus = data == ord("+")
    percent = np.flatnonzero(data == ord("%"))
    if not plus.any() and percent.size == 0:
        return keys
    decoded = data.copy()
    decoded[plus] = ord(" ")
    if percent.size:
        row_of = np.searchsorted(offsets, percent, side="right") - 1
        inside = percent + 2 < offsets[row_of + 1]
        last = data.size - 1
        high = _HEX_VALUE[data[np.minimum(percent + 1, last)]]
        low = _HEX_VALUE[data[np.minimum(percent + 2, last)]]
        valid = inside & (high >= 0) & (low >= 0)
        if not valid.all():
            row = int(row_of[np.argmax(~valid)])
            raise where.fail(
                row,
                f"key {clip(keys[row].as_py())} has a '%' without two hex digits after it",
                "S3 Inventory CSV keys are URL-encoded; this file is not as S3 wrote it",
            )
        decoded[percent] = (high * 16 + low).astype(np.uint8)
        kept = np.ones(data.size, dtype=bool)
        kept[percent + 1] = False
        kept[percent + 2] = False
        decoded = decoded[kept]
        offsets = offsets - 2 * np.searchsorted(percent, offsets, side="left")
    result = pa.Array.from_buffers(
        pa.large_string(), len(keys), [None, pa.py_buffer(offsets), pa.py_buffer(decoded)]
    )
    try:
        result.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise where.fail(
            None,
            f"a key is not UTF-8 once URL-decoded ({exc})",
            "S3 Inventory CSV keys are URL-encoded UTF-8; this file is not as S3 wrote it",
        ) from exc
    return result


def _buffers(keys: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (from 0) and bytes of a null-free large_string array, slices included."""
    _, offset_buffer, data_buffer = keys.buffers()
    all_offsets = np.frombuffer(offset_buffer, dtype=np.int64)
    offsets = all_offsets[keys.offset : keys.offset + len(keys) + 1]
    if data_buffer is None:
        return offsets - offsets[0], np.zeros(0, dtype=np.uint8)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def under_prefix(keys: pa.Array, prefix: str) -> np.ndarray | None:
    """Which rows lie under the prefix (None: all of them)."""
    if not prefix:
        return None
    return _numpy(pc.starts_with(keys, prefix))


def _numpy(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def join_in_key_order(
    parts: list[tuple[pa.LargeStringArray, np.ndarray]], *, what: str
) -> tuple[pa.LargeStringArray, np.ndarray]:
    """All files' rows as one array in UTF-8 byte order, as S3 lists them; keys must be unique."""
    keys = (
        pa.concat_arrays([part_keys for part_keys, _ in parts])
        if parts
        else pa.array([], pa.large_string())
    )
    sizes = np.concatenate([part_sizes for _, part_sizes in parts]) if parts else np.zeros(0)
    sizes = sizes.astype(np.int64, copy=False)
    if len(keys) > 1:
        # Inventory and listing files usually arrive sorted; checking is cheaper than sorting.
        if _numpy(pc.less(keys[1:], keys[:-1])).any():
            order = pc.sort_indices(keys)
            keys = keys.take(order)
            sizes = sizes[order.to_numpy()]
        repeated = _numpy(pc.equal(keys[1:], keys[:-1]))
        if repeated.any():
            key = keys[int(np.argmax(repeated))].as_py()
            raise ScenarioError(
                f"{what}: key {clip(key)} appears more than once; every object must be listed "
                "once (an inventory of all versions needs its IsLatest field)"
            )
    return keys, sizes
