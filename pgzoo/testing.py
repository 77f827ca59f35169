"""Conformance checks for algorithm plugins, shipped as a pytest plugin.

A plugin's test file subclasses :class:`AlgorithmConformance` and names its algorithm; pytest
then runs every check the built-in plugins pass::

    from pgzoo.testing import AlgorithmConformance

    class TestMyAlgo(AlgorithmConformance):
        algorithm = "my-algo"
        learn_env = "ShortCorridor-v0"     # a short learning smoke test
        learn_overrides = {"total_episodes": 200}
        learn_threshold = -30.0            # evaluation return it must reach

The checks:

- ``test_registered``: found through the ``pgzoo`` entry-point group, with a book section and
  the schedules it supports.
- ``test_population_safe``: two real updates leave every attribute of the algorithm and its
  loss unchanged (per-run state lives where the engine keeps one copy per run).
- ``test_book_update``: one plain-SGD step on the loss equals ``book_update`` (float64, every
  ``verify_variants`` entry, random cases and the short corridor).
- ``test_critic_isolated``: after backward of ``loss_policy`` alone, value parameters have
  no gradient; after ``loss_value`` alone, policy parameters have none.
- ``test_targets_carry_no_gradient``: every loss term's gradient reaches v̂(S′,w) nowhere: the
  loss is unchanged in its gradient when next observations are detached inputs.
- ``test_reduction``: the loss reduces over a batch as the algorithm declares
  (``Algorithm.reduction``): on the same batch with every environment taken twice, its gradient
  is twice (``"sum"``) or equal to (``"mean"``) its gradient on the batch (settings
  ``reduction_overrides``, e.g. without PPO's per-minibatch advantage normalisation).
- ``test_seed_determinism``: the same seed gives bit-identical state dicts.
- ``test_learns``: a short seeded run reaches ``learn_threshold``, which the untrained policy
  (the run's own initial parameters, evaluated as the run evaluates at its end) must not reach:
  a threshold met without learning — or a policy that never changes — fails it. Start the
  policy badly in ``learn_overrides`` (e.g. π(right) = 0.05 on the short corridor, J ≈ −82).
- ``test_population_matches_single_runs``: trained as one population (:mod:`pgzoo.engine.population`),
  each seed ends with the parameters it gets alone, in float64 (the population computes the same
  updates; in float32 its batched kernels round differently, so a population's bits are its own and
  a results line records which path made it); skipped, with the reason, for an algorithm
  that cannot be (it sets ``population = False``, overrides ``update``, or its loss has parameters
  of its own; a loss's state between calls, such as eligibility traces, must be created by
  ``SurrogateLoss.init_state``), or whose ``learn_env`` is a continuing task.

The pytest plugin also provides the fixture ``pgzoo_registry`` (the loaded registry), and
:func:`assert_board_reproduces`, the guard that a board's numbers come back from its code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from pgzoo.registry import Registry, get_registry


@pytest.fixture
def pgzoo_registry() -> Registry:
    """The registry of installed plugins (algorithms, environments, errors)."""
    return get_registry()


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``pgzoo ARGS`` in a fresh process (real entry points, real exit codes)."""
    return subprocess.run([sys.executable, "-m", "pgzoo.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


def assert_board_reproduces(folder: str | Path) -> None:
    """Retrain the cheapest line of the board in ``folder`` that records its recipe
    (:func:`pgzoo.bench.reproduce.guard`) and fail, naming every number that differs, unless it
    comes back bit for bit; skip, saying why, when no line of the board records a recipe (boards
    trained before pgzoo recorded provenance)."""
    from pgzoo.bench.reproduce import guard, report

    result = guard(folder)
    if result is None:
        pytest.skip(f"{folder}: no line records its recipe (provenance): the board was trained before pgzoo "
                    "recorded it; this guard becomes active once the board is retrained")
    assert result.matches, "\n".join([f"{folder}: a committed line does not come back from its recipe "
                                       "(retrain the board in the change that altered its numbers):",
                                       *report(result, limit=20)])


def fake_distribution(site: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Write an installed-looking distribution (a .dist-info with ``pgzoo`` entry points and its
    modules) into the folder ``site``; put ``site`` on ``PYTHONPATH`` to "install" it."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pgzoo]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source)


def small_rollout(obs_dim: int = 4, n_actions: int = 2, T: int = 5, N: int = 2, seed: int = 0,
                  dtype: torch.dtype = torch.float64):
    """A random time-major rollout with one termination and one truncation."""
    from pgzoo.rollout import Rollout

    g = torch.Generator().manual_seed(seed)
    terminated = torch.zeros(T, N, dtype=torch.bool)
    truncated = torch.zeros(T, N, dtype=torch.bool)
    terminated[-1, 0] = True
    truncated[-1, 1 % N] = N > 1
    return Rollout(
        obs=torch.randn(T, N, obs_dim, generator=g, dtype=dtype),
        actions=torch.randint(0, n_actions, (T, N), generator=g),
        rewards=torch.randn(T, N, generator=g, dtype=dtype),
        terminated=terminated, truncated=truncated,
        next_obs=torch.randn(T, N, obs_dim, generator=g, dtype=dtype),
        t=torch.arange(T)[:, None].expand(T, N).clone(),
    )


def one_step_by_hand(reward: float = 1.0, w: float = 0.0):
    """The smallest problem to compute an update by hand on: a soft-max over two actions with
    x(s,a) = e_a and θ = 0 (π = ½, ½; ∇ln π(a) = e_a − (½, ½)), v̂ = w, and one step of one
    environment taking action 0 with reward ``reward`` into a termination (Â = δ = R − w).
    Returns (agent, rollout), float64."""
    from pgzoo.algorithm import Agent
    from pgzoo.features import ActionOneHot
    from pgzoo.policies import LinearSoftmaxPolicy
    from pgzoo.rollout import Rollout
    from pgzoo.values import ScalarValue

    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2)), ScalarValue(w)).double()
    obs = torch.zeros(1, dtype=torch.float64)
    return agent, Rollout.from_transition(obs, 0, reward, True, False, obs, 0)


def prepared(algo: Any, agent: Any, rollout: Any) -> Any:
    """``rollout`` as the loss sees it: after the algorithm's ``prepare`` at the current θ (no grad)."""
    with torch.no_grad():
        return algo.prepare(agent, rollout)


class AlgorithmConformance:
    """Subclass in a test module and set :attr:`algorithm` to run every check on it."""

    algorithm: ClassVar[str]
    learn_env: ClassVar[str] = "ShortCorridor-v0"
    learn_overrides: ClassVar[dict[str, Any]] = {"total_episodes": 300}
    learn_threshold: ClassVar[float] = -40.0
    learn_seed: ClassVar[int] = 0
    population_overrides: ClassVar[dict[str, Any]] = {"total_episodes": 3, "eval_episodes": 1}
    reduction_overrides: ClassVar[dict[str, Any]] = {}
    determinism_env: ClassVar[str] = "CartPole-v1"
    determinism_overrides: ClassVar[dict[str, Any]] = {"policy": "mlp", "total_steps": 400, "num_envs": 2,
                                                        "optimizer": "adam"}

    def _cls(self) -> type:
        return get_registry().algorithm(self.algorithm)

    def _agent_and_loss(self, overrides: dict[str, Any] | None = None):
        import gymnasium as gym

        from pgzoo.spaces import EnvSpec

        cls = self._cls()
        algo = cls(cls.make_config(overrides={"policy": "mlp", **({"value": "mlp"} if cls.uses_value else {}),
                                              **(overrides or {})}))
        spec = EnvSpec("test", gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2))
        return algo, algo.build_agent(spec).double()

    def test_registered(self) -> None:
        cls = self._cls()
        assert cls.name == self.algorithm
        assert isinstance(cls.section, str) and isinstance(cls.summary, str)
        assert cls.schedules and set(cls.schedules) <= {"steps", "episodes"}, cls.schedules
        assert all(isinstance(n, int) and n >= 1 for n in cls.schedules.values()), cls.schedules

    def test_population_safe(self) -> None:
        """Two real updates change no attribute of the algorithm or its loss: all per-run state
        lives where the engine keeps one copy per run (``Loss.init_state``, ``rollout.extras``)."""
        from pgzoo.engine.safety import state_leak

        cls = self._cls()
        for env_id in ("", self.learn_env, self.determinism_env):
            algo = cls(cls.make_config(env_id or None))
            if "discrete" in cls.action_spaces or "continuous" in cls.action_spaces:
                assert state_leak(algo) is None, state_leak(algo)

    def test_book_update(self) -> None:
        from pgzoo.book.verify import verify

        results = verify({self.algorithm: self._cls()})
        assert results, "no verify case ran"
        bad = [r.as_dict() for r in results if not r.ok]
        assert not bad, bad

    def test_critic_isolated(self) -> None:
        algo, agent = self._agent_and_loss()
        if agent.value is None:
            pytest.skip("no critic")
        terms = algo.loss(agent.policy, agent.value, prepared(algo, agent, small_rollout()))
        terms["loss_policy"].backward(retain_graph=True)
        assert all(p.grad is None or not p.grad.any() for p in agent.value.parameters())
        assert any(p.grad is not None and p.grad.any() for p in agent.policy.parameters())
        agent.zero_grad(set_to_none=True)
        terms["loss_value"].backward()
        assert all(p.grad is None or not p.grad.any() for p in agent.policy.parameters())
        assert any(p.grad is not None and p.grad.any() for p in agent.value.parameters())

    def test_targets_carry_no_gradient(self) -> None:
        algo, agent = self._agent_and_loss()
        rollout = small_rollout()
        next_obs = rollout.next_obs.clone().requires_grad_(True)
        terms = algo.loss(agent.policy, agent.value, prepared(algo, agent, rollout.replace(next_obs=next_obs)))
        from pgzoo.losses import total_loss

        total_loss(terms).backward()
        assert next_obs.grad is None or not next_obs.grad.any(), "a loss differentiates through v̂(S′,w)"
        for k, v in terms.items():
            if not k.startswith("loss_"):
                assert not v.requires_grad, f"diagnostic {k} is not detached"

    def test_reduction(self) -> None:
        from pgzoo.losses import total_loss

        algo, agent = self._agent_and_loss(self.reduction_overrides)
        rollout = small_rollout()
        twice = torch.cat([torch.arange(rollout.num_envs)] * 2)
        grads = []
        for batch in (rollout, rollout.select_envs(twice)):
            algo.loss.init_state(agent, batch.num_envs)  # (a loss with traces: fresh ones)
            agent.zero_grad(set_to_none=True)
            total_loss(algo.loss(agent.policy, agent.value, prepared(algo, agent, batch))).backward()
            grads.append(torch.cat([p.grad.reshape(-1) for p in agent.parameters() if p.grad is not None]))
        factor = 2.0 if self._cls().reduction == "sum" else 1.0
        assert grads[0].abs().max() > 0, "the loss has no gradient on the test batch"
        torch.testing.assert_close(grads[1], factor * grads[0], rtol=1e-9, atol=1e-12,
                                   msg=lambda m: f"reduction {self._cls().reduction!r} declared: {m}")

    def test_seed_determinism(self) -> None:
        from pgzoo.engine.trainer import train

        runs = [train(self.algorithm, self.determinism_env, seed=3, overrides=self.determinism_overrides)
                for _ in range(2)]
        a, b = (r.agent.state_dict() for r in runs)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
        other = train(self.algorithm, self.determinism_env, seed=4, overrides=self.determinism_overrides)
        assert any(not torch.equal(a[k], other.agent.state_dict()[k]) for k in a), "seed has no effect"

    def test_population_matches_single_runs(self) -> None:
        from pgzoo.engine.population_check import check_population_matches_single_runs

        if "discrete" not in self._cls().action_spaces:
            pytest.skip("checked on a discrete-action environment")
        blocker = check_population_matches_single_runs(self.algorithm, self.learn_env, self.population_overrides,
                                                       seeds=(0, 1))
        if blocker:
            pytest.skip(blocker)

    def untrained_return(self) -> float:
        """The evaluation return of the learning run's initial policy: its seed, its agent before any
        update, the episodes (or continuing steps) its final evaluation uses."""
        from pgzoo.engine.envs import make_env
        from pgzoo.engine.evaluation import evaluate, summarize
        from pgzoo.seeding import derive_seeds, seed_everything
        from pgzoo.spaces import EnvSpec

        cls = self._cls()
        algo = cls(cls.make_config(self.learn_env, self.learn_overrides))
        cfg = algo.config
        seeds = derive_seeds(self.learn_seed, cfg.num_envs, cfg.eval_episodes)
        seed_everything(seeds.torch)  # as the trainer seeds before building the agent
        env = make_env(self.learn_env, cfg.max_episode_steps)
        try:
            spec = EnvSpec.from_env(env, self.learn_env)
        finally:
            env.close()
        agent = algo.build_agent(spec)
        scores = evaluate(agent.policy, self.learn_env, seeds.eval_envs, False, cfg.max_episode_steps,
                          cfg.eval_steps if spec.continuing else None, cfg.eval_max_steps, cfg.scale_images)
        return summarize(scores)[0]

    def test_learns(self) -> None:
        from pgzoo.engine.trainer import train

        before = self.untrained_return()
        assert before < self.learn_threshold, (
            f"learn_threshold {self.learn_threshold} is reached without learning: the untrained policy scores "
            f"{before:.2f} on {self.learn_env}; start it worse in learn_overrides or raise the threshold")
        result = train(self.algorithm, self.learn_env, seed=self.learn_seed, overrides=self.learn_overrides)
        assert result.summary["eval_return_mean"] >= self.learn_threshold, {"untrained": before, **result.summary}
