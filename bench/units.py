"""Parsing and formatting of byte sizes and rates ("64KiB", "1.5 GB", "100MB/s")."""

from __future__ import annotations

import re

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
