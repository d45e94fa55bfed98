"""The one exception tree users see.

    StagebenchError            any problem the user can fix; main() prints one line, exit 2
    ├── ScenarioError          a scenario file that cannot be read or validated
    ├── EndpointError          the S3 endpoint cannot be reached, refuses the credentials, ...
    │   └── ObjectError        one bucket/key failed after its retries
    ├── SafetyError            stagebench refuses to write where it did not create the data
    └── ResultsError           the results folder cannot be written

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
