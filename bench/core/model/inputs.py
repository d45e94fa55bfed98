"""What a job is, for the model: the storage's numbers, the data paths' settings, the training.

Plain frozen values that check themselves; the modes and the constants the semantics name.
"""

from __future__ import annotations

from dataclasses import dataclass

# Re-exported: the model's semantics name them.
from bench.vocabulary import LIST_PAGE_KEYS as LIST_PAGE_KEYS
from bench.vocabulary import MODES as MODES

# Chunks a non-head Pipe object may hold before it waits: two queued, one in hand.
PIPE_HELD_CHUNKS = 3
# Items per host (objects, or merged runs of them) the loops step through exactly.
MAX_EXACT_ITEMS = 20_000
# Steps times distinct hosts kept exactly before consecutive steps are merged.
MAX_STEPS = 20_000_000


@dataclass(frozen=True)
class Storage:
    """The numbers of a storage profile the model needs, already resolved for one job.

    Rates in bytes/s or requests/s; 0 means "no limit".
    """

    latency_s: float
    connection_bps: float
    nic_bps: float = 0.0
    volume_write_bps: float = 0.0
    volume_read_bps: float = 0.0
    requests_per_s: float = 0.0  # shared by every host of the job
    endpoint_bps: float = 0.0  # shared by every host of the job
    list_page_s: float = 0.1  # one 1,000-key page at this bucket's size
    # Seconds a page saves per key fewer than 1,000: a page of k keys costs
    # list_page_s - (1000 - k) x this (the last page of a listing is usually short); 0: all
    # pages cost a full page.
    list_key_s: float = 0.0
    list_parallel: float = 0.0  # LIST pages the endpoint serves at once; 0 = no limit
    # Seconds per request before the first answer of a burst issued at once (a local server
    # that works on every request together: K requests answer first after K x this); 0: none.
    burst_s_per_request: float = 0.0
    # Bytes/s the client checks whole objects against their ETag (MD5, File and Pipe, when the
    # path verifies). With an endpoint bandwidth the two share one machine's CPU (a local
    # server): each byte costs 1/endpoint + 1/verify seconds of it; otherwise a per-host cap.
    verify_bps: float = 0.0
    # The consumer's event-loop timer: a compute step of c seconds ends at the first whole tick
    # at or after c (from the step's start), plus the wake-up latency; 0: exact.
    timer_tick_s: float = 0.0
    timer_wake_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency_s", "list_page_s", "list_key_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Storage.{name} = {getattr(self, name)!r}: must be >= 0")
        if not self.connection_bps > 0:
            raise ValueError(f"Storage.connection_bps = {self.connection_bps!r}: must be > 0")
        for name in (
            "nic_bps",
            "volume_write_bps",
            "volume_read_bps",
            "requests_per_s",
            "timer_tick_s",
            "timer_wake_s",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Storage.{name} = {getattr(self, name)!r}: must be >= 0")


@dataclass(frozen=True)
class PathParams:
    """The data-path settings of a scenario (``[cluster]``, ``[pipe]``, ``[fastfile]``)."""

    concurrency: int = 8
    prefetch: int = 4
    chunk_bytes: int = 1024 * 1024
    part_size: int = 8 * 1024 * 1024
    read_ahead: int = 2
    access: str = "sequential"
    record_size: int = 64 * 1024
    reads_per_file: int = 4
    verify_etag: bool = False  # File and Pipe check whole objects' MD5 (Storage.verify_bps)


@dataclass(frozen=True)
class Training:
    """The simulated training loop (``[training]``)."""

    epochs: int = 1
    compute_bps: float = 0.0
    step_bytes: int = 1024 * 1024
    barrier: bool = True
    shuffle_seed: int | None = None
    readers: int = 1  # files a FastFile host reads at once (a data loader's workers)

    def __post_init__(self) -> None:
        if self.readers < 1:
            raise ValueError(f"Training.readers = {self.readers!r}: must be >= 1")
