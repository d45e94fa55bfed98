"""The dataset a scenario describes: keys in lexicographic order, their sizes, their content.

Three sources: synthetic sizes from a seeded distribution, a manifest (CSV/Parquet of key,size),
or an existing ``s3://bucket/prefix`` read as it is (never written to).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bench.s3.client import Endpoint

from bench.config.scenario import DatasetConfig, Scenario
from bench.errors import ScenarioError, StagebenchError


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
    """Keys and sizes from a CSV or Parquet file with columns key,size."""
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, dtype={"key": str})
    except Exception as exc:
        raise ScenarioError(f"{path}: cannot read manifest: {exc}".splitlines()[0]) from exc
    missing = {"key", "size"} - set(table.columns)
    if missing:
        raise ScenarioError(
            f"{path}: manifest lacks column(s) {', '.join(sorted(missing))}; "
            "it needs a header row 'key,size'"
        )
    sizes = pd.to_numeric(table["size"], errors="coerce")
    bad = sizes.isna() | (sizes < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ScenarioError(
            f"{path}: manifest row {row + 2} has size {table['size'].iloc[row]!r}; "
            "sizes must be whole numbers of bytes >= 0"
        )
    if table["key"].isna().any() or table["key"].duplicated().any():
        raise ScenarioError(f"{path}: manifest keys must be present and unique")
    if len(table) == 0:
        raise ScenarioError(f"{path}: manifest has no rows")
    return table["key"].astype(str).tolist(), sizes.to_numpy(dtype=np.int64)


def synthetic_sizes(config: DatasetConfig) -> np.ndarray:
    """A synthetic dataset's sizes in key order (its zero-padded keys sort as they are made)."""
    from bench.core.sizes import sample_sizes

    rng = np.random.default_rng(config.seed)
    return sample_sizes(config.sizes, config.objects, rng).astype(np.int64)


def manifest_sizes(path: Path) -> np.ndarray:
    """A manifest's sizes in key order, read and sorted in pyarrow (no Python object per row:
    millions of rows take seconds). Checks as ``read_manifest`` does."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            from pyarrow import csv

            table = csv.read_csv(
                path, convert_options=csv.ConvertOptions(column_types={"key": pa.string()})
            )
    except (pa.ArrowException, OSError) as exc:
        raise ScenarioError(f"{path}: cannot read manifest: {exc}".splitlines()[0]) from exc
    missing = {"key", "size"} - set(table.column_names)
    if missing:
        raise ScenarioError(
            f"{path}: manifest lacks column(s) {', '.join(sorted(missing))}; "
            "it needs a header row 'key,size'"
        )
    if table.num_rows == 0:
        raise ScenarioError(f"{path}: manifest has no rows")
    try:
        sizes = pc.cast(table["size"], pa.int64())
    except pa.ArrowException:
        sizes = None
    if sizes is None or sizes.null_count or pc.any(pc.less(sizes, 0)).as_py():
        # The slow reader names the first bad row.
        read_manifest(path)
        raise ScenarioError(f"{path}: manifest sizes must be whole numbers of bytes >= 0")
    keys = pc.cast(table["key"], pa.string()).combine_chunks()
    if keys.null_count:
        raise ScenarioError(f"{path}: manifest keys must be present and unique")
    # Listings and inventories usually come sorted: then no sort at all.
    ordered = bool(pc.all(pc.less(keys[:-1], keys[1:])).as_py()) if len(keys) > 1 else True
    if not ordered:
        order = pc.sort_indices(keys)
        keys, sizes = pc.take(keys, order), pc.take(sizes, order)
        if len(keys) > 1 and pc.any(pc.equal(keys[:-1], keys[1:])).as_py():
            raise ScenarioError(f"{path}: manifest keys must be present and unique")
    return sizes.to_numpy().astype(np.int64, copy=False)


def build_dataset(config: DatasetConfig) -> Dataset:
    """Keys and sizes for a synthetic or manifest dataset (an s3:// source is listed by the
    S3 layer instead, see ``dataset_from_listing``)."""
    if config.source == "synthetic":
        sizes = synthetic_sizes(config)
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


async def list_existing(endpoint: Endpoint, scenario: Scenario) -> Dataset:
    """The dataset as it stands under the scenario's ``s3://`` prefix, read, never written."""
    from bench.s3.client import async_client, client_config, translate_error
    from bench.s3.listing import list_prefix

    ds = scenario.dataset
    async with async_client(endpoint, client_config()) as client:
        try:
            listing = await list_prefix(client, ds.bucket, ds.prefix)
        except Exception as exc:
            raise translate_error(exc, endpoint=endpoint, bucket=ds.bucket) from exc
    if not listing.keys:
        raise StagebenchError(f"s3://{ds.bucket}/{ds.prefix} holds no objects; check dataset.uri")
    return dataset_from_listing(ds, listing.keys, listing.sizes)


def dataset_sizes(scenario: Scenario, *, profile: str | None = None) -> np.ndarray:
    """Object sizes in key order, from wherever the scenario's dataset lives."""
    if scenario.dataset.source == "synthetic":
        return synthetic_sizes(scenario.dataset)
    if scenario.dataset.source == "manifest":
        assert scenario.dataset.manifest is not None
        return manifest_sizes(scenario.dataset.manifest)
    from bench.s3.endpoint import open_endpoint

    with open_endpoint(
        scenario.storage.endpoint, region=scenario.storage.region, profile=profile
    ) as endpoint:
        return asyncio.run(list_existing(endpoint, scenario)).sizes
