"""What a run will cost on AWS before it starts: requests, bytes and dollars.

Prices are S3 Standard list prices in us-east-1 (aws.amazon.com/s3/pricing, as listed in
2025-2026): GET $0.0004 per 1,000, PUT/LIST $0.005 per 1,000; transfer from S3 to compute in
the same region is free, to the internet about $0.09/GB. They are estimates to decide whether
to go on, not a bill.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.vocabulary import LIST_PAGE_KEYS

GET_PER_1000 = 0.0004
PUT_PER_1000 = 0.005
LIST_PER_1000 = 0.005
EGRESS_PER_GB = 0.09
CONFIRM_ABOVE_USD = 0.10


def instance_usd(hosts: int, seconds: float, hourly_price: float) -> float:
    """What ``hosts`` instances cost for ``seconds`` each at ``hourly_price``."""
    return hosts * seconds / 3600 * hourly_price


def requests_usd(
    gets: int,
    lists: int,
    *,
    get_per_1000: float = GET_PER_1000,
    list_per_1000: float = LIST_PER_1000,
) -> float:
    """What ``gets`` GETs and ``lists`` LISTs cost (S3 Standard list prices by default)."""
    return (gets * get_per_1000 + lists * list_per_1000) / 1000


@dataclass(frozen=True)
class RunEstimate:
    puts: int
    put_bytes: int
    gets: int
    get_bytes: int
    lists: int

    @property
    def request_usd(self) -> float:
        return (
            self.gets * GET_PER_1000 + self.puts * PUT_PER_1000 + self.lists * LIST_PER_1000
        ) / 1000

    @property
    def egress_usd(self) -> float:
        """If the readers run outside AWS, every byte read leaves S3."""
        return self.get_bytes / 1e9 * EGRESS_PER_GB

    def describe(self) -> str:
        return (
            f"up to {self.puts} PUTs ({self.put_bytes / 1e9:.2f} GB), {self.gets} GETs "
            f"({self.get_bytes / 1e9:.2f} GB), {self.lists} LISTs: about "
            f"${self.request_usd:.2f} in requests, plus ${self.egress_usd:.2f} of transfer if "
            "this machine is outside the bucket's region"
        )


def estimate_run(
    *,
    objects_per_host: list[int],
    bytes_per_host: list[int],
    modes: tuple[str, ...],
    epochs: int,
    populate_objects: int,
    populate_bytes: int,
    listed_keys: int,
    fastfile_gets_per_epoch: int | None = None,
) -> RunEstimate:
    """Requests a run makes: File reads each shard once; Pipe and FastFile every epoch."""
    gets = get_bytes = lists = 0
    host_objects, host_bytes = sum(objects_per_host), sum(bytes_per_host)
    for mode in modes:
        repeat = 1 if mode == "file" else epochs
        if mode == "fastfile" and fastfile_gets_per_epoch is not None:
            gets += fastfile_gets_per_epoch * epochs
        else:
            gets += host_objects * repeat
        get_bytes += host_bytes * repeat
        if mode == "fastfile":
            lists += len(objects_per_host) * max(1, -(-listed_keys // LIST_PAGE_KEYS))
    return RunEstimate(populate_objects, populate_bytes, gets, get_bytes, lists)
