"""Policies π(a|s,θ): modules that map observations to action distributions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Categorical, Distribution

from pgzoo.features import StateActionFeatures


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """A plain multi-layer perceptron with ``activation`` between the linear layers."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """π(·|s,θ): ``forward(obs)`` returns a ``torch.distributions.Distribution`` over actions.

    Observations are encoded float tensors ``[..., obs_dim]``; the distribution's batch
    shape is the observations' leading shape.
    """

    def forward(self, obs: torch.Tensor) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def log_prob(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """ln π(A|S,θ) for a batch of observations and actions."""
        return self(obs).log_prob(actions)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Sample an action (or take the most probable one with ``deterministic``)."""
        dist = self(obs)
        return self.mode(dist) if deterministic else dist.sample()

    @staticmethod
    def mode(dist: Distribution) -> torch.Tensor:
        """The greedy action of a distribution (arg-max probability, or the mean)."""
        if isinstance(dist, Categorical):
            return dist.logits.argmax(-1)
        return dist.mean


class LinearSoftmaxPolicy(Policy):
    """Soft-max in linear action preferences, eqs. 13.2–13.3.

    h(s,a,θ) = θᵀx(s,a),  π(a|s,θ) = exp h(s,a,θ) / Σ_b exp h(s,b,θ).
    θ starts at 0 as in the book's boxes, unless ``init_theta`` is given.
    """

    def __init__(self, features: StateActionFeatures, init_theta: Sequence[float] | None = None) -> None:
        super().__init__()
        self.features = features
        theta = torch.zeros(features.dim)
        if init_theta is not None:
            theta = torch.as_tensor(init_theta, dtype=torch.float32)
            if theta.shape != (features.dim,):
                raise ValueError(f"init_theta has {theta.numel()} entries, the features have {features.dim}")
        self.theta = nn.Parameter(theta)

    def preferences(self, obs: torch.Tensor) -> torch.Tensor:
        """h(s,·,θ) for every action: ``[..., n_actions]``."""
        return self.features(obs) @ self.theta

    def forward(self, obs: torch.Tensor) -> Distribution:
        return Categorical(logits=self.preferences(obs), validate_args=False)


class MLPCategoricalPolicy(Policy):
    """Soft-max over the outputs of a multi-layer perceptron of the observation."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hidden, n_actions])
        last = self.net[-1]
        nn.init.orthogonal_(last.weight, gain=0.01)
        nn.init.zeros_(last.bias)

    def forward(self, obs: torch.Tensor) -> Distribution:
        return Categorical(logits=self.net(obs), validate_args=False)
