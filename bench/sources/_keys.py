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


def check_present(keys: pa.Array | pa.ChunkedArray, keep: np.ndarray | None, where: Where) -> None:
    if keys.null_count == 0 and (len(keys) == 0 or pc.min(pc.binary_length(keys)).as_py() > 0):
        return  # the usual case, settled without a mask per row
    missing = pc.or_(keys.is_null(), pc.equal(pc.binary_length(pc.fill_null(keys, "")), 0))
    missing_rows = missing.to_numpy(zero_copy_only=False)
    if keep is not None:
        missing_rows &= keep
    if missing_rows.any():
        raise where.fail(
            int(np.argmax(missing_rows)), "has no key", "every row needs the object's key"
        )


# Keys decoded per slice: the slice's scratch arrays stay under glibc's 32 MiB mmap threshold,
# so they are reused from the heap instead of page-faulted in afresh for every step.
_DECODE_SLICE = 1 << 18


def url_decode(keys: pa.Array | pa.ChunkedArray, where: Where) -> pa.LargeStringArray:
    """Form-decode keys ('+' is a space, '%XX' a byte) a slice at a time; see _decode.

    Takes the column as read (chunked, string or large_string, no nulls) and writes every
    slice's bytes straight into one buffer: no combined copy of the encoded keys is made
    first and no concatenation of decoded pieces after, each of which would copy every key.
    """
    pieces = [
        _large(piece) for piece in (keys.chunks if isinstance(keys, pa.ChunkedArray) else [keys])
    ]
    total = sum(len(piece) for piece in pieces)
    encoded_bytes = sum(_buffers(piece)[1].size for piece in pieces)
    data = np.empty(encoded_bytes, dtype=np.uint8)
    offsets = np.empty(total + 1, dtype=np.int64)
    offsets[0] = 0
    row = written = 0
    for piece in pieces:
        for start in range(0, len(piece), _DECODE_SLICE):
            part = piece.slice(start, _DECODE_SLICE)
            part_offsets, part_data = _decode(
                part, Where(where.file, where.unit, where.first + row)
            )
            count = len(part)
            data[written : written + part_data.size] = part_data
            offsets[row + 1 : row + count + 1] = part_offsets[1:] + written
            row += count
            written += part_data.size
    return _strings(total, offsets, data[:written], where)


def _large(keys: pa.Array) -> pa.Array:
    return keys if pa.types.is_large_string(keys.type) else keys.cast(pa.large_string())


def _decode(keys: pa.LargeStringArray, where: Where) -> tuple[np.ndarray, np.ndarray]:
    """Form-decode every key at once ('+' is a space, '%XX' a byte), on the raw byte buffer;
    return the decoded keys' offsets (from 0) and bytes.

    Each escape shrinks its key by two bytes, so the new offsets are the old ones less twice
    the escapes before them; the caller checks the result to be UTF-8 as a whole. One
    byte-sized scratch mask serves every step: fresh arrays of the buffer's size cost more in
    page faults than the arithmetic on them.
    """
    offsets, data = _buffers(keys)
    scratch = np.equal(data, ord("+"))
    has_plus = bool(scratch.any())
    decoded = data.copy() if has_plus else data
    if has_plus:
        decoded[scratch] = ord(" ")
    np.equal(data, ord("%"), out=scratch)
    percent = np.flatnonzero(scratch)
    if percent.size == 0:
        return offsets, decoded
    if not has_plus:
        decoded = data.copy()
    last = data.size - 1
    after = np.minimum(percent + 1, last)
    high = _HEX_VALUE[data[after]]
    np.minimum(percent + 2, last, out=after)
    low = _HEX_VALUE[data[after]]
    # An escape must end inside its own key: no key may start at either of its two digits.
    scratch[:] = False
    scratch[offsets[1:-1]] = True
    crosses = scratch[np.minimum(percent + 1, last)] | scratch[after]
    valid = (percent + 2 <= last) & ~crosses & (high >= 0) & (low >= 0)
    if not valid.all():
        row = int(np.searchsorted(offsets, percent[np.argmax(~valid)], side="right") - 1)
        raise where.fail(
            row,
            f"key {clip(keys[row].as_py())} has a '%' without two hex digits after it",
            "S3 Inventory CSV keys are URL-encoded; this file is not as S3 wrote it",
        )
    decoded[percent] = (high * 16 + low).astype(np.uint8)
    scratch[:] = True
    scratch[percent + 1] = False
    scratch[after] = False
    decoded = decoded[scratch]
    return offsets - 2 * np.searchsorted(percent, offsets, side="left"), decoded


def _strings(
    count: int, offsets: np.ndarray, data: np.ndarray, where: Where
) -> pa.LargeStringArray:
    result = pa.Array.from_buffers(
        pa.large_string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
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
    if len(parts) == 1:
        # One part is already one array: concatenating would copy every key for nothing.
        keys, sizes = parts[0]
    elif parts:
        keys = pa.concat_arrays([part_keys for part_keys, _ in parts])
        sizes = np.concatenate([part_sizes for _, part_sizes in parts])
    else:
        keys, sizes = pa.array([], pa.large_string()), np.zeros(0)
    sizes = sizes.astype(np.int64, copy=False)
    if len(keys) > 1:
        # Inventory and listing files usually arrive sorted and unique: one strict comparison
        # settles both; anything else is sorted and checked for repeats.
        if pc.all(pc.greater(keys[1:], keys[:-1])).as_py():
            return keys, sizes
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
