"""The dataset a scenario describes: keys in lexicographic order, their sizes, their content.

Three sources: synthetic sizes from a seeded distribution, a manifest (CSV/Parquet of key,size),
or an existing ``s3://bucket/prefix`` read as it is (never written to).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.sizes import MAX_OBJECT_SIZE
from bench.errors import ScenarioError
from bench.scenario import RANGES, DatasetConfig
from bench.units import shown

MAX_MANIFEST_ROWS = int(RANGES["dataset.objects"].high)
MAX_DATASET_BYTES = 2**62
"""4 EiB: far beyond any dataset, and every byte total (per host, per epoch) stays in int64."""


@dataclass(frozen=True)
class Dataset:
    source: str
    bucket: str
    prefix: str
    keys: list[str]  # sorted lexicographically
    sizes: np.ndarray  # int64, aligned with keys
    content_index: np.ndarray  # which synthetic content each object carries
    seed: int
    owned: bool  # stagebench creates (and may rewrite) these objects

    @property
    def objects(self) -> int:
        return len(self.keys)

    @property
    def total_bytes(self) -> int:
        return int(self.sizes.sum())

    def fingerprint(self) -> str:
        """Identifies the content: same fingerprint, same bytes under the same keys."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self.seed, self.prefix, len(self.keys)]).encode())
        digest.update(np.ascontiguousarray(self.sizes, dtype=np.int64).tobytes())
        digest.update("\n".join(self.keys).encode())
        return digest.hexdigest()[:16]


def synthetic_keys(prefix: str, count: int) -> list[str]:
    width = max(8, len(str(count - 1)))
    return [f"{prefix}{i:0{width}d}.bin" for i in range(count)]


def read_manifest(path: Path) -> tuple[list[str], np.ndarray]:
    """Keys and sizes from a CSV or Parquet file with columns key,size.

    Sizes are read exactly: a fraction, a negative number or a size beyond the largest S3
    object is an error naming the row, never truncated or wrapped by a cast to int64.
    """
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        else:
            # Sizes as text: a float or int64 parse would round 2**63 or wrap it negative.
            table = pd.read_csv(path, dtype={"key": str, "size": str}, keep_default_na=False)
    except Exception as exc:
        raise ScenarioError(f"{path}: cannot read manifest: {exc}".splitlines()[0]) from exc
    missing = {"key", "size"} - set(table.columns)
    if missing:
        raise ScenarioError(
            f"{path}: manifest lacks column(s) {', '.join(sorted(missing))}; "
            "it needs a header row 'key,size'"
        )
    if len(table) == 0:
        raise ScenarioError(f"{path}: manifest has no rows")
    if len(table) > MAX_MANIFEST_ROWS:
        raise ScenarioError(
            f"{path}: manifest has {len(table):,} rows, more than {MAX_MANIFEST_ROWS:,} "
            "(the largest dataset.objects); split it into smaller scenarios"
        )
    sizes, bad = _manifest_sizes(table["size"])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ScenarioError(
            f"{path}: manifest row {row + 2} has size {shown(_plain(table['size'].iloc[row]))}; "
            f"sizes must be whole numbers of bytes from 0 to {MAX_OBJECT_SIZE} (48.8 TiB, the "
            f"largest S3 object); {int(bad.sum())} row(s) in all"
        )
    if table["key"].isna().any() or table["key"].duplicated().any():
        raise ScenarioError(f"{path}: manifest keys must be present and unique")
    total = float(sizes.sum(dtype=np.float64))
    if total > MAX_DATASET_BYTES:
        raise ScenarioError(
            f"{path}: the manifest's sizes add up to {total:.3g} bytes, more than "
            f"{MAX_DATASET_BYTES:.3g} (4 EiB); split it into smaller scenarios"
        )
    return table["key"].astype(str).tolist(), sizes


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _manifest_sizes(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """A manifest's sizes as int64 and a mask of the rows that are not a size in range."""
    import pandas as pd

    values = column.to_numpy()
    if pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_float_dtype(column.dtype):
        # Compared as they are (uint64 and float64 included), before any cast to int64.
        with np.errstate(invalid="ignore"):
            ok = (values >= 0) & (values <= MAX_OBJECT_SIZE)
            if pd.api.types.is_float_dtype(column.dtype):
                ok &= np.isfinite(values) & (np.floor(values) == values)
        ok = np.asarray(ok, dtype=bool)
        sizes = np.where(ok, values, 0).astype(np.int64)
        return sizes, ~ok
    # Text (CSV, or a Parquet string column): digits, optionally ".0…" as floats print them.
    text = column.astype(str).str.strip()
    digits = text.str.extract(r"^\+?0*([0-9]+?)(?:\.0*)?$", expand=False)
    longest = len(str(MAX_OBJECT_SIZE))
    ok = digits.notna() & (digits.str.len() <= longest)
    sizes = np.zeros(len(text), dtype=np.int64)
    sizes[ok.to_numpy()] = digits[ok].astype(np.int64).to_numpy()
    ok &= sizes <= MAX_OBJECT_SIZE
    return sizes, ~ok.to_numpy()


def build_dataset(config: DatasetConfig) -> Dataset:
    """Keys and sizes for a synthetic or manifest dataset (an s3:// source is listed by the
    S3 layer instead, see ``dataset_from_listing``)."""
    if config.source == "synthetic":
        from bench.core.sizes import sample_sizes

        rng = np.random.default_rng(config.seed)
        sizes = sample_sizes(config.sizes, config.objects, rng).astype(np.int64)
        total = float(sizes.sum(dtype=np.float64))
        if total > MAX_DATASET_BYTES:
            raise ScenarioError(
                f"dataset.sizes: {config.objects:,} objects drawn from these sizes hold "
                f"{total:.3g} bytes, more than {MAX_DATASET_BYTES:.3g} (4 EiB); lower "
                "dataset.objects or the sizes"
            )
        keys = synthetic_keys(config.prefix, config.objects)
        content_index = np.arange(config.objects, dtype=np.int64)
    elif config.source == "manifest":
        assert config.manifest is not None
        names, sizes = read_manifest(config.manifest)
        keys = [config.prefix + name for name in names]
        order = np.argsort(np.array(keys, dtype=object), kind="stable")
        keys = [keys[i] for i in order]
        sizes = sizes[order]
        content_index = order.astype(np.int64)
    else:
        raise ValueError("s3 datasets come from dataset_from_listing")
    return Dataset(
        source=config.source,
        bucket=config.bucket,
        prefix=config.prefix,
        keys=keys,
        sizes=sizes,
        content_index=content_index,
        seed=config.seed,
        owned=True,
    )


def dataset_from_listing(config: DatasetConfig, keys: list[str], sizes: list[int]) -> Dataset:
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return Dataset(
        source="s3",
        bucket=config.bucket,
        prefix=config.prefix,
        keys=[keys[i] for i in order],
        sizes=np.asarray([sizes[i] for i in order], dtype=np.int64),
        content_index=np.asarray(order, dtype=np.int64),
        seed=config.seed,
        owned=False,
    )
