"""The one result every source returns, the S3 size ceiling, and where a bad row sits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from bench.core.sizes import MAX_OBJECT_SIZE
from bench.errors import ScenarioError

SIZE_RULE = f"sizes must be whole numbers of bytes from 0 to {MAX_OBJECT_SIZE:,} (the S3 maximum)"


@dataclass(frozen=True)
class Listing:
    """Keys and sizes of one dataset, in S3's key order (UTF-8 byte order), keys unique.

    ``keys`` are whole object keys (the prefix included), or None when they were not asked
    for; ``sizes`` is int64 and aligned with them.
    """

    keys: pa.LargeStringArray | None
    sizes: np.ndarray
    source: str  # "manifest" | "inventory" | "aws-s3-ls"
    format: str  # "csv" | "parquet" | "orc" | "text"
    path: str  # the file or s3:// URI that was read
    bucket: str | None  # the source bucket, when the file says it
    prefix: str
    as_of: datetime | None  # when the listing was taken, when known
    files: int = 1  # data files read

    @property
    def objects(self) -> int:
        return int(self.sizes.size)

    @property
    def total_bytes(self) -> int:
        return int(self.sizes.sum(dtype=np.int64))

    @property
    def description(self) -> str:
        """One line for a report: what was read, how much it holds and how old it is."""
        kind = {
            "manifest": f"{_FORMAT_NAMES.get(self.format, self.format)} key,size manifest",
            "inventory": f"S3 Inventory ({_FORMAT_NAMES.get(self.format, self.format)}, "
            f"{self.files} data file{'s' if self.files != 1 else ''})",
            "aws-s3-ls": "saved 'aws s3 ls --recursive' listing",
        }.get(self.source, self.source)
        where = f"s3://{self.bucket}/{self.prefix}" if self.bucket else repr(self.prefix or "")
        when = f", taken {self.as_of:%Y-%m-%d %H:%M} UTC" if self.as_of else ""
        objects = f"{self.objects:,} object{'s' if self.objects != 1 else ''}"
        return (
            f"{objects}, {self.total_bytes / 1e9:,.3f} GB under {where} "
            f"from {kind} {self.path}{when}"
        )


_FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet", "orc": "ORC"}


@dataclass(frozen=True)
class Where:
    """Names a row of one file in messages: ``line 7`` for text, ``row 7`` otherwise."""

    file: str
    unit: str = "row"
    first: int = 1  # the number of the first data row (2 under a CSV header)

    def row(self, index: int) -> str:
        return f"{self.unit} {index + self.first}"

    def fail(self, index: int | None, problem: str, fix: str) -> ScenarioError:
        at = f" {self.row(index)}" if index is not None else ""
        return ScenarioError(f"{self.file}{at}: {problem}; {fix}")


def clip(text: object, width: int = 60) -> str:
    """A value quoted for a one-line message, cut short when long."""
    shown = repr(text)
    return shown if len(shown) <= width else shown[: width - 4] + "...'"
