"""Live progress lines for long phases (populate, listing, each mode's play, report steps).

Library code sees only the ``Progress`` protocol and calls ``progress.phase(...)``; it never
imports the terminal library, and the default, ``NO_PROGRESS``, does nothing. The command line
picks ``terminal_progress()`` when stderr is a terminal and ``--no-progress`` is not given, so
nothing of it reaches stdout, a pipe or a log file.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import IO, Any, Protocol


class Phase(Protocol):
    """One phase's live line: ``advance`` as work is done, ``close`` (or ``with``) at the end."""

    def advance(self, objects: int = 0, nbytes: int = 0) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Phase: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class Progress(Protocol):
    def phase(
        self,
        label: str,
        *,
        total_objects: int | None = None,
        total_bytes: int | None = None,
        unit: str = "object",
    ) -> Phase:
        """A live line for ``label``. With ``total_bytes`` the line counts bytes (rate in MB/s,
        ETA from bytes) and shows objects beside them; otherwise it counts ``unit``s."""
        ...


class _SilentPhase:
    def advance(self, objects: int = 0, nbytes: int = 0) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _SilentPhase:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _Silent:
    def phase(self, label: str, **_: Any) -> Phase:
        return _SilentPhase()


NO_PROGRESS: Progress = _Silent()


class _BarPhase:
    """A tqdm line; bytes as the measure when the phase has a byte total, objects beside."""

    def __init__(
        self,
        label: str,
        *,
        total_objects: int | None,
        total_bytes: int | None,
        unit: str,
        stream: IO[str],
    ) -> None:
        from tqdm import tqdm

        self._by_bytes = total_bytes is not None
        self._objects = 0
        self._total_objects = total_objects
        self._bar = tqdm(
            total=total_bytes if self._by_bytes else total_objects,
            desc=label,
            unit="B" if self._by_bytes else unit,
            unit_scale=self._by_bytes,
            unit_divisor=1000,
            file=stream,
            leave=False,
            dynamic_ncols=True,
            mininterval=0.2,
        )

    def advance(self, objects: int = 0, nbytes: int = 0) -> None:
        if not self._by_bytes:
            if objects:
                self._bar.update(objects)
            return
        self._objects += objects
        if objects:
            of = f"/{self._total_objects:,}" if self._total_objects is not None else ""
            # refresh=False: the bar redraws at its own pace, not once per object.
            self._bar.set_postfix_str(f"{self._objects:,}{of} objects", refresh=False)
        if nbytes:
            self._bar.update(nbytes)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> _BarPhase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Terminal:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def phase(
        self,
        label: str,
        *,
        total_objects: int | None = None,
        total_bytes: int | None = None,
        unit: str = "object",
    ) -> Phase:
        return _BarPhase(
            label,
            total_objects=total_objects,
            total_bytes=total_bytes,
            unit=unit,
            stream=self._stream,
        )


def terminal_progress(*, enabled: bool = True, stream: IO[str] | None = None) -> Progress:
    """Live lines on ``stream`` (stderr) when enabled and it is a terminal; else silence."""
    stream = stream if stream is not None else sys.stderr
    if not enabled or not stream.isatty():
        return NO_PROGRESS
    return _Terminal(stream)


def as_progress(value: Progress | bool | None) -> Progress:
    """``False``/``None``: silence; ``True``: live lines if stderr is a terminal; a
    ``Progress``: itself (library functions accept all three)."""
    if value is None or value is False:
        return NO_PROGRESS
    if value is True:
        return terminal_progress()
    return value
