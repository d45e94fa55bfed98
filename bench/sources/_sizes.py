"""Object sizes from any Arrow column, every row checked at once (no Python loop per row).

A size is accepted when it is a whole number of bytes from 0 to ``MAX_OBJECT_SIZE``: integer
columns as they are, float columns when every value is integral (pandas writes floats when a
column once held a NaN), text as plain digits with an optional ``.0`` (what ``to_csv`` writes
for such floats). Anything else — fractions, signs, exponents, values past the S3 maximum,
values of 2**63 and more that an int64 cast would wrap negative — is refused with the row.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.sources._listing import MAX_OBJECT_SIZE, SIZE_RULE, Where, clip

# 15 digits hold MAX_OBJECT_SIZE (14 digits) and nothing an int64 cast could overflow.
_MAX_DIGITS = len(str(MAX_OBJECT_SIZE)) + 1


def sizes_from_column(
    column: pa.Array | pa.ChunkedArray,
    *,
    keep: np.ndarray | None,
    where: Where,
    fix: str = SIZE_RULE,
) -> np.ndarray:
    """int64 sizes, one per row; rows where ``keep`` is False are not checked (and read 0)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_integer(kind):
        good, values = _from_integers(column)
    elif pa.types.is_floating(kind):
        good, values = _from_floats(column)
    elif (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_decimal(kind)
    ):
        good, values = _from_text(column.cast(pa.large_string()))
    elif pa.types.is_null(kind):
        good, values = np.zeros(len(column), dtype=bool), np.zeros(len(column), dtype=np.int64)
    else:
        raise where.fail(None, f"the size column holds {kind}", fix)
    bad = ~good if keep is None else keep & ~good
    if bad.any():
        index = int(np.argmax(bad))
        raw = column[index].as_py()
        missing = raw is None or (isinstance(raw, str | bytes) and not raw.strip())
        problem = "has no size" if missing else f"size {clip(raw)} {_reason(raw)}"
        raise where.fail(index, problem, fix)
    return values


def _numpy_mask(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _from_integers(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    if pa.types.is_unsigned_integer(column.type):
        # Compared as uint64, so 2**63 and more never meet a signed cast.
        wide = column.cast(pa.uint64())
        in_range = pc.less_equal(wide, pa.scalar(MAX_OBJECT_SIZE, pa.uint64()))
    else:
        wide = column.cast(pa.int64())
        in_range = pc.and_(pc.greater_equal(wide, 0), pc.less_equal(wide, MAX_OBJECT_SIZE))
    good = _numpy_mask(in_range)
    values = pc.if_else(good, wide, pa.scalar(0, wide.type)).cast(pa.int64())
    return good, values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _from_floats(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    wide = column.cast(pa.float64())
    whole = pc.and_(pc.is_finite(wide), pc.equal(wide, pc.floor(wide)))
    in_range = pc.and_(pc.greater_equal(wide, 0.0), pc.less_equal(wide, float(MAX_OBJECT_SIZE)))
    good = _numpy_mask(pc.and_(whole, in_range))
    values = pc.if_else(good, wide, 0.0).cast(pa.int64())
    return good, values.to_numpy(zero_copy_only=False)


def _from_text(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    text = pc.utf8_trim_whitespace(column)
    plain = _numpy_mask(pc.match_substring_regex(text, r"^[0-9]+(\.0*)?$"))
    digits = pc.utf8_ltrim(pc.replace_substring_regex(text, r"\.0*$", ""), characters="0")
    length = pc.fill_null(pc.utf8_length(digits), 0).to_numpy(zero_copy_only=False)
    castable = plain & (length > 0) & (length <= _MAX_DIGITS)
    values = pc.if_else(castable, digits, "0").cast(pa.int64()).to_numpy(zero_copy_only=False)
    good = plain & (length <= _MAX_DIGITS) & (values <= MAX_OBJECT_SIZE)
    return good, np.where(good, values, 0)


def _reason(raw: object) -> str:
    """Why one refused value was refused (called once, for the first bad row)."""
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return "is not a number"
    if not value.is_finite():
        return "is not a number"
    if value < 0:
        return "is negative"
    if value != value.to_integral_value():
        return "is a fraction of a byte"
    if value > MAX_OBJECT_SIZE:
        return "is more than the largest S3 object"
    return "is not written as plain digits"
