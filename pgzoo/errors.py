"""Exceptions that the CLI turns into one-line messages."""

from __future__ import annotations


class PgzooError(Exception):
    """Base class of every error pgzoo raises on purpose."""


class UsageError(PgzooError):
    """The user asked for something that cannot be done (exit code 2, no traceback)."""


class PluginError(PgzooError):
    """A plugin failed to import or to register, or two plugins clash."""


class NonFiniteLossError(PgzooError):
    """A loss term or gradient became NaN or infinite during training."""


class EnvContractError(UsageError):
    """An environment handed back something its gymnasium API or its own spaces rule out."""


class Interrupted(PgzooError):
    """Training stopped on a signal after saving a checkpoint; the CLI exits with ``exit_code``
    (128 + the signal's number, as a shell reports a process killed by it)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
