"""Deterministic synthetic object content.

Every object's bytes are a rotation of one seeded random block, so any byte range of any object
can be produced (and verified) without the rest of the object, and no two objects start alike.
Not all zeros: a store that compresses or deduplicates would otherwise flatter itself.
"""

from __future__ import annotations

import hashlib

import numpy as np

BLOCK_BYTES = 4 * 1024 * 1024 + 7  # odd length so rotations of successive objects don't align


def content_block(seed: int) -> bytes:
    """The seeded random block all objects of a dataset are cut from."""
    return np.random.default_rng([seed, 0x5EED]).bytes(BLOCK_BYTES)


def object_start(index: int) -> int:
    """Where object ``index`` starts in the block (a multiplicative hash spreads the starts)."""
    return (index * 2654435761) % BLOCK_BYTES


def object_range(block: bytes, index: int, offset: int, length: int) -> bytes:
    """Bytes [offset, offset+length) of object ``index``."""
    size = len(block)
    pos = (object_start(index) + offset) % size
    if pos + length <= size:
        return block[pos : pos + length]
    parts = []
    remaining = length
    view = memoryview(block)
    while remaining > 0:
        take = min(size - pos, remaining)
        parts.append(view[pos : pos + take])
        remaining -= take
        pos = 0
    return b"".join(parts)


def object_digest(block: bytes, index: int, size: int, chunk: int = 8 * 1024 * 1024) -> str:
    """SHA-256 of a whole object, computed range by range."""
    digest = hashlib.sha256()
    for offset in range(0, size, chunk):
        digest.update(object_range(block, index, offset, min(chunk, size - offset)))
    return digest.hexdigest()
