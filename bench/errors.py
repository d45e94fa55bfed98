"""The one exception tree users see.

    StagebenchError            any problem the user can fix; main() prints one line, exit 2
    ├── ScenarioError          a scenario file that cannot be read or validated
    ├── EndpointError          the S3 endpoint cannot be reached, refuses the credentials, ...
    │   └── ObjectError        one bucket/key failed after its retries
    ├── SafetyError            stagebench refuses to write where it did not create the data
    ├── ResultsError           the results folder cannot be written
    └── HostError              a simulated host failed (its volume, memory, ...): host, key, cause

Library errors are re-raised ``from`` the original so ``--debug`` shows the cause.
"""

from __future__ import annotations


class StagebenchError(Exception):
    """A problem the user can fix: printed as one line, exit code 2."""

    exit_code = 2


class ScenarioError(StagebenchError):
    """A scenario file that cannot be read or does not validate."""


class EndpointError(StagebenchError):
    """The S3 endpoint is unreachable or refuses a request."""


class ObjectError(EndpointError):
    """One object failed after all its retries."""

    def __init__(self, message: str, *, bucket: str, key: str) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key


class SafetyError(StagebenchError):
    """stagebench refuses to touch data it did not create."""


class ResultsError(StagebenchError):
    """The results folder cannot be written."""


class HostError(StagebenchError):
    """A simulated host stopped on an error of its own (a full or read-only volume, a file in
    the way, memory), named with the host and, when known, the key it was working on."""

    def __init__(self, cause: str, *, host: int, key: str | None = None) -> None:
        where = f"host {host}" + (f", key {key}" if key else "")
        super().__init__(f"{where}: {cause}")
        self.cause = cause
        self.host = host
        self.key = key

    def __reduce__(self) -> tuple[object, ...]:
        # Dask sends a worker's exception back pickled; keyword-only arguments need this.
        return (_rebuild_host_error, (self.cause, self.host, self.key))


def _rebuild_host_error(cause: str, host: int, key: str | None) -> HostError:
    return HostError(cause, host=host, key=key)


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The real errors inside (nested) exception groups, in order; ``exc`` itself otherwise."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]
    return [exc]


def first_error(exc: BaseException) -> BaseException:
    """The error to show for ``exc``: inside groups, the first one the user can act on
    (a StagebenchError), else the first of all."""
    leaves = leaf_errors(exc)
    return next((e for e in leaves if isinstance(e, StagebenchError)), leaves[0])


def describe_cause(exc: BaseException) -> str:
    """One line for an error stagebench did not expect: what the system said, and where."""
    if isinstance(exc, StagebenchError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory (MemoryError); shrink the scenario or free memory"
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename is not None else ""
        return f"{exc.strerror}{where}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_failure(exc: BaseException) -> str:
    """One line for any failure, exception groups unwrapped: the first real error, and how
    many more there were."""
    leaves = leaf_errors(exc)
    shown = first_error(exc)
    others = len(leaves) - 1
    more = f" (and {others} more error{'s' if others > 1 else ''})" if others else ""
    return describe_cause(shown) + more
