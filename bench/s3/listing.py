"""ListObjectsV2 over a prefix, page by page (1,000 keys a page, continuation tokens)."""

from __future__ import annotations

import time
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
    client: Any, bucket: str, prefix: str, *, page_size: int = LIST_PAGE_KEYS
) -> Listing:
    """Every key under ``prefix`` in the order S3 returns them (lexicographic), sequentially."""
    listing = Listing()
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    while True:
        started = time.perf_counter()
        response = await client.list_objects_v2(**kwargs)
        listing.page_times_s.append(time.perf_counter() - started)
        for item in response.get("Contents", ()):
            listing.keys.append(item["Key"])
            listing.sizes.append(int(item["Size"]))
        if not response.get("IsTruncated"):
            return listing
        kwargs["ContinuationToken"] = response["NextContinuationToken"]
