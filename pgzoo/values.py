"""State-value functions v̂(s,w)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pgzoo.features import StateFeatures
from pgzoo.policies import mlp


class ValueFunction(nn.Module):
    """v̂(s,w): ``forward(obs)`` maps observations ``[..., obs_dim]`` to values ``[...]``."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class ScalarValue(ValueFunction):
    """v̂(s,w) = w: one number for every state (the baseline of Figure 13.2)."""

    def __init__(self, init: float = 0.0, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([float(init)], dtype=dtype))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.w[0].expand(obs.shape[:-1])


class LinearValue(ValueFunction):
    """v̂(s,w) = wᵀx(s), w starting at 0 or at ``init_w`` (in ``dtype``, default torch's default)."""

    def __init__(self, features: StateFeatures, init_w: Sequence[float] | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.features = features
        w = (torch.zeros(features.dim, dtype=dtype) if init_w is None
             else torch.tensor(init_w, dtype=dtype or torch.get_default_dtype()))
        if w.shape != (features.dim,):
            raise ValueError(f"init_w has {w.numel()} entries, the features have {features.dim}")
        self.w = nn.Parameter(w)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.features(obs) @ self.w


class MLPValue(ValueFunction):
    """v̂(s,w) from a multi-layer perceptron."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64, 64), inputs: nn.Module | None = None) -> None:
        super().__init__()
        self.inputs = inputs  # e.g. pgzoo.features.BoundsScaling, before the first layer
        self.net = mlp([obs_dim, *hidden, 1])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.inputs is not None:
            obs = self.inputs(obs)
        return self.net(obs).squeeze(-1)
