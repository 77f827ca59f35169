"""The ``Algorithm`` base class that every plugin subclasses, and the ``Agent`` it trains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgzoo.config import AlgorithmConfig, build_config
from pgzoo.engine.schedules import SETTING, Schedule, ScheduleKind
from pgzoo.engine.update import optimizer_step, stepped_parameters
from pgzoo.errors import UsageError
from pgzoo.exploration import exploration_hold
from pgzoo.features import BoundsScaling, ObsWithBias, PerActionObs
from pgzoo.losses import LossTerms, SurrogateLoss
from pgzoo.policies import GaussianPolicy, LinearSoftmaxPolicy, MLPCategoricalPolicy, Policy
from pgzoo.returns import discounted_returns
from pgzoo.rollout import Rollout, TimeIndexCheck
from pgzoo.spaces import EnvSpec
from pgzoo.values import LinearValue, MLPValue, ScalarValue, ValueFunction

if TYPE_CHECKING:
    from pgzoo.book import BookCase
    from pgzoo.engine.compiled import CompiledStep


class Agent(nn.Module):
    """What an algorithm trains: a policy π(·|·,θ) and, for critic methods, v̂(·,w)."""

    def __init__(self, policy: Policy, value: ValueFunction | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.value = value


class Algorithm:
    """One algorithm: its config, its surrogate loss, the schedules it updates on, its box.

    The contract (what a plugin sets and overrides; everything else is the engine's):

    - class attributes :attr:`name`, :attr:`section`, :attr:`summary`, :attr:`Config`,
      :attr:`Loss`, :attr:`schedules`, :attr:`action_spaces`, :attr:`uses_value`,
      :attr:`env_defaults`, :attr:`verify_variants`;
    - :meth:`prepare` (optional): what must be fixed at θ_old before the SGD steps, no grad;
    - :meth:`update_batches` (optional): the batches of the consecutive optimiser steps
      (sequential steps, epochs, minibatches), with the run's own random generator; a batch
      may step only the policy's or only the value function's parameters
      (:meth:`Rollout.stepping`; the others keep their values and optimiser state);
    - :meth:`book_update`: the box in closed form, for ``pgzoo verify``.

    The trainer, population training, ``pgzoo verify`` and the conformance tests all go
    through :meth:`update` (prepare → update_batches → loss → optimiser step), so what is
    verified is what is trained. Every rollout carries the run's progress p, the fraction of the
    budget done (:attr:`Rollout.progress`), which ``prepare`` and the loss read annealed settings
    at (:mod:`pgzoo.annealing`). An algorithm keeps no state of its own between calls: state
    a loss needs between calls (eligibility traces) is created in ``Loss.init_state``, where
    the engine keeps one copy per run.
    """

    name: ClassVar[str]
    """The name users type: ``pgzoo train NAME``."""
    section: ClassVar[str]
    """Section of Sutton & Barto (2nd ed.), e.g. ``"13.3"``."""
    summary: ClassVar[str] = ""
    Config: ClassVar[type[AlgorithmConfig]] = AlgorithmConfig
    Loss: ClassVar[type[SurrogateLoss]]
    schedules: ClassVar[dict[ScheduleKind, int]] = {"steps": 1}
    """Schedule kinds this algorithm updates on (:mod:`pgzoo.engine.schedules`), each with its
    default length; the first is the default kind. ``{"steps": 1}``: every env step (the book's
    actor–critics); ``{"episodes": 1}``: every finished episode (REINFORCE)."""
    action_spaces: ClassVar[tuple[str, ...]] = ("discrete",)
    uses_value: ClassVar[bool] = False
    uses_time_index: ClassVar[bool] = True
    """Whether the updates depend on ``Rollout.t`` (γᵗ, I, trace resets); if not (a continuing
    task's algorithm), :meth:`update` does not check the ``t`` contract."""
    env_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Per-environment default settings (tuned), applied before the user's own."""
    verify_variants: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}
    """Settings under which ``pgzoo verify`` checks the loss against :meth:`book_update`."""
    verify_branches: ClassVar[tuple[str, ...]] = ()
    """Diagnostics of the loss (e.g. PPO's ``clip_fraction``) that show a nonlinear branch of the
    update fired: ``pgzoo verify`` fails unless each is non-zero in at least one of its cases."""
    reduction: ClassVar[Literal["sum", "mean"]] = "sum"
    """How the loss reduces over a batch: ``"sum"`` (the book's boxes: one SGD step is the sum of
    the per-step updates, α per sample) or ``"mean"`` (published deep-RL losses such as PPO's: the
    step, Adam's scaling and ``max_grad_norm`` do not grow with the batch). The conformance kit
    checks it (``test_reduction``)."""
    population: ClassVar[bool] = True
    """``False``: never train this algorithm as a population (:mod:`pgzoo.engine.population`): the
    bench then trains its seeds one by one, saying why. For an algorithm that meets the
    population contract in form but not in fact (e.g. a ``prepare`` that is not per run)."""
    compiled_step: CompiledStep | None = None
    """Set by the trainer for a run whose update is compiled (:mod:`pgzoo.engine.compiled`):
    :meth:`update` then takes each optimiser step through it (for that agent and optimiser only)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cadence = cls.__dict__.get("cadence")  # plugins written before schedules existed
        if cadence is not None and "schedules" not in cls.__dict__:
            cls.schedules = {"steps": 1} if cadence == "step" else {"episodes": 1}

    def __init__(self, config: AlgorithmConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.loss = self.Loss(self.config)
        self.schedule = self.make_schedule()
        self.check_rollouts = True
        """Whether :meth:`update` checks the ``t`` contract of the rollouts it is given
        (:class:`~pgzoo.rollout.TimeIndexCheck`); the trainer, which builds ``t`` itself, turns it off."""
        self.time_index_check = TimeIndexCheck()

    def make_schedule(self) -> Schedule:
        """The schedule the config asks for (``rollout_steps`` / ``rollout_episodes``), else the
        algorithm's default. Raises :class:`UsageError` for a kind the algorithm does not support."""
        cfg = self.config
        asked = [(k, getattr(cfg, SETTING[k], None)) for k in SETTING if getattr(cfg, SETTING[k], None) is not None]
        kind, length = asked[0] if asked else (next(iter(self.schedules)), None)
        if kind not in self.schedules:
            allowed = " or ".join(SETTING[k] for k in self.schedules)
            raise UsageError(f"invalid config for '{self.name}': {SETTING[kind]}: '{self.name}' updates on "
                             f"{' or '.join(self.schedules)}; set {allowed} instead")
        schedule = Schedule(kind, length or self.schedules[kind])
        problem = self.check_schedule(schedule)
        if problem:
            raise UsageError(f"invalid config for '{self.name}': {SETTING[kind]}: {problem}")
        try:
            exploration_hold(cfg, schedule)
        except UsageError as e:
            raise UsageError(f"invalid config for '{self.name}': {e}") from None
        return schedule

    def check_schedule(self, schedule: Schedule) -> str | None:
        """Why this algorithm cannot update on ``schedule`` (``None``: it can). Override to
        restrict lengths, e.g. eligibility traces that must see every step in turn."""
        return None

    @classmethod
    def make_config(cls, env_id: str | None = None, overrides: dict[str, Any] | None = None) -> AlgorithmConfig:
        """Defaults, then the tuned ``env_defaults`` of ``env_id``, then ``overrides``."""
        values = {**cls.env_defaults.get(env_id or "", {}), **(overrides or {})}
        return build_config(cls.Config, values, f"invalid config for '{cls.name}'")

    # --- models -------------------------------------------------------------------------
    def build_agent(self, spec: EnvSpec, dtype: torch.dtype = torch.float32) -> Agent:
        """Build the policy (and value function) this config asks for, for ``spec``, in ``dtype``.

        ``init_theta``, ``init_mu`` and ``init_w`` are set in ``dtype`` directly (in float64
        exactly as given, not rounded through float32). Raises :class:`UsageError` if the
        algorithm does not support the environment's actions, or if it updates once per
        episode and the environment is a continuing task (it would never update).
        """
        if spec.action_kind not in self.action_spaces:
            raise UsageError(
                f"'{self.name}' supports {', '.join(self.action_spaces)} actions; "
                f"{spec.env_id} has {spec.action_kind} actions"
            )
        if spec.continuing and self.schedule.episodic:
            raise UsageError(
                f"'{self.name}' updates at the end of each episode and {spec.env_id} is a continuing task "
                f"that never ends one (use a per-step algorithm, e.g. actor-critic-continuing)"
            )
        policy = self.build_policy(spec, dtype)  # first: the order of random initialisations
        value = self.critic(self.build_value(spec, dtype)) if self.uses_value else None
        return Agent(policy, value).to(dtype)

    def critic(self, value: ValueFunction) -> ValueFunction:
        """The value module the loss sees, built around v̂ (the default is v̂ itself).

        An algorithm that learns more than v̂ with the critic (e.g. the average reward R̄ of
        §13.6) wraps it here; ``pgzoo verify`` builds its agents through this too.
        """
        return value

    def build_policy(self, spec: EnvSpec, dtype: torch.dtype | None = None) -> Policy:
        """π as the config says; ``init_theta`` / ``init_mu`` are set in ``dtype`` (default: torch's)."""
        cfg = self.config
        if spec.action_kind == "continuous":
            if cfg.init_theta is not None:
                raise UsageError(f"invalid config for '{self.name}': init_theta is for soft-max policies "
                                 f"(a Gaussian policy's linear mean starts at init_mu)")
            if cfg.features == "env":
                raise UsageError(f"invalid config for '{self.name}': features='env' is for soft-max policies; "
                                 f"a Gaussian policy's mean is linear in [obs, 1] or an MLP ({spec.env_id})")
            try:
                return GaussianPolicy(spec.obs_dim, spec.action_dim, ObsWithBias(spec.obs_dim), mean=cfg.policy,
                                      std=cfg.gaussian_std, hidden=cfg.hidden_sizes, init_log_std=cfg.init_log_std,
                                      min_std=cfg.min_std, init_mu=cfg.init_mu, dtype=dtype,
                                      inputs=self.input_scaling(spec))
            except ValueError as e:
                raise UsageError(f"invalid config for '{self.name}': init_mu: {e}") from None
        if cfg.init_mu is not None:
            raise UsageError(f"invalid config for '{self.name}': init_mu is for Gaussian policies "
                             f"({spec.env_id} has discrete actions; a soft-max policy starts at init_theta)")
        if cfg.policy == "mlp":
            return MLPCategoricalPolicy(spec.obs_dim, spec.n_actions, cfg.hidden_sizes, self.input_scaling(spec))
        if cfg.features == "env" and spec.state_action_features is None:
            raise UsageError(f"{spec.env_id} offers no state-action features (features='env')")
        use_env = cfg.features in ("env", "auto") and spec.state_action_features is not None
        feats = spec.state_action_features if use_env else PerActionObs(spec.obs_dim, spec.n_actions)
        try:
            return LinearSoftmaxPolicy(feats, cfg.init_theta, dtype=dtype)
        except ValueError as e:
            raise UsageError(f"invalid config for '{self.name}': init_theta: {e}") from None

    def build_value(self, spec: EnvSpec, dtype: torch.dtype | None = None) -> ValueFunction:
        """v̂ as ``value`` says; a linear v̂ uses the environment's own x(s)
        (``spec.state_features``) if it has one and ``features`` is not ``"obs"``, else [obs, 1]."""
        cfg = self.config
        try:
            if cfg.value == "scalar":
                return ScalarValue(cfg.init_w[0] if cfg.init_w else 0.0, dtype=dtype)
            if cfg.value == "linear":
                own = spec.state_features if cfg.features != "obs" else None
                return LinearValue(own if own is not None else ObsWithBias(spec.obs_dim, self.input_scaling(spec)),
                                   cfg.init_w, dtype=dtype)
        except ValueError as e:
            raise UsageError(f"invalid config for '{self.name}': init_w: {e}") from None
        return MLPValue(spec.obs_dim, cfg.hidden_sizes, self.input_scaling(spec))

    def input_scaling(self, spec: EnvSpec) -> BoundsScaling | None:
        """The fixed input layer ``obs_scaling`` asks for (``None`` for ``"none"``, and for
        ``"running"``, which the environments do: :mod:`pgzoo.engine.normalization`). Raises
        :class:`UsageError` for ``"bounds"`` on observations without a finite bound."""
        if self.config.obs_scaling != "bounds":
            return None
        space = spec.observation_space
        low = torch.as_tensor(getattr(space, "low", np.array([-np.inf])), dtype=torch.float64).reshape(-1)
        high = torch.as_tensor(getattr(space, "high", np.array([np.inf])), dtype=torch.float64).reshape(-1)
        if not isinstance(space, gym.spaces.Box) or not (torch.isfinite(low) & torch.isfinite(high)).any():
            raise UsageError(f"invalid config for '{self.name}': obs_scaling='bounds' needs a Box observation space "
                             f"with finite bounds; {spec.env_id} has {space}")
        return BoundsScaling(low, high)

    def make_optimizer(self, agent: Agent) -> torch.optim.Optimizer:
        """Plain SGD (the book) or Adam, with α^θ for the policy and α^w for the value.

        Also flushes denormal floats to zero (process-wide): Adam's second moments of tiny
        gradients otherwise become denormal, and CPU arithmetic on them is ~1000× slower.
        """
        torch.set_flush_denormal(True)
        groups = [{"params": list(agent.policy.parameters()), "lr": self.config.alpha_theta}]
        if agent.value is not None:
            groups.append({"params": list(agent.value.parameters()), "lr": self.config.alpha_w})
        # fused kernels: one call per step instead of one per parameter tensor (same rule)
        if self.config.optimizer == "adam":
            return torch.optim.Adam(groups, fused=True, eps=self.config.adam_eps)
        return torch.optim.SGD(groups, fused=True)

    # --- updates ------------------------------------------------------------------------
    def prepare(self, agent: Agent, rollout: Rollout) -> Rollout:
        """What must be fixed at θ_old before the SGD steps, computed without gradients.

        Returns ``rollout`` with results added (``rollout.replace(extras={...})``: advantages,
        value targets, old log-probabilities), which travel with it through
        :meth:`update_batches`. The default adds nothing. Runs under ``torch.no_grad``, once per
        rollout, with the parameters the rollout was collected with.
        """
        return rollout

    def update_batches(self, rollout: Rollout, generator: torch.Generator | None = None) -> Iterator[Rollout]:
        """Split a prepared rollout into the batches of consecutive optimiser steps.

        The default is one step on the whole rollout. REINFORCE's sequential variant takes one
        step per time step; epochs of shuffled minibatches draw their permutations from
        ``generator`` (the run's own, seeded by the engine, so ``book_update`` can replay them).
        """
        yield rollout

    def update(self, agent: Agent, optimizer: torch.optim.Optimizer, rollout: Rollout,
               generator: torch.Generator | None = None) -> dict[str, float]:
        """Take this algorithm's optimiser steps on ``rollout``: prepare → update_batches → loss →
        step (clipped to ``max_grad_norm``). Returns the last step's terms as floats, plus
        ``optimizer_steps``, the number of steps taken. With the update compiled
        (:attr:`compiled_step`) and one step per rollout (``update_batches`` not overridden),
        prepare and the step are one compiled call (:meth:`CompiledStep.update`).

        Each batch's step updates the parameter groups it names (:attr:`Rollout.groups`: the
        policy's, the value function's, or all); the others keep their parameters and their
        optimiser state. ``rollout.progress`` (the fraction of the budget done, set by the
        engine; ``None`` reads as 0) reaches ``prepare`` and every batch's loss.

        Raises :class:`~pgzoo.errors.NonFiniteLossError` *before* stepping when a loss term or a gradient
        is NaN or infinite, so the parameters stay the last good ones, and
        :class:`~pgzoo.rollout.RolloutError` (before any step) when ``rollout.t`` breaks its
        contract with this rollout or the previous one given to this algorithm: t restarts at 0
        after ``terminated | truncated`` and increases by 1 otherwise (``check_rollouts``), or
        when a batch names a group the agent does not have (``"value"`` without v̂).
        """
        if self.check_rollouts and self.uses_time_index:
            self.time_index_check(rollout)
        compiled = self.compiled_step
        if compiled is not None and (compiled.agent is not agent or compiled.optimizer is not optimizer):
            compiled = None  # compiled for the trainer's agent, not this one
        if compiled is not None and type(self).update_batches is Algorithm.update_batches \
                and rollout.groups is None:
            # one step on the whole rollout: prepare and the step compiled as one (the engine's)
            terms = compiled.update(rollout)
            return {**{k: float(v.detach()) for k, v in terms.items()}, "optimizer_steps": 1.0}
        with torch.no_grad():
            rollout = self.prepare(agent, rollout)
        terms: LossTerms = {}
        steps = 0
        for batch in self.update_batches(rollout, generator):
            only = stepped_parameters(agent, batch.groups)
            if compiled is not None:
                terms = compiled(batch)
            else:
                terms = self.loss(agent.policy, agent.value, batch)
                optimizer_step(terms, optimizer, self.config.max_grad_norm, only)
            steps += 1
        return {**{k: float(v.detach()) for k, v in terms.items()}, "optimizer_steps": float(steps)}

    # --- the book -----------------------------------------------------------------------
    def book_update(self, case: BookCase) -> tuple[np.ndarray, np.ndarray | None]:
        """The box's update in closed form, for a linear soft-max policy and linear v̂ (eq. 13.9).

        Returns (θ, w) after the algorithm has processed ``case``'s experience, computed in
        float64 NumPy straight from the book, with no autograd.
        """
        raise NotImplementedError(f"'{self.name}' declares no closed-form book update")


class MonteCarloAlgorithm(Algorithm):
    """An algorithm that learns from whole episodes with returns G_t (REINFORCE, 13.3–13.4).

    With ``sequential`` (the book's boxes), the returns of the episode are computed first and
    then one SGD step is taken per time step t = 0 … T−1, so later steps see the updated θ.
    Without it, one step sums all T terms at the episode's starting parameters.
    """

    schedules: ClassVar[dict[ScheduleKind, int]] = {"episodes": 1}
    verify_variants: ClassVar[dict[str, dict[str, Any]]] = {
        "sequential": {"sequential": True},
        "batched": {"sequential": False},
        "no-gamma-t": {"sequential": True, "discount_actor": False},
    }

    def update_batches(self, rollout: Rollout, generator: torch.Generator | None = None) -> Iterator[Rollout]:
        rollout = rollout.replace(returns=discounted_returns(rollout.rewards, rollout.done, self.config.gamma))
        if not self.config.sequential:
            yield rollout
            return
        for t in range(rollout.num_steps):
            yield rollout[t]
