"""Reading one CSV file with pyarrow, turning its failures into one line that names the row."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv

from bench.sources._listing import Where, clip

Opener = Callable[[], pa.NativeFile | str]


def read_csv(
    open_source: Opener,
    *,
    where: Where,
    column_names: list[str] | None,
    types: dict[str, pa.DataType],
    size_column: str,
    shape_fix: str,
) -> pa.Table:
    """The columns in ``types`` of one CSV file (gzip when its name says so).

    ``size_column`` is read as int64 — the fast path — and read again as text only when a
    value does not parse, so that the size check can name the row and say what is wrong.
    """
    try:
        return _read(open_source(), column_names, types, use_threads=True)
    except (pa.ArrowInvalid, OSError) as exc:
        message = str(exc)
        if "conversion error" in message and size_column in types:
            as_text = {**types, size_column: pa.large_string()}
            try:
                return _read(open_source(), column_names, as_text, use_threads=True)
            except (pa.ArrowInvalid, OSError) as again:
                exc, message = again, str(again)
        if "CSV parse error" in message:
            raise _shape_error(open_source, where, column_names, types, shape_fix) from exc
        raise where.fail(
            None,
            f"cannot be read as CSV ({message.splitlines()[0] if message else type(exc).__name__})",
            "check that the file is complete and in the format its name says",
        ) from exc


def _read(
    source: pa.NativeFile | str,
    column_names: list[str] | None,
    types: dict[str, pa.DataType],
    *,
    use_threads: bool,
    on_invalid_row: Callable | None = None,
) -> pa.Table:
    return pa_csv.read_csv(
        source,
        read_options=pa_csv.ReadOptions(
            column_names=column_names, use_threads=use_threads, block_size=8 << 20
        ),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid_row),
        convert_options=pa_csv.ConvertOptions(
            include_columns=list(types),
            column_types=types,
            # Only an empty field is missing ("" too: S3 quotes the empty size of a delete
            # marker); "NaN" or "null" as a size is an error to report. Keys are never null.
            null_values=[""],
            strings_can_be_null=False,
        ),
    )


def _shape_error(
    open_source: Opener,
    where: Where,
    column_names: list[str] | None,
    types: dict[str, pa.DataType],
    fix: str,
) -> Exception:
    """Read again on one thread, where pyarrow numbers rows, to name the first ragged one."""
    ragged: list = []

    def first_ragged(row: pa_csv.InvalidRow) -> str:
        ragged.append(row)
        return "error"

    text_types = dict.fromkeys(types, pa.large_string())
    with contextlib.suppress(pa.ArrowInvalid, OSError):
        _read(
            open_source(), column_names, text_types, use_threads=False, on_invalid_row=first_ragged
        )
    if not ragged:
        return where.fail(None, "has rows of different lengths", fix)
    row = ragged[0]
    line = f"line {row.number}" if row.number is not None else "a row"
    return where.fail(
        None,
        f"{line} has {row.actual_columns} fields where {row.expected_columns} are expected "
        f"({clip(row.text)})",
        fix,
    )


def gzip_source(source: Path | bytes) -> pa.NativeFile | str:
    """A gzip file (a path, or its bytes fetched from S3) opened for ``read_csv``, inflated by
    ISA-L (python-isal), which inflates about twice as fast as zlib: a 5M-row inventory file is
    650 MB of text, and inflating it on one thread is most of the read. Without isal, pyarrow
    inflates it itself."""
    try:
        from isal import igzip
    except ImportError:
        if isinstance(source, Path):
            return str(source)
        return pa.input_stream(pa.py_buffer(source), compression="gzip")
    raw = igzip.open(source, "rb") if isinstance(source, Path) else igzip.open(io.BytesIO(source))
    return pa.PythonFile(_InflateErrorsAsOSError(raw), mode="r")


class _InflateErrorsAsOSError:
    """A file whose damaged-stream errors (ISA-L's own, or a stream cut short) arrive as
    OSError, as pyarrow's gzip reader reports them, so the one-line message stays the same."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size)
        except OSError:
            raise
        except Exception as exc:  # IsalError, EOFError: the stream is not whole gzip
            raise OSError(f"gzip: {exc}") from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
