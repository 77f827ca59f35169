"""Checkpoints of a ``pgzoo train`` run, and ``pgzoo train --resume DIR``.

A checkpoint (``DIR/checkpoint.pt``, with ``DIR/model.pt`` next to it) is taken at the first
update after every ``checkpoint_every`` env steps, when the budget is reached (before the final
evaluation), and at the end of the step in which a SIGINT (Ctrl-C) or SIGTERM arrives; the
process then exits with 128 + the signal's number. It holds
the parameters, the optimiser's state, the loss's state (eligibility traces; R̄ is a parameter
of the critic), the counters and clocks, every random generator (torch's and NumPy's and
Python's global ones, the action stream, the update generator, and each environment's
``np_random`` as it was just before its current episode's reset), the evaluation schedule's
position and curve, the TensorBoard logger's window and the number of ``metrics.csv`` rows.
Tensors are saved as tensors and the rest as one JSON string, so the file loads with
``torch.load(weights_only=True)``; it is written atomically (:mod:`pgzoo.atomic`), so a SIGKILL
at any moment leaves the previous checkpoint whole.

Environments cannot be snapshotted in general, so a resumed run starts fresh episodes: each
environment's ``np_random`` is put back to its state before the reset that began its episode in
progress, and it is reset again. An environment that had just finished an episode at the
checkpoint (whose randomness comes from ``np_random``) thus continues exactly as it would have;
one in the middle of an episode restarts that episode from its first state, its steps so far are
counted in ``env_steps`` but never reach ``metrics.csv``, and the part of a rollout collected
before the checkpoint is dropped. Hence a resume is bit for bit the uninterrupted run when every
environment was at an episode boundary and no rollout was half collected: one environment and a
whole-episode schedule (REINFORCE: the periodic checkpoint falls right after an update, at an
episode's end), or any per-step schedule whose checkpoint fell at an episode's end.

Costs in the hot loop: one attribute test per env step and one comparison per update.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pgzoo import atomic
from pgzoo.engine.normalization import env_state, frozen, load_env_state, normalizers
from pgzoo.errors import Interrupted, UsageError
from pgzoo.rundir import METRIC_FIELDS, MetricsWriter, RunMeta, _first_line, load_agent_state, load_model, save_model
from pgzoo.userfiles import read_user_json

if TYPE_CHECKING:
    from pgzoo.algorithm import Agent
    from pgzoo.config import AlgorithmConfig
    from pgzoo.engine.envs import EnvBatch
    from pgzoo.sampling import ActionStream

CHECKPOINT = "checkpoint.pt"
"""The checkpoint's file name in the run directory."""
FORMAT, VERSION = "pgzoo-checkpoint", 1
_TENSORS = ("agent", "optimizer", "loss", "action_stream", "update_generator", "torch_rng")
_META = ("run", "options", "progress", "numpy_rng", "python_rng", "envs", "curve", "eval_capped", "logger")


def checkpoint_interval(config: AlgorithmConfig) -> int:
    """Env steps between periodic checkpoints: ``checkpoint_every``, or a tenth of ``total_steps``
    when it is None (at most ten per run, whatever the budget); 0 means none."""
    every = config.checkpoint_every
    return max(1, config.total_steps // 10) if every is None else every


@dataclass
class Progress:
    """Where a run is: counters, clocks since its start (seconds) and the episodes in progress."""

    env_steps: int
    episodes: int
    updates: int
    rollouts: int
    wall_s: float
    """Wall time since the run started, evaluation included (what ``metrics.csv``'s ``wall_s`` counts)."""
    cpu_s: float
    eval_wall_s: float
    eval_cpu_s: float
    next_eval: int | None
    ep_return: list[float]
    """Return so far of each environment's episode in progress ``[N]`` (a continuing task: of the window)."""
    ep_len: list[int]

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Restored:
    """What a resumed run continues from: its progress, the first observations of its fresh
    episodes ``[N, *obs_shape]`` and the ``metrics.csv`` rows before the checkpoint."""

    progress: Progress
    obs: np.ndarray
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ResumeRun:
    """A run directory to resume: its ``config.json`` and its loaded checkpoint (or, when it has
    a ``summary.json``, ``finished`` with that summary)."""

    path: Path
    meta: dict[str, Any]
    checkpoint: dict[str, Any] | None = None
    finished: dict[str, Any] | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The ``pgzoo train`` options the run was started with (``eval_every``, ``tensorboard``...)."""
        return json.loads(self.checkpoint["meta"])["options"] if self.checkpoint else {}

    @property
    def env_steps(self) -> int:
        return json.loads(self.checkpoint["meta"])["progress"]["env_steps"] if self.checkpoint else 0


class Checkpointer:
    """Checkpoints one run into ``out_dir`` (nothing at all when ``out_dir`` is None).

    ``every``: env steps between periodic checkpoints (0: none); ``options``: what
    ``pgzoo train --resume`` needs beyond the config (JSON-able); ``resume``: a loaded
    checkpoint to continue from. The trainer calls :meth:`attach`, :meth:`metrics`,
    :meth:`bind`, :meth:`restore` (when :attr:`resuming`), :meth:`save` whenever
    :attr:`pending`, :meth:`loop_done` and :meth:`finish`; it sets :attr:`pending` after an
    update once ``env_steps >= due``.
    """

    def __init__(self, out_dir: str | Path | None = None, every: int = 0, options: dict[str, Any] | None = None,
                 resume: dict[str, Any] | None = None) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.every = every if self.out_dir is not None else 0
        self.options = options or {}
        self._resume = resume
        self.due = self.every or sys.maxsize
        """The env steps after which the next update asks for a checkpoint."""
        self.pending = False
        """Save at the end of this env step (set after an update, or by a signal)."""
        self.signal: int | None = None
        self._loop_over = False
        self._records: list[dict[str, Any] | None] = []
        self._bound: tuple[Any, ...] | None = None
        self._rows: list[dict[str, Any]] = []
        self._saved_at: int | None = None

    @property
    def resuming(self) -> bool:
        return self._resume is not None

    @property
    def path(self) -> Path | None:
        return self.out_dir / CHECKPOINT if self.out_dir is not None else None

    # --- set-up --------------------------------------------------------------------------
    def attach(self, envs: EnvBatch) -> None:
        """Record, at every reset of each environment, its seed or its ``np_random`` state just
        before (so that a resume can redo that reset). Costs nothing per step."""
        if self.out_dir is None:
            return
        self._records = [None] * envs.num_envs
        for i, env in enumerate(envs.envs):
            env.reset = self._recording_reset(i, env)

    def _recording_reset(self, i: int, env: Any) -> Any:
        reset, base = env.reset, env.unwrapped

        def recorded(*, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
            rng = getattr(base, "_np_random", None)
            self._records[i] = ({"seed": int(seed)} if seed is not None
                                else {"rng": _to_json(rng.bit_generator.state) if rng is not None else None})
            return reset(seed=seed, options=options)

        return recorded

    def metrics(self, path: Path | None) -> MetricsWriter:
        """The run's ``metrics.csv`` writer. A fresh run also removes what an earlier run left
        in the folder (checkpoint, model, summary); a resumed one keeps the rows up to the
        checkpoint (rows the stopped process wrote later are dropped) and appends."""
        if path is None or self.out_dir is None:
            return MetricsWriter(path)
        if not self.resuming:
            for name in (CHECKPOINT, "model.pt", "summary.json"):
                (self.out_dir / name).unlink(missing_ok=True)
            return MetricsWriter(path)
        n = json.loads(self._resume["meta"])["progress"]["episodes"]
        self._rows = _kept_rows(path, n)
        return MetricsWriter(path, append=True)

    def bind(self, trainer: Any, agent: Agent, optimizer: torch.optim.Optimizer, stream: ActionStream,
             generator: torch.Generator, envs: EnvBatch) -> None:
        """The live objects a checkpoint is taken from (and a resume restores into)."""
        self._bound = (trainer, agent, optimizer, stream, generator, envs)

    # --- resume --------------------------------------------------------------------------
    def restore(self) -> Restored:
        """Load the checkpoint into the bound objects and start fresh episodes; one-line
        :class:`UsageError` if it does not fit the run that ``config.json`` describes."""
        trainer, agent, optimizer, stream, generator, envs = self._bound
        ck, path = self._resume, self.path
        meta = json.loads(ck["meta"])
        what = f"'{trainer.algo.name}' on {trainer.env_id}"
        load_agent_state(agent, ck["agent"], path, what)
        try:
            _load_optimizer_in_place(optimizer, ck["optimizer"])
            trainer.algo.loss.load_state_dict(ck["loss"])
            stream.load_state_dict(ck["action_stream"])
            generator.set_state(ck["update_generator"])
            torch.set_rng_state(ck["torch_rng"])
            np.random.set_state(_from_json(meta["numpy_rng"]))
            version, internal, gauss = meta["python_rng"]
            random.setstate((version, tuple(internal), gauss))
            trainer.logger.load_state_dict(meta["logger"])
            for i, env in enumerate(envs.envs if "env_stats" in ck else ()):  # normalising wrappers' statistics
                load_env_state(env, ck["env_stats"][str(i)])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"{path}: does not fit {what} as config.json describes it ({_first_line(e)})") from None
        trainer.curve = list(meta["curve"])
        trainer.eval_capped = int(meta["eval_capped"])
        p = Progress(**meta["progress"])
        obs = self._fresh_episodes(envs, meta["envs"], trainer.seed, p.env_steps)
        if self.every:
            self.due = (p.env_steps // self.every + 1) * self.every
        return Restored(p, obs, self._rows)

    def _fresh_episodes(self, envs: EnvBatch, records: list[dict[str, Any] | None], seed: int,
                        env_steps: int) -> np.ndarray:
        if len(records) != envs.num_envs:
            raise UsageError(f"{self.path}: holds {len(records)} environments, the run has {envs.num_envs}")

        def fresh(i: int, env: Any) -> Any:
            with frozen(env):  # the statistics saved count this reset's observation already (if it was one)
                return reset(i, env)

        def reset(i: int, env: Any) -> Any:
            rec = records[i]
            if rec is not None and "seed" in rec:
                return env.reset(seed=rec["seed"])[0]
            rng = getattr(env.unwrapped, "_np_random", None)
            if rec is not None and rec.get("rng") is not None and rng is not None:
                try:
                    rng.bit_generator.state = _from_json(rec["rng"])
                    return env.reset()[0]
                except (TypeError, ValueError, KeyError):
                    pass  # another kind of generator: a derived seed below
            derived = np.random.SeedSequence([seed, i, env_steps, 0xC4E]).generate_state(1)[0]
            return env.reset(seed=int(derived))[0]

        return envs.reset_each(fresh)

    # --- saving --------------------------------------------------------------------------
    def save(self, progress: Progress) -> None:
        """Write ``model.pt`` and ``checkpoint.pt`` (atomically); after a signal, raise
        :class:`~pgzoo.errors.Interrupted`."""
        self.pending = False
        if self.every:
            self.due = (progress.env_steps // self.every + 1) * self.every
        if self.out_dir is None or self._bound is None:
            return
        trainer, agent, optimizer, stream, generator, envs = self._bound
        meta = {
            "run": {"algorithm": trainer.algo.name, "env_id": trainer.env_id, "seed": trainer.seed,
                    "config": trainer.cfg.model_dump(mode="json")},
            "options": self.options,
            "progress": progress.as_json(),
            "numpy_rng": _to_json(np.random.get_state(legacy=False)),
            "python_rng": list(random.getstate()),
            "envs": self._records,
            "curve": trainer.curve,
            "eval_capped": trainer.eval_capped,
            "logger": trainer.logger.state_dict(),
        }
        state = {
            "format": FORMAT, "version": VERSION,
            "agent": agent.state_dict(), "optimizer": optimizer.state_dict(),
            "loss": trainer.algo.loss.state_dict(), "action_stream": stream.state_dict(),
            "update_generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
            "meta": json.dumps(meta),
        }
        if any(normalizers(env) for env in envs.envs):
            state["env_stats"] = {str(i): env_state(env) for i, env in enumerate(envs.envs)}
        save_model(self.out_dir / "model.pt", trainer.model_state(agent, optimizer))
        save_model(self.path, state)
        self._saved_at = progress.env_steps
        if self.signal is not None:
            name = signal.Signals(self.signal).name
            raise Interrupted(f"stopped by {name} at env step {progress.env_steps} ({progress.episodes} episodes); "
                              f"checkpoint saved to {self.path}; continue with: pgzoo train --resume {self.out_dir}",
                              128 + self.signal)

    def loop_done(self, progress: Progress) -> None:
        """The budget is reached: one more checkpoint (unless the last update just took one), so
        that a run stopped during its final evaluation resumes straight to it."""
        self._loop_over = True
        if self.signal is not None or self._saved_at != progress.env_steps:
            self.save(progress)

    def finish(self) -> None:
        """The run is finished (``summary.json`` written): its checkpoint is no longer needed."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    # --- signals -------------------------------------------------------------------------
    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """While training, SIGINT and SIGTERM save a checkpoint at the end of the env step and
        stop (:class:`~pgzoo.errors.Interrupted`); during the final evaluation they stop at once
        (the checkpoint at the end of training is there).
        Only in the main thread of a run with a folder; the previous handlers come back after."""
        if self.out_dir is None or threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self._loop_over:
            self.signal, self.pending = signum, True
            return
        raise Interrupted(f"stopped by {signal.Signals(signum).name} during the final evaluation; checkpoint at the "
                          f"end of training saved to {self.path}; continue with: pgzoo train --resume {self.out_dir}",
                          128 + signum)


# --- reading a run directory to resume ---------------------------------------------------
def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :meth:`Checkpointer.save`, loaded with ``weights_only=True``; a
    one-line :class:`UsageError` naming the file for anything else (truncated, corrupt,
    pickled objects, another kind of file)."""
    state = load_model(path, "checkpoint")
    missing = [k for k in (*_TENSORS, "meta") if k not in state]
    if state.get("format") != FORMAT or missing:
        problem = f"missing {', '.join(missing)}" if missing else f"format {state.get('format')!r}"
        raise UsageError(f"{path}: not a pgzoo checkpoint ({problem})")
    if state.get("version") != VERSION:
        raise UsageError(f"{path}: checkpoint version {state.get('version')!r}; this pgzoo reads version {VERSION}")
    try:
        meta = json.loads(state["meta"]) if isinstance(state["meta"], str) else None
    except ValueError:
        meta = None
    lost = [k for k in _META if not isinstance(meta, dict) or k not in meta]
    if lost:
        raise UsageError(f"{path}: not a pgzoo checkpoint (its metadata lacks {', '.join(lost)})")
    return state


def open_resume(run_dir: str | Path) -> ResumeRun:
    """The run in ``run_dir`` to resume: a one-line :class:`UsageError` if it is not a run
    directory, has no checkpoint or a bad one, or its ``config.json`` is not the checkpoint's run."""
    d = Path(run_dir)
    if not d.is_dir():
        raise UsageError(f"--resume {d}: {'not a folder' if d.exists() else 'no such folder'}")
    if not (d / "config.json").exists():
        raise UsageError(f"--resume {d}: not a pgzoo run directory (missing config.json)")
    try:
        meta = RunMeta.model_validate(read_user_json(d / "config.json", "run config")).model_dump()
    except ValueError as e:
        raise UsageError(f"{d / 'config.json'}: not a pgzoo run config ({_first_line(e)})") from None
    if (d / "summary.json").exists():
        summary = read_user_json(d / "summary.json", "run summary")
        return ResumeRun(d, meta, finished=summary if isinstance(summary, dict) else {})
    if not (d / CHECKPOINT).exists():
        raise UsageError(f"--resume {d}: no checkpoint to resume from (no {CHECKPOINT}: the run stopped before its "
                         f"first checkpoint)")
    state = load_checkpoint(d / CHECKPOINT)
    saved = json.loads(state["meta"])["run"]
    mine = {k: meta[k] for k in ("algorithm", "env_id", "seed", "config")}
    if saved != mine:
        differ = [k for k in mine if saved.get(k) != mine[k]]
        raise UsageError(f"{d}: config.json and {CHECKPOINT} describe different runs ({', '.join(differ)} differ)")
    return ResumeRun(d, meta, checkpoint=state)


def _load_optimizer_in_place(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """``optimizer.load_state_dict(state)``, keeping the state tensors that already exist (copied
    into), so that whoever holds them (e.g. a compiled update step) sees the loaded values."""
    before = {id(p): dict(optimizer.state[p]) for g in optimizer.param_groups for p in g["params"]
              if p in optimizer.state}
    optimizer.load_state_dict(state)
    for p, st in optimizer.state.items():
        for key, value in st.items():
            old = before.get(id(p), {}).get(key)
            if torch.is_tensor(old) and torch.is_tensor(value) and (old.shape, old.dtype) == (value.shape,
                                                                                               value.dtype):
                old.copy_(value)
                st[key] = old


def _kept_rows(path: Path, n: int) -> list[dict[str, Any]]:
    """Cut ``metrics.csv`` back to its header and first ``n`` rows (atomically); those rows."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read the rows before the checkpoint ({_first_line(e)})") from None
    header = ",".join(METRIC_FIELDS)
    if not lines or lines[0].strip() != header or len(lines) < n + 1 or (n and not lines[n].endswith("\n")):
        raise UsageError(f"{path}: has fewer than the {n} complete rows the checkpoint counts (or no header)")
    rows = []
    for i, line in enumerate(lines[1:n + 1], start=1):
        values = line.strip().split(",")
        try:
            row = dict(zip(METRIC_FIELDS, values, strict=True))
            typed = {"episode": int(row["episode"]), "env_steps": int(row["env_steps"]),
                     "return": float(row["return"]), "length": int(row["length"]), "wall_s": float(row["wall_s"])}
        except ValueError:
            typed = None
        if typed is None or typed["episode"] != i:
            raise UsageError(f"{path}: row {i} is not episode {i} of the run ({line.strip()[:80]!r})")
        rows.append(typed)
    if len(lines) > n + 1:
        atomic.write_text(path, "".join(lines[:n + 1]))
    return rows


def _to_json(value: Any) -> Any:
    """NumPy arrays (in generator states) as ``{"ndarray": [...], "dtype": ...}``; the rest as is."""
    if isinstance(value, np.ndarray):
        return {"ndarray": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"ndarray", "dtype"}:
            return np.asarray(value["ndarray"], dtype=value["dtype"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value

