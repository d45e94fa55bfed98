"""The dataset a scenario describes: keys in lexicographic order, their sizes, their content.

Three sources: synthetic sizes from a seeded distribution, a manifest (CSV/Parquet of key,size),
or an existing ``s3://bucket/prefix`` read as it is (never written to).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bench.progress import Progress
    from bench.s3.client import Endpoint

from bench.config.scenario import RANGES, DatasetConfig, Scenario
from bench.core.sizes import MAX_OBJECT_SIZE
from bench.errors import SafetyError, ScenarioError, StagebenchError
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


def synthetic_sizes(config: DatasetConfig) -> np.ndarray:
    """A synthetic dataset's sizes in key order (its zero-padded keys sort as they are made)."""
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
    return sizes


def build_dataset(config: DatasetConfig) -> Dataset:
    """Keys and sizes for a synthetic or manifest dataset (an s3:// source is listed by the
    S3 layer instead, see ``dataset_from_listing``)."""
    if config.source == "synthetic":
        sizes = synthetic_sizes(config)
        keys = synthetic_keys(config.prefix, config.objects)
        content_index = np.arange(config.objects, dtype=np.int64)
    elif config.source == "manifest":
        assert config.manifest is not None
        if config.manifest.suffix.lower() in (".csv", ".parquet"):
            names, sizes = read_manifest(config.manifest)
            keys = [config.prefix + name for name in names]
        else:  # an S3 Inventory or a saved listing: whole keys under the prefix
            from bench.sources import read_sizes

            listing = read_sizes(config.manifest, prefix=config.prefix)
            keys, sizes = listing.keys.to_pylist(), listing.sizes
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


async def list_existing(
    endpoint: Endpoint, scenario: Scenario, *, progress: Progress | bool = False
) -> Dataset:
    """The dataset as it stands under the scenario's ``s3://`` prefix, read, never written."""
    from bench.progress import as_progress
    from bench.s3.client import async_client, client_config, translate_error
    from bench.s3.listing import list_prefix

    ds = scenario.dataset
    phase = as_progress(progress).phase(f"list s3://{ds.bucket}/{ds.prefix}", unit="key")
    async with async_client(endpoint, client_config()) as client:
        try:
            with phase:
                listing = await list_prefix(
                    client, ds.bucket, ds.prefix, on_page=lambda keys: phase.advance(keys)
                )
        except Exception as exc:
            raise translate_error(exc, endpoint=endpoint, bucket=ds.bucket) from exc
    if not listing.keys:
        raise StagebenchError(f"s3://{ds.bucket}/{ds.prefix} holds no objects; check dataset.uri")
    return dataset_from_listing(ds, listing.keys, listing.sizes)


def dataset_sizes(
    scenario: Scenario, *, profile: str | None = None, progress: Progress | bool = False
) -> np.ndarray:
    """Object sizes in key order, from wherever the scenario's dataset lives."""
    if scenario.dataset.source == "synthetic":
        return synthetic_sizes(scenario.dataset)
    if scenario.dataset.source == "manifest":
        from bench.sources import read_sizes

        assert scenario.dataset.manifest is not None
        listing = read_sizes(scenario.dataset.manifest, prefix=scenario.dataset.prefix, keys=False)
        return listing.sizes
    from bench.s3.endpoint import open_storage_endpoint

    with open_storage_endpoint(scenario.storage, profile=profile) as endpoint:
        return asyncio.run(list_existing(endpoint, scenario, progress=progress)).sizes


def populate_dataset(endpoint: Endpoint, dataset: Dataset, **options: Any) -> Any:
    """Make the endpoint hold ``dataset`` exactly, writing only what is missing
    (``bench.s3.populate.populate_async``; ``options``: its ``progress``, ``checksum``).
    Returns its ``PopulateReport``."""
    from bench.s3.populate import populate_async

    return asyncio.run(
        populate_async(
            endpoint,
            bucket=dataset.bucket,
            prefix=dataset.prefix,
            keys=dataset.keys,
            sizes=dataset.sizes,
            content_index=dataset.content_index,
            seed=dataset.seed,
            fingerprint=dataset.fingerprint(),
            **options,
        )
    )


def screen_dataset(dataset: Dataset, unsafe_keys: str) -> tuple[Dataset, dict[str, Any]]:
    """Keep the keys that are files with a safe local path (``bench.s3.keys``), for every mode.

    Folder markers are always left out. Unsafe keys raise a SafetyError that names the first,
    unless ``unsafe_keys`` is "skip": then they are left out too. Returns the dataset and the
    counts for the run summary.
    """
    from bench.s3.keys import describe_unsafe, screen_keys

    screen = screen_keys(dataset.prefix, dataset.keys, dataset.sizes)
    if screen.unsafe and unsafe_keys != "skip":
        raise SafetyError(describe_unsafe(screen, bucket=dataset.bucket, total=dataset.objects))
    counts: dict[str, Any] = {
        "folder_markers_skipped": len(screen.folder_markers),
        "unsafe_keys_skipped": len(screen.unsafe),
        "unsafe_keys_by_problem": screen.counts(),
    }
    if len(screen.files) == dataset.objects:
        return dataset, counts
    if not len(screen.files):
        raise StagebenchError(
            f"s3://{dataset.bucket}/{dataset.prefix} holds no files: "
            f"{len(screen.folder_markers)} folder markers and {len(screen.unsafe)} unsafe keys "
            "were left out; check dataset.uri"
        )
    kept = screen.files
    return (
        replace(
            dataset,
            keys=[dataset.keys[i] for i in kept],
            sizes=dataset.sizes[kept],
            content_index=dataset.content_index[kept],
        ),
        counts,
    )


def left_out_note(counts: dict[str, Any]) -> str:
    """ "; left out: 2 folder markers, 5 unsafe keys" for the dataset line, or ""."""
    skipped = [
        f"{counts[name]} {what}"
        for name, what in (
            ("folder_markers_skipped", "folder markers"),
            ("unsafe_keys_skipped", "unsafe keys"),
        )
        if counts.get(name)
    ]
    return f"; left out: {', '.join(skipped)}" if skipped else ""
