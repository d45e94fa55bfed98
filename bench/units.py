"""Parsing and formatting of byte sizes and rates ("64KiB", "1.5 GB", "100MB/s")."""

from __future__ import annotations

import math
import re
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


def parse_size(value: int | float | str) -> int:
    """Return a byte count from an int, a float or a string such as "64KiB" or "1.5GB".

    Raises ValueError naming the accepted units when the text cannot be read.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size; give bytes or a string such as '64KiB'")
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE_RE.match(str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(
            f"{value!r} is not a size; use a number of bytes or a unit from "
            "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_rate(value: int | float | str) -> float:
    """Return bytes per second from a number (bytes/s) or a string such as "100MB/s"."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower().endswith("/s"):
            text = text[:-2]
        return float(parse_size(text))
    return float(parse_size(value))


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
