"""Parsing and formatting of byte sizes and rates ("64KiB", "1.5 GB", "100MB/s").

Text is read exactly (``decimal``), never through a float: "1e400 B" is a number too large,
not an OverflowError, and "1.1 KiB" is 1126.4 bytes, which no size can be.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from typing import Any

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")

LARGEST_NUMBER = 2**63 - 1
"""No size or rate above this is read: byte counts are int64 in every table stagebench writes."""

_UNIT_HELP = "use a number of bytes or a unit from B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"


def shown(value: object, limit: int = 60) -> str:
    """``repr`` for a one-line message: short, and safe for ints too long to print."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return f"<a number of about {int(value.bit_length() * 0.30103)} digits>"
    try:
        text = repr(value)
    except ValueError:  # an int inside a list or table too long to print
        return f"<a {type(value).__name__} holding a number too long to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _exact(value: int | float | str, *, whole: bool) -> Decimal:
    """The exact value of a number or of size text, in bytes; ValueError when there is none
    (or, with ``whole``, when it is not a whole number)."""
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a size; give bytes or a string such as '64KiB'")
    if isinstance(value, int):
        if abs(value) > LARGEST_NUMBER:
            raise ValueError(f"{shown(value)} is too large; the largest number read is 2**63 - 1")
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{shown(value)} is not a finite number")
        if abs(value) > LARGEST_NUMBER:
            raise ValueError(f"{shown(value)} is too large; the largest number read is 2**63 - 1")
        return Decimal(value)
    match = _SIZE_RE.match(str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"{shown(value)} is not a size; {_UNIT_HELP}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{shown(value)} is not a size; {_UNIT_HELP}") from exc
    # Compared before multiplying, so "1e999999999" costs nothing and cannot overflow.
    if number > LARGEST_NUMBER:
        raise ValueError(f"{shown(value)} is too large; the largest number read is 2**63 - 1")
    unit = _UNITS[match.group(2).lower()]
    with localcontext() as context:
        # Enough digits for any product below 2**63 * 1024**4 to be exact. A digit that does not
        # fit lies far below one byte: the value is then not whole, and what is dropped cannot
        # matter to a rate.
        context.prec = 60
        context.traps[Inexact] = True
        try:
            exact = number * unit
        except Inexact:
            context.traps[Inexact] = False
            exact = number * unit
            if whole:
                raise ValueError(f"{shown(value)} is not a whole number of bytes") from None
    if exact > LARGEST_NUMBER:
        raise ValueError(f"{shown(value)} is too large; the largest number read is 2**63 - 1")
    return exact


def parse_size(value: int | float | str) -> int:
    """Return a byte count from an int, a whole float or a string such as "64KiB" or "1.5GB".

    Raises ValueError for text it cannot read, for a value that is not a whole number of bytes,
    and for anything beyond 2**63 - 1 (infinities and NaN included).
    """
    exact = _exact(value, whole=True)
    if exact != exact.to_integral_value():
        raise ValueError(f"{shown(value)} is not a whole number of bytes")
    return int(exact)


def parse_rate(value: int | float | str) -> float:
    """Return bytes per second from a number (bytes/s) or a string such as "100MB/s"."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower().endswith("/s"):
            text = text[:-2]
        return float(_exact(text, whole=False))
    return float(_exact(value, whole=False))


def format_bytes(count: float) -> str:
    """Binary-unit text for a byte count: 1536 -> '1.5 KiB'."""
    count = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


# Byte units, decimal as S3 and EC2 bill them, binary as file systems and instances size them.
MB = 1000**2
GB = 1000**3
MIB = 1024**2
GIB = 1024**3

SIGNIFICANT_FIGURES = 3
NOT_A_NUMBER = "—"  # what a table shows where there is no figure (no compute: no AU)


def format_number(value: object) -> str:
    """A table cell: whole numbers with thousands separators, others to three significant figures
    without exponents; "—" for a missing or non-finite figure, "<0.001" for a tiny one."""
    import numbers

    if value is None:
        return NOT_A_NUMBER
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if not isinstance(value, numbers.Real):
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        return NOT_A_NUMBER
    if number == 0:
        return "0"
    if abs(number) >= 10**SIGNIFICANT_FIGURES:
        return f"{number:,.0f}"
    if abs(number) < 0.001:
        return "<0.001" if number > 0 else ">-0.001"
    import numpy as np

    return np.format_float_positional(
        number, precision=SIGNIFICANT_FIGURES, fractional=False, trim="-"
    )


def format_frame(frame: Any) -> Any:
    """Every cell of a pandas DataFrame as text via ``format_number``."""
    return frame.apply(lambda column: column.map(format_number)).astype(str)


def format_seconds(seconds: float) -> str:
    """A duration as people say it: seconds up to two minutes, then minutes, then hours."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def format_size(nbytes: float) -> str:
    """A size as it was given: whole GB or MB in decimal units, anything else in binary ones."""
    if nbytes >= GB and nbytes % GB == 0:
        return f"{nbytes / GB:g} GB"
    if nbytes >= MB and nbytes % MB == 0:
        return f"{nbytes / MB:g} MB"
    return format_bytes(nbytes)
