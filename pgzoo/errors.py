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


class EnvError(PgzooError):
    """The environment misbehaved: its code raised, or it handed back something gymnasium's API,
    its own spaces or finiteness rule out (a run failure, exit code 1: the command was right).

    One line: ``environment 'ID': CALL (step N of an episode) PROBLEM``, e.g. ``environment
    'Flaky-v0': step() (step 250 of an episode) raised RuntimeError: simulator lost connection``.
    ``env_id``, ``call`` (``"step()"``, ``"reset()"``, ``"render()"``, ``"its constructor"``),
    ``step`` (the step of the episode, ``None`` outside ``step``) and ``problem`` are kept as
    attributes; it pickles (bench workers send it back to the bench process).
    """

    def __init__(self, env_id: str, call: str, problem: str, step: int | None = None, kept: str = "") -> None:
        where = f" (step {step} of an episode)" if step is not None else ""
        super().__init__(f"environment '{env_id}': {call}{where} {problem}" + (f"; {kept}" if kept else ""))
        self.env_id, self.call, self.problem, self.step, self.kept = env_id, call, problem, step, kept

    def __reduce__(self) -> tuple:
        return (type(self), (self.env_id, self.call, self.problem, self.step, self.kept))

    def keeping(self, kept: str) -> EnvError:
        """The same error, saying what of the run was kept (e.g. a checkpoint to resume from)."""
        return type(self)(self.env_id, self.call, self.problem, self.step, kept)

    @classmethod
    def raised(cls, env_id: str, call: str, error: BaseException, step: int | None = None) -> EnvError:
        """The environment's own code raised ``error`` in ``call``: its type and first line."""
        lines = str(error).strip().splitlines()
        return cls(env_id, call, f"raised {type(error).__name__}" + (f": {lines[0]}" if lines else ""), step)


class Interrupted(PgzooError):
    """Training stopped on a signal after saving a checkpoint; the CLI exits with ``exit_code``
    (128 + the signal's number, as a shell reports a process killed by it)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
