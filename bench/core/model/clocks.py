"""The clocks every request goes through, and their closed forms over a block of items.

A host's request gate and link are served in issue order (``Links``); ``RunningSums.clock``
computes a clock over a run of items at once, ``clocks_slack`` checks whether a block computed
without them would have been delayed by either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bench.core.model import blocks
from bench.core.model.inputs import Storage

# Seconds per item of a block, ``(items, rows)``, or one float when every item costs the same.
PerItem = np.ndarray | float


@dataclass
class Links:
    """Per-row request gate and link clocks, and the per-request constants."""

    latency_s: float
    connection_bps: float
    gate_interval_s: float  # 0 = no rate limit
    link_bps: float  # 0 = uncapped
    gate: np.ndarray
    link: np.ndarray
    burst_s: float = 0.0  # Storage.burst_s_per_request
    sharing_hosts: int = 1  # hosts reading at once
    endpoint_bps: float = 0.0  # Storage.endpoint_bps, the whole endpoint's (0: no limit)

    @classmethod
    def of(
        cls, storage: Storage, rows: int, reading_hosts: int, *, volume: bool, verify: bool = False
    ) -> Links:
        share = max(1, reading_hosts)
        gate_interval = share / storage.requests_per_s if storage.requests_per_s > 0 else 0.0
        caps = [storage.nic_bps]
        endpoint_bps = storage.endpoint_bps
        if verify and storage.verify_bps > 0:
            if endpoint_bps > 0:
                endpoint_bps = 1.0 / (1.0 / endpoint_bps + 1.0 / storage.verify_bps)
            else:
                caps.append(storage.verify_bps)
        if endpoint_bps > 0:
            caps.append(endpoint_bps / share)
        if volume:
            caps.append(storage.volume_write_bps)
        positive = [c for c in caps if c > 0]
        return cls(
            storage.latency_s,
            storage.connection_bps,
            gate_interval,
            min(positive) if positive else 0.0,
            np.zeros(rows),
            np.zeros(rows),
            storage.burst_s_per_request,
            share,
            storage.endpoint_bps,
        )


@dataclass(frozen=True)
class ItemCosts:
    """A block of items' seconds on each clock, and which items are empty."""

    latency: PerItem  # to the first byte, on an idle connection
    gate: PerItem | None  # request-gate slots; None: the gate is left out
    transfer: np.ndarray  # the bytes on one connection
    link: np.ndarray | None  # the bytes on the host's link; None: uncapped
    empty: np.ndarray | None  # items that make no request; None: none does

    def without_gate(self) -> ItemCosts:
        return replace(self, gate=None)

    def without_clocks(self) -> ItemCosts:
        return replace(self, gate=None, link=None)


def item_costs(
    links: Links, nbytes: np.ndarray, requests: np.ndarray | None, a: int, b: int
) -> ItemCosts:
    """Items a..b of every row: latency, gate slots, transfer and link times (None: unused),
    and which items are empty (None: none is).

    Latency and gate slots are floats when every item of the block is one request, which is
    the case almost everywhere: shards padded to one length are empty only in their last item.
    """
    nbytes = nbytes[a:b]
    empty = None
    count = 1.0
    if requests is not None:
        block = requests[a:b]
        if block.dtype == bool:
            if not block.all():
                empty = ~block
                count = block.astype(np.float64)
        else:
            count = block.astype(np.float64)
            if not block.all():
                empty = block == 0
    latency = count * links.latency_s
    gate = count * links.gate_interval_s if links.gate_interval_s else None
    link = nbytes / links.link_bps if links.link_bps else None
    return ItemCosts(latency, gate, nbytes / links.connection_bps, link, empty)


def cumsum_down(values: np.ndarray, dtype: type) -> np.ndarray:
    """Running sums down axis 0 of an ``(items, rows)`` array, as ``dtype`` (see
    ``accumulate`` for why not ``np.cumsum(axis=0)``)."""
    return accumulate(np.add, values.astype(dtype, copy=True))


def accumulate(ufunc: np.ufunc, x: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """``ufunc`` accumulated down axis 0 of an ``(n, rows)`` array, in place.

    With ``first`` the running value starts from it. numpy's accumulate walks axis 0 with a
    stride, which is slow for many rows; one call per item row is then faster.
    """
    if first is not None:
        ufunc(x[0], first, out=x[0])
    if x.shape[1] <= blocks.ACCUMULATE_MAX_ROWS:
        return ufunc.accumulate(x, axis=0, out=x)
    for i in range(1, x.shape[0]):
        ufunc(x[i - 1], x[i], out=x[i])
    return x


class RunningSums:
    """Running sums of a block's per-item costs of one clock, for ``clock`` over any run of
    the block's items without summing again (a float cost: the same for every item)."""

    def __init__(self, costs: PerItem, count: int) -> None:
        if isinstance(costs, float):
            self.inclusive = np.arange(1.0, count + 1.0)[:, None] * costs
        else:
            self.inclusive = cumsum_down(costs, np.float64)
        self.exclusive = self.inclusive - costs

    def clock(self, issued: np.ndarray, part: slice, state: np.ndarray) -> np.ndarray:
        """c_i = max(c_{i-1}, issued_i) + cost_i over the items ``part``, c_{-1} = ``state``.

        With S the block's running sums: c_i = S_i + max(state - S'_first,
        max_{j<=i} (issued_j - S'_j)), S' = S minus the item's own cost.
        """
        clock = issued - self.exclusive[part]
        np.maximum(clock[0], state - self.exclusive[part.start], out=clock[0])
        accumulate(np.maximum, clock)
        clock += self.inclusive[part]
        return clock


def gate_is_slack(links: Links, requests: np.ndarray | None, in_flight: int) -> bool:
    """True when the request gate can never delay a first byte, so it can be left out.

    With at most ``in_flight`` requests out, starts that do not decrease, and every request
    lasting at least the latency L, any m consecutive requests span at least
    (ceil(m / in_flight) - 1) x L of start times (empty items cost no request and no gate
    slot); the gate then trails the latency as long as in_flight x interval <= L. Merged items
    (several requests each) are not covered.
    """
    return (requests is None or requests.dtype == bool) and (
        in_flight * links.gate_interval_s <= links.latency_s
    )


def take_rows(values: PerItem, part: slice) -> PerItem:
    return values if isinstance(values, float) else values[part]


def clocks_slack(starts: np.ndarray, costs: ItemCosts, gate: np.ndarray, link: np.ndarray) -> bool:
    """True when a block computed without the gate and link clocks is also right with them.

    ``starts`` are the block's request starts in issue order. The gate only matters when a
    gate slot comes after start + latency, the link only when a link slot comes after the
    request's own end (empty items end at their start whatever the clocks say). When neither
    matters the clocks are advanced over the block and True is returned; otherwise nothing
    changes.
    """
    empty = costs.empty
    first_byte = starts + costs.latency
    gate_clock = link_clock = None
    whole = slice(0, starts.shape[0])
    if costs.gate is not None:
        gate_clock = RunningSums(costs.gate, whole.stop).clock(starts, whole, gate)
        fits = gate_clock <= first_byte
        if not (fits.all() if empty is None else (fits | empty).all()):
            return False
    if costs.link is not None:
        link_clock = RunningSums(costs.link, whole.stop).clock(first_byte, whole, link)
        fits = link_clock <= first_byte + costs.transfer
        if not (fits.all() if empty is None else (fits | empty).all()):
            return False
    if gate_clock is not None:
        gate[:] = gate_clock[-1]
    if link_clock is not None:
        link[:] = link_clock[-1]
    return True


class Optimism:
    """Whether the next block is first computed without the gate and link clocks.

    After a block where a clock mattered, the next ``RETRY_BLOCKS`` blocks keep the clocks;
    then leaving them out is tried again.
    """

    RETRY_BLOCKS = 8

    def __init__(self, needed: bool) -> None:
        self.needed = needed
        self.wait = 0

    def worth_trying(self) -> bool:
        if not self.needed:
            return False
        if self.wait:
            self.wait -= 1
            return False
        return True

    def failed(self) -> None:
        self.wait = self.RETRY_BLOCKS


def request_alone(links: Links, nbytes: np.ndarray, has_request: np.ndarray) -> np.ndarray:
    """Duration of one request on a host whose resources are idle."""
    first_byte = links.latency_s
    if links.gate_interval_s:
        first_byte = max(first_byte, links.gate_interval_s)
    end = first_byte + nbytes / links.connection_bps
    if links.link_bps:
        end = np.maximum(end, first_byte + nbytes / links.link_bps)
    return np.where(has_request, end, 0.0)
