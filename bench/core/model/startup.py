"""What a mode waits for before its first data: a FastFile host's listing of the prefix, and
the first answer of a Pipe burst on an endpoint that works on every request together."""

from __future__ import annotations

import numpy as np

from bench.core.model.clocks import Links, request_alone
from bench.core.model.inputs import LIST_PAGE_KEYS, Storage


def list_pages(keys: int) -> int:
    """LIST requests for ``keys`` keys (an empty prefix still takes one)."""
    return max(1, -(-keys // LIST_PAGE_KEYS))


def listing_s(keys: int, storage: Storage) -> float:
    """Seconds to list ``keys`` keys alone: 1,000-key pages one after another, the last one
    (or the only one, for fewer keys) shorter by what its missing keys save."""
    pages = list_pages(keys)
    missing = pages * LIST_PAGE_KEYS - keys
    return max(pages * storage.list_page_s - missing * storage.list_key_s, 0.0)


def prefix_listing_s(keys: int, storage: Storage, listing_hosts: int) -> float:
    """Seconds for each of ``listing_hosts`` hosts listing ``keys`` keys at once: stretched by
    ``hosts / list_parallel`` when more list than the endpoint serves in parallel."""
    parallel = storage.list_parallel
    stretch = max(1.0, listing_hosts / parallel) if parallel > 0 else 1.0
    return listing_s(keys, storage) * stretch


def pipe_first_data(sizes: np.ndarray, links: Links, chunk_bytes: int, window: int) -> np.ndarray:
    """Per row, when the first chunk of the first object reaches the consumer.

    On an endpoint that serves in order this is one request on idle resources. On one that
    works on requests together (``burst_s_per_request``), the first ``window`` requests of every
    host go out at once, host after host (when that is more than one request); the first answer
    of the burst comes after its whole count times that cost (its first chunk, not its bytes: a
    large burst is not slower to begin), and the endpoint then answers in issue order: a host's
    first request waits, beyond that, for one gate slot of the whole endpoint
    (``1 / requests_per_s``) and the whole-object bytes (at the endpoint's bandwidth) of every
    request issued before it. Hosts that share one row (FullyReplicated) take the last of them,
    the one the job waits for.
    """
    rows = sizes.shape[1]
    first = sizes[0] if sizes.shape[0] else np.zeros(rows, dtype=np.int64)
    alone = request_alone(links, np.minimum(first, chunk_bytes).astype(np.float64), first > 0)
    if not links.burst_s or window <= 1:
        return alone
    burst = sizes[:window]
    count = np.count_nonzero(burst, axis=0)
    copies = max(1, links.sharing_hosts // max(1, int(np.count_nonzero(count))))
    if int(count.sum()) * copies <= 1:  # a single request is no burst
        return alone
    slot = links.gate_interval_s / links.sharing_hosts if links.gate_interval_s else 0.0
    per_byte = 1.0 / links.endpoint_bps if links.endpoint_bps > 0 else 0.0
    own = count * slot + burst.sum(axis=0, dtype=np.float64) * per_byte  # one host's burst
    before = np.cumsum(own) - own + (copies - 1) * own  # the hosts issued before it
    wait = float(count.sum()) * copies * links.burst_s + before
    return np.where(first > 0, np.maximum(alone, wait), 0.0)
