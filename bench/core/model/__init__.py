"""The timeline model: what the live data paths would measure, computed from a storage profile.

Pure numpy over arrays, no I/O. Given object sizes (key order), a sharding rule, the numbers of
a storage profile (``Storage``), the data-path settings (``PathParams``) and the simulated
training (``Training``), it computes per mode and host the columns the live paths write:
``startup_s``, per-epoch ``epoch_s``, ``stall_s``, ``au``, ``gets``, ``lists``, ``bytes``.

The semantics, mirrored exactly by the slow simulation in ``bench.core.reference``:

Requests. A GET issued at ``t`` on an idle connection has its first byte at ``t + L`` (the
profile's mean first-byte latency, plus any emulated delay) and its last byte ``size / bw``
later (``bw`` = bandwidth of one connection). Two host-level resources are served in the order
requests are issued, like ``NicCap``'s virtual clock:

- the *request gate*: the endpoint's request-rate limit ``R`` (GET/s, shared by the prefix or
  by the embedded server) split evenly over the hosts that read anything, so each host may
  start serving one request every ``hosts / R`` seconds; a request's first byte is no earlier
  than its gate slot;
- the *link*: bytes leave the endpoint and enter the host at ``min(NIC, endpoint bandwidth /
  hosts, volume write bandwidth in File mode)``; a request ends no earlier than its link slot.

File. The shard's objects go, in key order, to whichever of the ``C`` connections is free
first (list scheduling, not an average), so a few large objects at the end of a shard make a
straggler. ``startup_s`` is the last byte on the volume. Every epoch then reads the volume (at
the volume's read bandwidth, uncapped if 0): data is there when the consumer asks.

Pipe. Every epoch streams the shard again, in order, with ``P`` objects in flight: object k is
requested when object ``k - P`` has been written into the FIFO. Only the object at the head of
the FIFO streams freely; the others may prefetch ``3 × chunk_size`` bytes (two queued chunks and
one in hand) and wait for the rest, so large objects stream one after another. An object's bytes
reach the consumer linearly from when it becomes the head (or its first byte, if later) to when
its last byte is written. ``startup_s`` is the first chunk at the consumer; on an endpoint that
works on all requests at once (``burst_s_per_request``, a local server) the first ``P`` requests
of every host go out together, host after host, so the first answer waits for that whole burst
(its count × the burst cost), and the endpoint then answers in issue order: a host's first
request also waits for one gate slot of the whole endpoint and the whole-object bytes (at the
endpoint's bandwidth) of every request issued before it in the burst.

FastFile. Each host lists the whole channel prefix (1,000 keys a page, pages one after another;
a page costs the profile's ``a + b × keys in the bucket``, less ``list_key_s`` for every key
a short last page lacks, stretched by ``hosts /
list_parallel`` when more hosts list at once than the endpoint serves in parallel). Then files
are read one at a time. A sequential file is fetched in parts of ``part_size``; a part is
requested when the consumer has used the data ``W = read_ahead + ceil(step / part_size)`` parts
back (the first ``W`` at open), and the consumer can use a part's bytes when the part has ended.
Random access makes ``reads_per_file`` requests of ``record_size``, each after the previous was
used. The next file opens when the consumer is done with the steps the current one completed.
With ``readers`` R > 1 (a data loader's workers) file i of the epoch's order goes to reader
i mod R; each reader is a lane that reads its files as above on a fixed 1/R share of its host's
clocks (every R-th gate slot, 1/R of the link), paced as if the consumer served it alone in
steps of ``step_bytes // R`` at the full compute rate. The host's one consumer takes every
step in series, so its epoch ends with its last reader or once it has held all its steps (of
``step_bytes``) from the epoch's start plus its barrier wait, whichever is later; its first
data is its readers' first; its barrier wait is the lanes' mean (with a barrier, lanes of all
hosts move step by step together). Readers are at most the files of a host.
A request that reads a whole object (one part covers it, or one record with random access) is
checked against its ETag when the path verifies, like File and Pipe: its bytes cost the MD5 rate
too (``verify_bps``, on the endpoint's CPU when there is an endpoint bandwidth). ``startup_s``
is the end of the listing plus the first read.

Consumer. Bytes are consumed in steps of ``step_bytes`` (the last one partial), each computing
``step / compute_bps`` seconds; a step starts when the previous one (and its barrier) is done
and its last byte has arrived. The consumer's compute is a sleep on its event loop's timer
(``timer_tick_s``, ``timer_wake_s``): a step of ``c`` seconds holds the consumer until the first
whole tick at or after ``c`` from its start, plus the wake-up latency (Linux's epoll waits in
whole milliseconds); ``compute_s`` stays the nominal ``c``, and the lateness is neither compute
nor stall. With a barrier every host still training waits after each step
for all others to finish that step; a host with fewer steps leaves after its last. In FastFile,
fetching is driven by the consumer, so a barrier wait delays the host's next requests by the
same amount (read-ahead during the wait is ignored: a slight overestimate). Epoch 0 starts at
the first data (the wait before it is startup, not stall); epoch ``e + 1`` starts where the
host's epoch ``e`` ended. ``stall_s`` is what is left of an epoch after compute and barrier
waits; ``au = compute / (compute + stall + barrier)``.

Simplifications (besides those above):

- latency is one number per request (the profile's mean), so percentiles are not reproduced;
- the rate and bandwidth shares of a shared endpoint are fixed at ``1 / hosts reading``: when
  fast hosts finish early, a straggler does not speed up;
- Pipe ignores back-pressure from a consumer slower than the stream (the FIFO is unbounded);
- above ``max_exact_items`` objects per host, File and Pipe merge runs of consecutive objects
  into one request sequence (their latencies and bytes added, gate and link slots kept), which
  moves makespans by about one batch; the startup of Pipe stays exact. FastFile is never
  merged: a file opens on idle resources, so each file's timeline is computed from its open
  for all files at once and the files are chained by a cumulative sum, exactly;
- above ``max_steps`` steps per host (all hosts together), steps are merged the same way;
- zero-byte objects cost no request, as in the live paths (which never GET them).

The package, one module per concern: ``inputs`` (what a job is: ``Storage``, ``PathParams``,
``Training``), ``shards`` (who reads what, in which order), ``clocks`` (the request gate and
link clocks and their closed forms), ``consumer`` (steps, the timer, the barrier), ``startup``
(the FastFile listing and the first answer of a Pipe burst), ``file``, ``pipe`` and
``fastfile`` (one mode each, behind the ``mode`` interface), ``job`` (``model_job``: the modes
by a table), ``result`` (``ModeResult``) and ``channels`` (``compose_channels``: a job of
several input channels from each channel modelled alone). ``blocks`` holds how much the loops
take at once.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from bench.core.model import blocks
from bench.core.model.channels import ChannelsResult, compose_channels
from bench.core.model.inputs import (
    LIST_PAGE_KEYS,
    MAX_EXACT_ITEMS,
    MAX_STEPS,
    MODES,
    PIPE_HELD_CHUNKS,
    PathParams,
    Storage,
    Training,
)
from bench.core.model.job import model_job
from bench.core.model.result import ModeResult
from bench.core.model.shards import Shards, shard
from bench.core.model.startup import listing_s

__all__ = [
    "LIST_PAGE_KEYS",
    "MAX_EXACT_ITEMS",
    "MAX_STEPS",
    "MODES",
    "PIPE_HELD_CHUNKS",
    "ChannelsResult",
    "ModeResult",
    "PathParams",
    "Shards",
    "Storage",
    "Training",
    "compose_channels",
    "listing_s",
    "model_job",
    "shard",
    *blocks.BLOCK_SIZES,
]


def _through_blocks(name: str) -> property:
    def read(_package: types.ModuleType) -> Any:
        return getattr(blocks, name)

    def write(_package: types.ModuleType, value: Any) -> None:
        setattr(blocks, name, value)

    return property(read, write, doc=f"``blocks.{name}``")


# Block sizes read or set on the package (tests shrink them to reach more blocks) are read or
# set where the loops read them, so ``blocks`` stays their only home.
sys.modules[__name__].__class__ = type(
    "ModelPackage",
    (types.ModuleType,),
    {name: _through_blocks(name) for name in blocks.BLOCK_SIZES},
)
