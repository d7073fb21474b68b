"""Exception tree and the exit-code table.

Library code raises these; only ``listener.cli`` turns them into one stderr line and an
exit code. Messages name the file, source id or field so a user can act on them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1  # unexpected error, or the store is unreachable
EXIT_INPUT = 2  # bad input or configuration
EXIT_SOURCES_FAILED = 3  # some sources failed while the rest were stored


class ListenerError(Exception):
    """Base of every error a user can cause or meet; carries its exit code."""

    exit_code: int = EXIT_ERROR


class ConfigError(ListenerError):
    """sources.yaml, keywords_nl.txt, environment or command-line input is invalid."""

    exit_code = EXIT_INPUT


class InputError(ListenerError):
    """A file given on the command line (import, classify, evaluate) cannot be read."""

    exit_code = EXIT_INPUT


class SourceError(ListenerError):
    """One source failed (network, HTTP status, malformed payload, credentials)."""

    exit_code = EXIT_SOURCES_FAILED


class CredentialsError(SourceError):
    """A platform rejected our credentials (401/403)."""


class RateLimited(SourceError):
    """A platform asked us to wait; the source is deferred to the next run."""


class StoreRefused(SourceError):
    """The database refused one source's posts (a value it cannot take); the others were stored."""


class SourceSkipped(ListenerError):
    """A source cannot run now (no credentials, not due); the others run on."""

    exit_code = EXIT_OK


class StoreError(ListenerError):
    """The database is unreachable, locked, read-only or full."""

    exit_code = EXIT_ERROR
