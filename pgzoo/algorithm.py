"""The ``Algorithm`` base class that every plugin subclasses, and the ``Agent`` it trains."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from pgzoo.config import AlgorithmConfig, build_config
from pgzoo.errors import NonFiniteLossError, UsageError
from pgzoo.features import ObsWithBias, PerActionObs
from pgzoo.losses import LossTerms, SurrogateLoss, total_loss
from pgzoo.policies import GaussianPolicy, LinearSoftmaxPolicy, MLPCategoricalPolicy, Policy
from pgzoo.returns import discounted_returns
from pgzoo.rollout import Rollout
from pgzoo.spaces import EnvSpec
from pgzoo.values import LinearValue, MLPValue, ScalarValue, ValueFunction

if TYPE_CHECKING:
    from pgzoo.book import BookCase


class Agent(nn.Module):
    """What an algorithm trains: a policy π(·|·,θ) and, for critic methods, v̂(·,w)."""

    def __init__(self, policy: Policy, value: ValueFunction | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.value = value


class Algorithm:
    """One book algorithm: its config, its surrogate loss, its update cadence, its box.

    Subclasses set the class attributes and usually only :attr:`Loss` and :meth:`book_update`
    hold algorithm-specific logic. The trainer, ``pgzoo verify`` and the conformance tests all
    go through :meth:`update`, so what is verified is what is trained.
    """

    name: ClassVar[str]
    """The name users type: ``pgzoo train NAME``."""
    section: ClassVar[str]
    """Section of Sutton & Barto (2nd ed.), e.g. ``"13.3"``."""
    summary: ClassVar[str] = ""
    Config: ClassVar[type[AlgorithmConfig]] = AlgorithmConfig
    Loss: ClassVar[type[SurrogateLoss]]
    cadence: ClassVar[Literal["episode", "step"]]
    """``"episode"``: update on each finished episode; ``"step"``: update after every step."""
    action_spaces: ClassVar[tuple[str, ...]] = ("discrete",)
    uses_value: ClassVar[bool] = False
    env_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Per-environment default settings (tuned), applied before the user's own."""
    verify_variants: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}
    """Settings under which ``pgzoo verify`` checks the loss against :meth:`book_update`."""

    def __init__(self, config: AlgorithmConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.loss = self.Loss(self.config)

    @classmethod
    def make_config(cls, env_id: str | None = None, overrides: dict[str, Any] | None = None) -> AlgorithmConfig:
        """Defaults, then the tuned ``env_defaults`` of ``env_id``, then ``overrides``."""
        values = {**cls.env_defaults.get(env_id or "", {}), **(overrides or {})}
        return build_config(cls.Config, values, f"invalid config for '{cls.name}'")

    # --- models -------------------------------------------------------------------------
    def build_agent(self, spec: EnvSpec) -> Agent:
        """Build the policy (and value function) this config asks for, for ``spec``."""
        if spec.action_kind not in self.action_spaces:
            raise UsageError(
                f"'{self.name}' supports {', '.join(self.action_spaces)} actions; "
                f"{spec.env_id} has {spec.action_kind} actions"
            )
        return Agent(self.build_policy(spec), self.critic(self.build_value(spec)) if self.uses_value else None)

    def critic(self, value: ValueFunction) -> ValueFunction:
        """The value module the loss sees, built around v̂ (the default is v̂ itself).

        An algorithm that learns more than v̂ with the critic (e.g. the average reward R̄ of
        §13.6) wraps it here; ``pgzoo verify`` builds its agents through this too.
        """
        return value

    def build_policy(self, spec: EnvSpec) -> Policy:
        cfg = self.config
        if spec.action_kind == "continuous":
            if cfg.init_theta is not None:
                raise UsageError(f"invalid config for '{self.name}': init_theta is for soft-max policies")
            if cfg.features == "env":
                raise UsageError(f"invalid config for '{self.name}': features='env' is for soft-max policies; "
                                 f"a Gaussian policy's mean is linear in [obs, 1] or an MLP ({spec.env_id})")
            return GaussianPolicy(spec.obs_dim, spec.action_dim, ObsWithBias(spec.obs_dim), mean=cfg.policy,
                                  std=cfg.gaussian_std, hidden=cfg.hidden_sizes, init_log_std=cfg.init_log_std,
                                  min_std=cfg.min_std)
        if cfg.policy == "mlp":
            return MLPCategoricalPolicy(spec.obs_dim, spec.n_actions, cfg.hidden_sizes)
        if cfg.features == "env" and spec.state_action_features is None:
            raise UsageError(f"{spec.env_id} offers no state-action features (features='env')")
        use_env = cfg.features in ("env", "auto") and spec.state_action_features is not None
        feats = spec.state_action_features if use_env else PerActionObs(spec.obs_dim, spec.n_actions)
        try:
            return LinearSoftmaxPolicy(feats, cfg.init_theta)
        except ValueError as e:
            raise UsageError(f"invalid config for '{self.name}': init_theta: {e}") from None

    def build_value(self, spec: EnvSpec) -> ValueFunction:
        cfg = self.config
        try:
            if cfg.value == "scalar":
                return ScalarValue(cfg.init_w[0] if cfg.init_w else 0.0)
            if cfg.value == "linear":
                return LinearValue(ObsWithBias(spec.obs_dim), cfg.init_w)
        except ValueError as e:
            raise UsageError(f"invalid config for '{self.name}': init_w: {e}") from None
        return MLPValue(spec.obs_dim, cfg.hidden_sizes)

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
            return torch.optim.Adam(groups, fused=True)
        return torch.optim.SGD(groups, fused=True)

    # --- updates ------------------------------------------------------------------------
    def update_batches(self, rollout: Rollout) -> Iterator[Rollout]:
        """Split what the trainer collected into the batches of consecutive SGD steps.

        The default is one step on the whole rollout. REINFORCE's sequential variant
        overrides this to fill in the returns and then take one step per time step.
        """
        yield rollout

    def update(self, agent: Agent, optimizer: torch.optim.Optimizer, rollout: Rollout) -> dict[str, float]:
        """Take this algorithm's optimiser steps on ``rollout``; return the last step's terms.

        Raises :class:`NonFiniteLossError` *before* stepping when a loss term or a gradient
        is NaN or infinite, so the parameters stay the last good ones.
        """
        terms: LossTerms = {}
        for batch in self.update_batches(rollout):
            terms = self.loss(agent.policy, agent.value, batch)
            total = total_loss(terms)
            if not torch.isfinite(total):
                bad = [k for k, v in terms.items() if k.startswith("loss_") and not torch.isfinite(v)]
                raise NonFiniteLossError(f"{', '.join(bad) or 'total loss'} is {total.item()}")
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            if grads and not math.isfinite(float(torch.stack([g.abs().sum() for g in grads]).sum())):
                raise NonFiniteLossError("a gradient of the total loss is not finite")
            optimizer.step()
        return {k: float(v.detach()) for k, v in terms.items()}

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

    cadence: ClassVar[Literal["episode", "step"]] = "episode"
    verify_variants: ClassVar[dict[str, dict[str, Any]]] = {
        "sequential": {"sequential": True},
        "batched": {"sequential": False},
        "no-gamma-t": {"sequential": True, "discount_actor": False},
    }

    def update_batches(self, rollout: Rollout) -> Iterator[Rollout]:
        rollout = rollout.replace(returns=discounted_returns(rollout.rewards, rollout.done, self.config.gamma))
        if not self.config.sequential:
            yield rollout
            return
        for t in range(rollout.num_steps):
            yield rollout[t]
