"""The words stagebench shares with SageMaker and with its own results: input modes, data
distributions, ShardedByS3Key assignments, sharding strategies. Each is an enum whose values are
the strings scenarios, result files and reports use, written here once."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """SageMaker's input modes, as scenarios and results spell them."""

    FILE = "file"
    PIPE = "pipe"
    FASTFILE = "fastfile"


MODES: tuple[str, ...] = tuple(mode.value for mode in Mode)

# One colour per mode in every plot, so a mode reads the same in each figure.
MODE_COLOURS = {Mode.FILE: "tab:blue", Mode.PIPE: "tab:orange", Mode.FASTFILE: "tab:green"}


class Distribution(StrEnum):
    """``S3DataDistributionType``: how a channel's objects are spread over the hosts."""

    SHARDED_BY_S3_KEY = "ShardedByS3Key"
    FULLY_REPLICATED = "FullyReplicated"


DISTRIBUTIONS: tuple[str, ...] = tuple(d.value for d in Distribution)


class Assignment(StrEnum):
    """Which objects ShardedByS3Key gives each host (SageMaker documents only the counts)."""

    ROUND_ROBIN = "round-robin"
    CONTIGUOUS = "contiguous"


ASSIGNMENTS: tuple[str, ...] = tuple(a.value for a in Assignment)


class Strategy(StrEnum):
    """The sharding strategies the numpy core compares."""

    FULLY_REPLICATED = "fully-replicated"
    SHARDED_BY_S3_KEY = "sharded-by-s3-key"
    SHARDED_BY_S3_KEY_CONTIGUOUS = "sharded-by-s3-key-contiguous"
    BYTES_BALANCED = "bytes-balanced"
    UNIFORM = "uniform"


STRATEGIES: tuple[str, ...] = tuple(s.value for s in Strategy)


def sharded_strategy(assignment: str) -> Strategy:
    """The core's strategy for ShardedByS3Key with this assignment."""
    if assignment == Assignment.CONTIGUOUS:
        return Strategy.SHARDED_BY_S3_KEY_CONTIGUOUS
    return Strategy.SHARDED_BY_S3_KEY


# Keys in one ListObjectsV2 page and in one DeleteObjects request: S3's maxima (API reference).
LIST_PAGE_KEYS = 1000
DELETE_BATCH_KEYS = 1000
