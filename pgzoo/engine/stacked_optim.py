"""Optimisers over stacked parameters ``[R, ...]``: one independent optimiser per run.

Each mirrors one ``torch.optim`` optimiser step for step: run r's rows follow exactly the
updates that optimiser would make on run r's parameters alone. A step touches only the runs
it is given; the others keep their parameters *and* their state (Adam's moments and step
count do not advance for a run that had nothing to learn from).

The optimiser holds every stacked parameter in one buffer ``[R, total]`` (the dict it is given
then holds views of it, see :func:`flatten_runs`), so a step that updates every parameter is a
dozen tensor operations however many parameter tensors the model has; elementwise, they are
the same operations in the same order as one parameter at a time (the results are identical).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pgzoo.errors import UsageError


def _per_run(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a ``[k]`` vector to broadcast against ``[k, ...]``."""
    return x.reshape(-1, *([1] * (like.dim() - 1)))


def flatten_runs(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Move stacked parameters ``[R, ...]`` into one buffer ``[R, total]`` (in the dict's order)
    and replace each entry of ``params`` by a view of it (same shape and values); return the buffer."""
    runs = next(iter(params.values())).shape[0]
    flat = torch.cat([v.detach().reshape(runs, -1) for v in params.values()], 1)
    start = 0
    for name, v in params.items():
        size = v[0].numel()
        params[name] = flat[:, start:start + size].view(v.shape)
        start += size
    return flat


class StackedOptimizer:
    """Per-run step sizes ``lr[name]`` (``[R]``) for each stacked parameter ``name``.

    Takes over ``params``: its entries become views of one buffer (:func:`flatten_runs`).
    """

    def __init__(self, params: dict[str, torch.Tensor], lr: dict[str, torch.Tensor]) -> None:
        self.params, self.lr = params, lr
        self.flat = flatten_runs(params)
        self.sizes = [(name, v[0].numel()) for name, v in params.items()]

    def step(self, idx: torch.Tensor, grads: dict[str, torch.Tensor]) -> None:  # pragma: no cover
        """Update the rows ``idx`` of every parameter with their gradients ``grads`` (``[k, ...]``)."""
        raise NotImplementedError

    def _flat(self, idx: torch.Tensor, grads: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The gradients as one ``[k, total]`` tensor if ``grads`` covers every parameter, else ``None``."""
        if grads.keys() != self.params.keys():
            return None
        k = len(idx)
        return torch.cat([grads[name].reshape(k, size) for name, size in self.sizes], 1)

    def _per_element(self, idx: torch.Tensor, rate: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``[k, total]``: ``rate(lr[name][idx])`` (``[k]``) repeated over each parameter's elements."""
        k = len(idx)
        return torch.cat([rate(self.lr[name][idx]).reshape(k, 1).expand(k, size) for name, size in self.sizes], 1)


class StackedSGD(StackedOptimizer):
    """Plain SGD: θ ← θ − α g."""

    def step(self, idx: torch.Tensor, grads: dict[str, torch.Tensor]) -> None:
        g = self._flat(idx, grads)
        if g is not None:
            self.flat[idx] = self.flat[idx] - self._per_element(idx, lambda lr: lr) * g
            return
        for name, g in grads.items():
            p = self.params[name]
            p[idx] = p[idx] - _per_run(self.lr[name][idx], g) * g


class StackedAdam(StackedOptimizer):
    """Adam (``torch.optim.Adam`` without weight decay or AMSGrad), with per-run step counts."""

    def __init__(self, params: dict[str, torch.Tensor], lr: dict[str, torch.Tensor],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.m_flat, self.v_flat = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.m = {k: self.m_flat[:, a:b].view(v.shape) for (k, v), (a, b) in zip(params.items(), self._spans(),
                                                                                  strict=True)}
        self.v = {k: self.v_flat[:, a:b].view(v.shape) for (k, v), (a, b) in zip(params.items(), self._spans(),
                                                                                  strict=True)}
        self.steps = {k: torch.zeros(v.shape[0], dtype=torch.float64) for k, v in params.items()}
        self.shared_steps: torch.Tensor | None = torch.zeros(self.flat.shape[0], dtype=torch.float64)
        """Every parameter's step count while they all stepped together (else ``None``: per name)."""

    def _spans(self) -> list[tuple[int, int]]:
        out, start = [], 0
        for _, size in self.sizes:
            out.append((start, start + size))
            start += size
        return out

    def step(self, idx: torch.Tensor, grads: dict[str, torch.Tensor]) -> None:
        b1, b2 = self.beta1, self.beta2
        g = self._flat(idx, grads) if self.shared_steps is not None else None
        if g is not None:
            n = self.shared_steps[idx] + 1
            self.shared_steps[idx] = n
            m_new = torch.lerp(self.m_flat[idx], g, 1 - b1)
            v_new = self.v_flat[idx] * b2 + (1 - b2) * g * g
            self.m_flat[idx], self.v_flat[idx] = m_new, v_new
            bc1 = 1 - b1**n
            step_size = self._per_element(idx, lambda lr: (lr.double() / bc1).to(g.dtype))
            bc2_sqrt = torch.sqrt(1 - b2**n).to(g.dtype).reshape(-1, 1)
            denom = v_new.sqrt() / bc2_sqrt + self.eps
            self.flat[idx] = self.flat[idx] - step_size * m_new / denom
            return
        if self.shared_steps is not None:  # from now on, parameters may step apart: count per name
            self.steps = {k: self.shared_steps.clone() for k in self.steps}
            self.shared_steps = None
        for name, g in grads.items():
            p, m, v = self.params[name], self.m[name], self.v[name]
            n = self.steps[name][idx] + 1
            self.steps[name][idx] = n
            m_new = torch.lerp(m[idx], g, 1 - b1)
            v_new = v[idx] * b2 + (1 - b2) * g * g
            m[idx], v[idx] = m_new, v_new
            step_size = _per_run((self.lr[name][idx].double() / (1 - b1**n)).to(p.dtype), g)
            bc2_sqrt = _per_run(torch.sqrt(1 - b2**n).to(p.dtype), g)
            denom = v_new.sqrt() / bc2_sqrt + self.eps
            p[idx] = p[idx] - step_size * m_new / denom


def stacked_optimizer(
    optimizers: list[torch.optim.Optimizer], names: dict[int, str], params: dict[str, torch.Tensor]
) -> StackedOptimizer:
    """The stacked twin of per-run optimisers (one per run, all of one kind and settings but α).

    ``names`` maps ``id()`` of each run's parameter tensors to the stacked parameter's name.
    """
    first = optimizers[0]
    kind = type(first)
    lr = {k: torch.empty(len(optimizers), dtype=torch.float64) for k in params}
    for r, opt in enumerate(optimizers):
        if type(opt) is not kind:
            raise UsageError("population members must use the same optimiser")
        for group in opt.param_groups:
            for p in group["params"]:
                lr[names[id(p)]][r] = group["lr"]
    lr = {k: v.to(next(iter(params.values())).dtype) for k, v in lr.items()}
    group = first.param_groups[0]
    if kind is torch.optim.SGD and not group.get("momentum") and not group.get("weight_decay"):
        return StackedSGD(params, lr)
    if kind is torch.optim.Adam and not group.get("weight_decay") and not group.get("amsgrad"):
        return StackedAdam(params, lr, tuple(group["betas"]), group["eps"])
    raise UsageError(f"population training supports plain SGD and Adam, not {kind.__name__} with {group}")
