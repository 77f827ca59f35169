"""Surrogate losses: the answer to "what is the loss of an update rule?".

An update θ ← θ + α·C·∇g(θ), with C not depending on θ, is one plain-SGD step with step size
α on the loss −C·g(θ) when C is treated as a constant (:func:`surrogate`). An update
θ ← θ + α·v whose direction v is not the gradient of anything at the current θ (eligibility
traces) is one SGD step on −⟨v, θ⟩ with v treated as a constant (:func:`direction_loss`),
which writes −v into θ's gradient.

Every loss returns a dict of named terms. Terms named ``loss_*`` are summed into the total
that the trainer minimises; every other entry is a detached diagnostic.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.distributions import Distribution

from pgzoo.annealing import annealed
from pgzoo.policies import Policy
from pgzoo.rollout import Rollout
from pgzoo.values import ValueFunction

LossTerms = dict[str, torch.Tensor]


def surrogate(coef: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The loss −Σ C·g whose gradient step is θ ← θ + α Σ C ∇g(θ) (C held constant)."""
    return -(coef.detach() * g).sum()


def direction_loss(params: Iterable[torch.Tensor], directions: Iterable[torch.Tensor]) -> torch.Tensor:
    """The loss −Σ⟨v, θ⟩ whose gradient step is θ ← θ + α v for any direction v.

    Its gradient with respect to each θ is exactly −v, whatever θ is: this is how an update
    that is no gradient at the current θ (e.g. δ·z with an eligibility trace z) goes through
    an ordinary optimiser.
    """
    return -sum((v.detach() * p).sum() for p, v in zip(params, directions, strict=True))


def entropy_bonus(dist: Distribution, coef: float) -> torch.Tensor:
    """−coef·Σ H(π(·|S)): minimising it raises the policy's entropy."""
    return -coef * dist.entropy().sum()


def policy_loss_terms(dist: Distribution, actions: torch.Tensor, coef: torch.Tensor, entropy_coef: float = 0.0
                      ) -> LossTerms:
    """``loss_policy`` = −Σ C·ln π(A|S,θ) (C held constant), plus ``loss_entropy`` if asked for."""
    terms = {"loss_policy": surrogate(coef, dist.log_prob(actions))}
    if entropy_coef:
        terms["loss_entropy"] = entropy_bonus(dist, entropy_coef)
    return terms


def total_loss(terms: LossTerms) -> torch.Tensor:
    """Sum of the ``loss_*`` terms: what the optimiser minimises."""
    losses = [v for k, v in terms.items() if k.startswith("loss_")]
    if not losses:
        raise ValueError("a surrogate loss returned no 'loss_*' term")
    return torch.stack(losses).sum() if len(losses) > 1 else losses[0]


class SurrogateLoss(nn.Module):
    """From (policy, value function, rollout) to named loss terms.

    Subclasses implement :meth:`forward`; the configuration of their algorithm is in
    ``self.config``. A loss may keep state between calls (e.g. eligibility traces).
    """

    def __init__(self, config: object) -> None:
        super().__init__()
        self.config = config

    def init_state(self, agent: nn.Module, num_envs: int) -> None:
        """Create the state this loss keeps between calls (as buffers), for a fresh run of
        ``agent`` on ``num_envs`` environments. The default keeps none.

        A loss with state (e.g. eligibility traces) creates all of it here, so that
        population training (:mod:`pgzoo.engine.population`) can keep one copy per run; the trainer
        calls it before the first update.
        """

    def setting(self, name: str, rollout: Rollout) -> torch.Tensor | float:
        """The config's setting ``name`` at ``rollout.progress``: annealed if ``config.anneal``
        schedules it (:func:`pgzoo.annealing.annealed`), else as configured."""
        return annealed(self.config, name, rollout.progress)

    def forward(self, policy: Policy, value: ValueFunction | None, rollout: Rollout) -> LossTerms:  # pragma: no cover
        raise NotImplementedError
