"""The saved text of ``aws s3 ls --recursive s3://bucket/prefix/``.

Each object is one line: the local date and time it was last modified, its size right-aligned
in ten columns, one space, then the whole key (which may hold spaces, even leading ones).
``--summarize`` adds "Total Objects:" and "Total Size:" lines, which are skipped; a listing
without ``--recursive`` shows "PRE folder/" lines and keys relative to the prefix, and is refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.errors import ScenarioError
from bench.sources._keys import under_prefix
from bench.sources._listing import SIZE_RULE, Where, clip
from bench.sources._sizes import sizes_from_column

_LINE = (
    r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) +(?P<size>\S+) (?P<key>.*?)\r?\n?$"
)
_SKIPPED = r"^\s*(Total Objects: .*|Total Size: .*)?\r?\n?$"
_FIRST_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} +\S+ ")


def looks_like_listing(head: str) -> bool:
    """Whether the first non-blank line of a text file is an ``aws s3 ls`` object line."""
    first = next((line for line in head.splitlines() if line.strip()), "")
    return bool(_FIRST_LINE.match(first))


def read_listing(path: Path, *, prefix: str) -> tuple[pa.LargeStringArray, np.ndarray, datetime]:
    """Keys under the prefix and their sizes, and when the listing was saved."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
        saved = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    where = Where(str(path), "line", 1)
    lines = _lines(data, where)
    fields = pc.extract_regex(lines, _LINE)
    matched = fields.is_valid().to_numpy(zero_copy_only=False)
    if not matched.all():
        skipped = pc.match_substring_regex(lines, _SKIPPED).to_numpy(zero_copy_only=False)
        unknown = ~matched & ~skipped
        if unknown.any():
            index = int(np.argmax(unknown))
            text = lines[index].as_py().rstrip("\r\n")
            fix = (
                "save the listing of 'aws s3 ls --recursive' (without --recursive it shows "
                "folders as PRE lines)"
                if text.lstrip().startswith("PRE ")
                else "the file must be the output of 'aws s3 ls --recursive s3://bucket/prefix/'"
                " (without --human-readable)"
            )
            raise where.fail(index, f"is not an object line ({clip(text)})", fix)
    keys = fields.field("key").cast(pa.large_string())
    keep = matched.copy()
    inside = under_prefix(keys, prefix)
    if inside is not None:
        keep &= inside
    sizes = sizes_from_column(
        fields.field("size"),
        keep=keep,
        where=where,
        fix=f"{SIZE_RULE}; save the listing without --human-readable",
    )
    return keys.filter(pa.array(keep)), sizes[keep], saved


def _lines(data: np.ndarray, where: Where) -> pa.LargeStringArray:
    """Every line of the file (newline kept) as one string array over the file's own bytes."""
    ends = np.flatnonzero(data == ord("\n")) + 1
    if data.size and (ends.size == 0 or ends[-1] != data.size):
        ends = np.append(ends, data.size)
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    lines = pa.Array.from_buffers(
        pa.large_string(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid as exc:
        index = re.search(r"index (\d+)", str(exc))
        raise where.fail(
            int(index.group(1)) if index else None,
            "is not UTF-8 text",
            "save the listing as the aws CLI prints it (UTF-8)",
        ) from exc
    return lines
