"""Policies π(a|s,θ): modules that map observations to action distributions."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from pgzoo.exploration import StateDependentNoise, sde_std
from pgzoo.features import StateActionFeatures, StateFeatures


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """A plain multi-layer perceptron with ``activation`` between the linear layers."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
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
    θ starts at 0 as in the book's boxes, unless ``init_theta`` is given (in ``dtype``, default
    torch's default dtype: ``dtype=torch.float64`` keeps the values exactly as given).
    """

    def __init__(self, features: StateActionFeatures, init_theta: Sequence[float] | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.features = features
        theta = torch.zeros(features.dim, dtype=dtype)
        if init_theta is not None:
            theta = torch.tensor(init_theta, dtype=dtype or torch.get_default_dtype())  # exact in float64
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

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64),
                 inputs: nn.Module | None = None) -> None:
        super().__init__()
        self.inputs = inputs  # e.g. pgzoo.features.BoundsScaling, before the first layer
        self.net = mlp([obs_dim, *hidden, n_actions])
        last = self.net[-1]
        nn.init.orthogonal_(last.weight, gain=0.01)
        nn.init.zeros_(last.bias)

    def forward(self, obs: torch.Tensor) -> Distribution:
        if self.inputs is not None:
            obs = self.inputs(obs)
        return Categorical(logits=self.net(obs), validate_args=False)


class GaussianPolicy(Policy):
    """Gaussian policy for continuous actions, eqs. 13.19–13.20.

    π(a|s,θ) = N(a; μ(s,θ), σ(s,θ)²) per action dimension (independent), with
    μ(s,θ) = θ_μᵀx_μ(s) (``mean="linear"``) or an MLP of the observation (``mean="mlp"``), and
    σ(s,θ) = exp(θ_σᵀx_σ(s)) (``std="linear"``) or exp(θ_σ), one per action dimension
    (``std="state-independent"``), or gSDE's state-dependent σ_j(s) = √(Σ_i z_i(s)² exp(2θ_σ,ij)
    + min_std²) over the latent features z(s) (``std="sde"``, :mod:`pgzoo.exploration`: θ_σ is
    ``[latent_dim, action_dim]``, z = x_μ(s) of a linear mean or the MLP's last hidden layer,
    held constant). ln σ is clamped below at ln ``min_std``, so σ never
    collapses to 0; above that floor the gradients are the book's (Exercise 13.4):
    ∇_{θ_μ} ln π = (a − μ)/σ² x_μ(s),  ∇_{θ_σ} ln π = ((a − μ)²/σ² − 1) x_σ(s).
    The action passed to ``log_prob`` is the sampled one (before any clipping to bounds).
    θ_μ of a linear mean starts at 0, or at ``init_mu`` (``action_dim × features.dim`` values,
    row-major, in ``dtype``); an MLP mean starts near 0 (last layer's weights × 0.01).
    Raises ``ValueError`` if ``init_mu`` has the wrong length or the mean is not linear.
    """

    def __init__(self, obs_dim: int, action_dim: int, features: StateFeatures, mean: str = "linear",
                 std: str = "state-independent", hidden: Sequence[int] = (64, 64), init_log_std: float = 0.0,
                 min_std: float = 1e-3, init_mu: Sequence[float] | None = None,
                 dtype: torch.dtype | None = None, inputs: nn.Module | None = None) -> None:
        super().__init__()
        self.features = features
        self.inputs = inputs  # e.g. pgzoo.features.BoundsScaling, before the mean's and σ's features
        self.mean_kind, self.std_kind = mean, std
        if init_mu is not None and mean != "linear":
            raise ValueError("init_mu sets θ_μ of a linear mean only")
        if mean == "linear":
            theta_mu = torch.zeros(action_dim, features.dim, dtype=dtype)
            if init_mu is not None:
                flat = torch.tensor(init_mu, dtype=dtype or torch.get_default_dtype())
                if flat.shape != (action_dim * features.dim,):
                    raise ValueError(f"init_mu has {flat.numel()} entries, θ_μ has {action_dim} × {features.dim}")
                theta_mu = flat.reshape(action_dim, features.dim)
            self.theta_mu = nn.Parameter(theta_mu)
        else:
            self.mean_net = mlp([obs_dim, *hidden, action_dim])
            nn.init.orthogonal_(self.mean_net[-1].weight, gain=0.01)
            nn.init.zeros_(self.mean_net[-1].bias)
        self.noise_draws: int | None = None
        """Uniforms one action's gSDE noise matrix takes (``std="sde"``), else ``None``."""
        self.min_std = min_std
        if std == "linear":
            theta_sigma = torch.zeros(action_dim, features.dim)
            theta_sigma[:, -1] = init_log_std  # the bias feature (x = [obs, 1])
            self.theta_sigma = nn.Parameter(theta_sigma)
        elif std == "sde":
            latent_dim = features.dim if mean == "linear" else hidden[-1]
            self.theta_sigma = nn.Parameter(torch.full((latent_dim, action_dim), float(init_log_std), dtype=dtype))
            self.noise_draws = latent_dim * action_dim
        else:
            self.theta_sigma = nn.Parameter(torch.full((action_dim,), float(init_log_std)))
        self.log_min_std = float(torch.log(torch.tensor(min_std)))

    def mean_std(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ(s,θ) and σ(s,θ), each ``[..., action_dim]``."""
        dist = self(obs)
        return dist.base_dist.loc, dist.base_dist.scale

    def _sde(self, obs: torch.Tensor) -> StateDependentNoise:
        if self.mean_kind == "linear":  # (obs already through inputs)
            z = self.features(obs)
            mu = z @ self.theta_mu.T
        else:
            z = self.mean_net[:-1](obs)
            mu = self.mean_net[-1](z)
        z = z.detach()
        sigma, std = sde_std(z, self.theta_sigma, self.min_std)
        return StateDependentNoise(mu, std, z, sigma)

    def forward(self, obs: torch.Tensor) -> Distribution:
        if self.inputs is not None:
            obs = self.inputs(obs)
        if self.std_kind == "sde":
            return self._sde(obs)
        x = self.features(obs) if (self.mean_kind == "linear" or self.std_kind == "linear") else None
        mu = x @ self.theta_mu.T if self.mean_kind == "linear" else self.mean_net(obs)
        log_std = x @ self.theta_sigma.T if self.std_kind == "linear" else self.theta_sigma.expand_as(mu)
        std = torch.exp(torch.clamp(log_std, min=self.log_min_std))
        return Independent(Normal(mu, std, validate_args=False), 1, validate_args=False)
