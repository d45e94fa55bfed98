"""ListObjectsV2 over a prefix, page by page (1,000 keys a page, continuation tokens)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.vocabulary import LIST_PAGE_KEYS


@dataclass
class Listing:
    keys: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    page_times_s: list[float] = field(default_factory=list)  # wall time of each page request

    @property
    def pages(self) -> int:
        return len(self.page_times_s)


async def list_prefix(
    client: Any,
    bucket: str,
    prefix: str,
    *,
    page_size: int = LIST_PAGE_KEYS,
    on_page: Callable[[int], None] | None = None,
) -> Listing:
    """Every key under ``prefix`` in the order S3 returns them (lexicographic), sequentially.
    ``on_page`` is told each page's key count as it arrives."""
    listing = Listing()
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    while True:
        started = time.perf_counter()
        response = await client.list_objects_v2(**kwargs)
        listing.page_times_s.append(time.perf_counter() - started)
        contents = response.get("Contents", ())
        for item in contents:
            listing.keys.append(item["Key"])
            listing.sizes.append(int(item["Size"]))
        if on_page is not None:
            on_page(len(contents))
        if not response.get("IsTruncated"):
            return listing
        kwargs["ContinuationToken"] = response["NextContinuationToken"]
