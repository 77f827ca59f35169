"""The trainer: one run of an algorithm on any gymnasium environment, one or many copies.

It steps the environments and acts; the :class:`~pgzoo.engine.collector.Collector` cuts the
steps into rollouts of the algorithm's schedule, and each rollout goes through
:meth:`pgzoo.Algorithm.update` with the run's own update generator.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pgzoo import provenance
from pgzoo.algorithm import Agent, Algorithm
from pgzoo.annealing import budget_fraction, progress_tensor
from pgzoo.engine import compiled
from pgzoo.engine.checkpoint import Checkpointer, Progress
from pgzoo.engine.collector import Collector
from pgzoo.engine.envs import EnvBatch
from pgzoo.engine.evaluation import Scores, evaluate, summarize
from pgzoo.engine.normalization import Normalization, to_tensors, training_statistics
from pgzoo.engine.update import lr_factor, set_lr
from pgzoo.errors import EnvError, NonFiniteLossError, PgzooError, UsageError
from pgzoo.exploration import exploration_hold
from pgzoo.progress import progress_bar
from pgzoo.rundir import save_model, write_json
from pgzoo.sampling import ActionStream, draws_per_env
from pgzoo.seeding import derive_seeds, seed_everything, update_seed
from pgzoo.spaces import EnvSpec, encode_obs, to_env_actions
from pgzoo.tblog import TrainLogger


class TrainingError(PgzooError):
    """Training stopped (e.g. a non-finite loss); the message says where and what was kept."""


@dataclass
class TrainResult:
    """What a finished run produced."""

    agent: Agent | None
    summary: dict[str, Any]
    episodes: list[dict[str, Any]] = field(default_factory=list)
    curve: list[dict[str, float]] = field(default_factory=list)
    """Evaluation points (with an :class:`EvalSchedule`): env_steps, return_mean(_deterministic)."""


@dataclass(frozen=True)
class EvalSchedule:
    """Evaluate every ``every`` env steps (and at 0 and at the end) on ``episodes`` episodes,
    with the stochastic and the greedy policy, on environment seeds apart from training."""

    every: int
    episodes: int = 10


class Trainer:
    """Trains one algorithm on one environment id with one seed.

    Budget: ``config.total_episodes`` if set, else ``config.total_steps`` env steps (each of
    the ``num_envs`` environments' steps counts). With an ``out_dir``, writes
    ``config.json``, ``metrics.csv``, ``model.pt`` and ``summary.json`` there.
    """

    def __init__(
        self,
        algorithm: Algorithm,
        env_id: str,
        seed: int = 0,
        out_dir: str | Path | None = None,
        progress: bool = True,
        dtype: torch.dtype = torch.float32,
        schedule: EvalSchedule | None = None,
        logger: TrainLogger | None = None,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        self.algo, self.env_id, self.seed = algorithm, env_id, seed
        self.cfg = algorithm.config
        self.out_dir = Path(out_dir) if out_dir else None
        self.progress, self.dtype, self.schedule = progress, dtype, schedule
        self.logger = logger or TrainLogger()  # hooks: on_update, on_episode, on_eval (pgzoo.tblog)
        self.checkpoints = checkpoints  # with out_dir: checkpoints, signals, --resume (pgzoo.engine.checkpoint)
        self.curve: list[dict[str, float]] = []
        self.continuing = False
        self.eval_capped = 0
        """Evaluation episodes (at every point and at the end) cut by ``eval_max_steps``."""
        self.train_envs: list[Any] = []

    def _evaluate(self, policy: torch.nn.Module, seeds: tuple[int, ...], deterministic: bool) -> Scores:
        """Episode returns, or for a continuing task average rewards per step over ``eval_steps``
        (with the training environments' observation statistics, frozen)."""
        scores = evaluate(policy, self.env_id, seeds, deterministic, self.cfg.max_episode_steps,
                          self.cfg.eval_steps if self.continuing else None, self.cfg.eval_max_steps,
                          self.cfg.scale_images, statistics=training_statistics(self.train_envs),
                          normalization=Normalization.of(self.cfg))
        self.eval_capped += scores.capped
        return scores

    def _evaluate_point(self, policy: torch.nn.Module, env_steps: int, seeds: tuple[int, ...]) -> None:
        stoch = self._evaluate(policy, seeds, False)
        greedy = self._evaluate(policy, seeds, True)
        self.curve.append({"env_steps": env_steps, "return_mean": summarize(stoch)[0],
                           "return_mean_deterministic": summarize(greedy)[0]})
        self.logger.on_eval(self.curve[-1])

    def model_state(self, agent: Agent, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """What ``model.pt`` holds: the agent's and the optimiser's state and, for an environment
        that normalises its observations, the training statistics ``pgzoo eval`` evaluates with."""
        state = {"agent": agent.state_dict(), "optimizer": optimizer.state_dict()}
        statistics = training_statistics(self.train_envs)
        if statistics:
            state["obs_norm"] = to_tensors(statistics)
        return state

    def _save(self, agent: Agent, optimizer: torch.optim.Optimizer) -> None:
        if self.out_dir:
            save_model(self.out_dir / "model.pt", self.model_state(agent, optimizer))

    def run(self) -> TrainResult:
        cfg, algo = self.cfg, self.algo
        n_eval = max(cfg.eval_episodes, self.schedule.episodes if self.schedule else 0)
        seeds = derive_seeds(self.seed, cfg.num_envs, n_eval)
        ckpt = self.checkpoints or Checkpointer()
        seed_everything(seeds.torch)
        envs = EnvBatch(self.env_id, cfg.num_envs, cfg.max_episode_steps, Normalization.of(cfg))
        self.train_envs = envs.envs  # their observation statistics are evaluation's
        spec = EnvSpec.from_env(envs.envs[0], self.env_id)
        self.continuing = spec.continuing
        if self.continuing and cfg.total_episodes:
            envs.close()
            raise UsageError(f"{self.env_id} is a continuing task with no episodes: give a budget in steps")
        try:
            agent = algo.build_agent(spec, self.dtype)
        except UsageError:
            envs.close()
            raise
        optimizer = algo.make_optimizer(agent)
        algo.loss.init_state(agent, cfg.num_envs)
        compile_report = compiled.attach(algo, agent, optimizer)
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_json(self.out_dir / "config.json", {
                "algorithm": algo.name, "env_id": self.env_id, "seed": self.seed,
                "config": cfg.model_dump(mode="json"),
            })
        metrics = ckpt.metrics(self.out_dir / "metrics.csv" if self.out_dir else None)
        ckpt.attach(envs)

        n = cfg.num_envs
        obs_space = spec.observation_space
        scale = cfg.scale_images
        obs = encode_obs(obs_space, envs.reset(seeds.train_envs), self.dtype, scale)
        stream = ActionStream(seeds.torch, n, draws_per_env(spec.action_space, agent.policy),
                              exploration_hold(cfg, algo.schedule))
        collector = Collector(algo.schedule, 1, n)
        generator = torch.Generator().manual_seed(update_seed(seeds.torch))
        run = np.zeros(1, dtype=np.int64)
        ep_return, ep_len = np.zeros(n), np.zeros(n, dtype=np.int64)
        episodes: list[dict[str, Any]] = []
        recent: deque[float] = deque(maxlen=20)
        budget_eps, budget_steps = cfg.total_episodes, cfg.total_steps
        base_lrs = [g["lr"] for g in optimizer.param_groups]
        ckpt.bind(self, agent, optimizer, stream, generator, envs)
        curve_seeds = seeds.eval_envs[: self.schedule.episodes] if self.schedule else ()
        next_eval = self.schedule.every if self.schedule else None
        if self.schedule and not ckpt.resuming:
            self._evaluate_point(agent.policy, 0, curve_seeds)
        env_steps, updates, rollouts, eval_wall, start = 0, 0, 0, 0.0, time.perf_counter()
        eval_cpu, start_cpu = 0.0, time.process_time()
        resumed = ckpt.resuming  # a resumed run is the uninterrupted one only in some cases (see checkpoint)
        if ckpt.resuming:  # parameters, generators, counters; fresh episodes
            back = ckpt.restore()
            p, obs = back.progress, encode_obs(obs_space, back.obs, self.dtype, scale)
            env_steps, updates, rollouts, eval_wall, eval_cpu = p.env_steps, p.updates, p.rollouts, p.eval_wall_s, \
                p.eval_cpu_s
            start, start_cpu, next_eval = start - p.wall_s, start_cpu - p.cpu_s, p.next_eval
            episodes.extend(back.rows)
            recent.extend(r["return"] for r in back.rows[-20:])
            if self.continuing:  # the window in progress goes on
                ep_return[:], ep_len[:] = p.ep_return, p.ep_len

        def progress() -> Progress:
            return Progress(env_steps, len(episodes), updates, rollouts, time.perf_counter() - start,
                            time.process_time() - start_cpu, eval_wall, eval_cpu, next_eval, ep_return.tolist(),
                            ep_len.tolist())

        bar = progress_bar(budget_eps or budget_steps, "ep" if budget_eps else "step", f"{algo.name} {self.env_id}",
                           self.progress)
        bar.update(len(episodes) if budget_eps else env_steps)
        checking, algo.check_rollouts = algo.check_rollouts, False  # t is built here, by the contract
        act = compiled.acting(algo, agent)  # eager: pgzoo.sampling.act; compiled with the update

        def learn(rollout: Any, finished: int) -> None:
            """Update on ``rollout``, complete at this env step, at which ``finished`` episodes ended."""
            nonlocal updates, rollouts
            progress = budget_fraction(env_steps, len(episodes) + finished, budget_steps, budget_eps)
            if cfg.lr_schedule != "constant":
                set_lr(optimizer, base_lrs, lr_factor(cfg.lr_schedule, progress))
            try:
                terms = algo.update(agent, optimizer, rollout.replace(progress=progress_tensor(progress)), generator)
            except NonFiniteLossError as e:
                self._save(agent, optimizer)
                kept = f"; last good parameters saved to {self.out_dir / 'model.pt'}" if self.out_dir else ""
                raise TrainingError(
                    f"'{algo.name}' on {self.env_id}: {e} at env step {env_steps} (update {updates + 1}){kept}"
                ) from None
            updates += int(terms["optimizer_steps"])
            rollouts += 1
            self.logger.on_update(env_steps, terms)
            if env_steps >= ckpt.due:
                ckpt.pending = True

        try:
            while (len(episodes) < budget_eps) if budget_eps else (env_steps < budget_steps):
                actions = act(obs, stream.next())
                raw_next, raw_true_next, reward, terminated, truncated = envs.step(
                    to_env_actions(envs.action_space, actions))
                actions = actions.clone()  # a normal tensor: the loss differentiates ln π(actions|obs)
                done = terminated | truncated
                next_obs = encode_obs(obs_space, raw_true_next, self.dtype, scale)
                rew_t = torch.as_tensor(reward * cfg.reward_scale, dtype=self.dtype)
                term_t, trunc_t = torch.as_tensor(terminated), torch.as_tensor(truncated)
                env_steps += n
                for _, rollout in collector.add(run, obs, actions, rew_t, term_t, trunc_t, next_obs):
                    learn(rollout, int(done.sum()))
                ep_return += reward
                ep_len += 1
                if self.continuing and env_steps >= (len(episodes) + 1) * cfg.reward_window:
                    # no episodes: one row per window, its return the average reward per step
                    window_steps = int(ep_len.sum())
                    row = {"episode": len(episodes) + 1, "env_steps": env_steps,
                           "return": float(ep_return.sum()) / window_steps, "length": window_steps,
                           "wall_s": round(time.perf_counter() - start, 4)}
                    episodes.append(row)
                    metrics.write(row)
                    self.logger.on_episode(row)
                    recent.append(row["return"])
                    bar.set_postfix(avg_r=f"{row['return']:.3f}", refresh=False)
                    ep_return[:], ep_len[:] = 0.0, 0
                for i in np.flatnonzero(done):
                    row = {"episode": len(episodes) + 1, "env_steps": env_steps, "return": float(ep_return[i]),
                           "length": int(ep_len[i]), "wall_s": round(time.perf_counter() - start, 4)}
                    episodes.append(row)
                    metrics.write(row)
                    self.logger.on_episode(row)
                    recent.append(row["return"])
                    ep_return[i], ep_len[i] = 0.0, 0
                    if budget_eps:
                        bar.update(1)
                if not budget_eps:
                    bar.update(n)
                if done.any():
                    bar.set_postfix(ret=f"{np.mean(recent):.1f}", refresh=False)
                # S_{t+1} is also the state to act in next, unless an environment was reset
                obs = next_obs if raw_true_next is raw_next else encode_obs(obs_space, raw_next, self.dtype, scale)
                if next_eval is not None and env_steps >= next_eval:
                    t0, c0 = time.perf_counter(), time.process_time()
                    self._evaluate_point(agent.policy, env_steps, curve_seeds)
                    eval_wall += time.perf_counter() - t0
                    eval_cpu += time.process_time() - c0
                    next_eval = (env_steps // self.schedule.every + 1) * self.schedule.every
                if ckpt.pending:
                    ckpt.save(progress())
            ckpt.loop_done(progress())
        except EnvError as e:  # the run's one-line failure; a run with a folder keeps a checkpoint to resume
            if ckpt.out_dir is None:
                raise
            ckpt.save(progress())
            raise e.keeping(f"checkpoint saved at env step {env_steps}: continue with pgzoo train --resume "
                            f"{self.out_dir}") from e.__cause__
        finally:
            compile_report = compiled.detach(algo, compile_report)
            algo.check_rollouts = checking
            bar.close()
            metrics.close()
            envs.close()
        wall = time.perf_counter() - start - eval_wall
        cpu = time.process_time() - start_cpu - eval_cpu
        try:
            if self.schedule and (not self.curve or self.curve[-1]["env_steps"] != env_steps):
                self._evaluate_point(agent.policy, env_steps, curve_seeds)
            eval_returns = self._evaluate(agent.policy, seeds.eval_envs, False)
            greedy_returns = self._evaluate(agent.policy, seeds.eval_envs, True)
        except EnvError as e:  # training is done and checkpointed (loop_done): a resume goes straight here
            if ckpt.out_dir is None:
                raise
            raise e.keeping(f"the checkpoint at the end of training is kept: continue with pgzoo train --resume "
                            f"{self.out_dir}") from e.__cause__
        mean, std = summarize(eval_returns)
        gmean, gstd = summarize(greedy_returns)
        summary = {
            "algorithm": algo.name, "env_id": self.env_id, "seed": self.seed,
            "env_steps": env_steps, "episodes": len(episodes), "updates": updates, "rollouts": rollouts,
            "wall_s": round(wall, 3), "env_steps_per_s": round(env_steps / max(wall, 1e-9), 1),
            "cpu_s": round(cpu, 3),
            "train_return_last20": float(np.mean(recent)) if recent else None,
            "eval_episodes": len(eval_returns),
            "eval_return_mean": mean, "eval_return_std": std,
            "eval_return_mean_deterministic": gmean, "eval_return_std_deterministic": gstd,
            "eval_capped_episodes": self.eval_capped, "eval_max_steps": cfg.eval_max_steps,
            **compile_report,
            "provenance": provenance.describe(type(algo).__module__, self.env_id, {
                **provenance.trainer_path(compile_report, self.dtype), **({"resumed": True} if resumed else {})}),
        }
        if self.out_dir:
            self._save(agent, optimizer)
            write_json(self.out_dir / "summary.json", summary)
            ckpt.finish()
        return TrainResult(agent, summary, episodes, self.curve)


def train(
    algorithm: str | Algorithm,
    env_id: str,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    dtype: torch.dtype = torch.float32,
) -> TrainResult:
    """Train an installed algorithm by name (or a configured instance) on ``env_id``.

    ``dtype`` is the dtype of the parameters and of every tensor the losses see
    (``torch.float64`` for results that match the book's updates to ~1e-15).
    Raises :class:`~pgzoo.errors.UsageError` for an unknown algorithm or environment, a bad
    config, or an environment the algorithm cannot train on.
    """
    if isinstance(algorithm, str):
        from pgzoo.registry import get_algorithm

        cls = get_algorithm(algorithm)
        algorithm = cls(cls.make_config(env_id, overrides))
    return Trainer(algorithm, env_id, seed, out_dir, progress, dtype).run()
