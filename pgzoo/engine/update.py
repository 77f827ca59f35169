"""One optimiser step on a loss's terms: the NaN guard, gradient clipping, step-size schedules."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from pgzoo.annealing import anneal_factor
from pgzoo.errors import NonFiniteLossError
from pgzoo.losses import LossTerms, total_loss
from pgzoo.rollout import RolloutError


def optimizer_step(terms: LossTerms, optimizer: torch.optim.Optimizer, max_grad_norm: float | None = None,
                   only: Iterable[torch.Tensor] | None = None) -> None:
    """Minimise the sum of the ``loss_*`` terms by one step of ``optimizer``.

    With ``only``, the step updates those parameters alone: every other parameter's gradient
    is dropped (``grad = None``) before clipping and stepping, so it keeps its value and its
    optimiser state (torch's optimisers skip a parameter without a gradient: no moment, no
    step count changes). With ``max_grad_norm``, the gradient of the stepped parameters
    together is scaled down to that global L2 norm first (``torch.nn.utils.clip_grad_norm_``).
    Raises :class:`~pgzoo.errors.NonFiniteLossError` naming the non-finite terms, or saying
    that a gradient is not finite, *before* the parameters change.
    """
    total = total_loss(terms)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if only is not None:
        keep = {id(p) for p in only}
        for g in optimizer.param_groups:
            for p in g["params"]:
                if id(p) not in keep:
                    p.grad = None
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if max_grad_norm is not None:
        gsize = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    else:
        gsize = torch.stack([p.grad.abs().sum() for p in params]).sum() if params else total.new_zeros(())
    # one host synchronisation for both checks; the slow path only runs to name what failed
    if not math.isfinite(float(total.detach() + gsize)):
        if not torch.isfinite(total):
            bad = [k for k, v in terms.items() if k.startswith("loss_") and not torch.isfinite(v)]
            raise NonFiniteLossError(f"{', '.join(bad) or 'total loss'} is {total.item()}")
        raise NonFiniteLossError("a gradient of the total loss is not finite")
    optimizer.step()


def stepped_parameters(agent: torch.nn.Module, groups: tuple[str, ...] | None) -> list[torch.Tensor] | None:
    """The parameters an optimiser step on a batch with :attr:`~pgzoo.Rollout.groups` ``groups``
    updates: those of ``agent.policy`` and/or ``agent.value`` (``None``: all). Raises
    :class:`~pgzoo.rollout.RolloutError` for ``"value"`` on an agent without v̂."""
    if groups is None:
        return None
    if "value" in groups and agent.value is None:
        raise RolloutError(f"a batch steps the groups {groups}, but the agent has no value function")
    return [p for g in groups for p in getattr(agent, g).parameters()]


def lr_factor(schedule: str, fraction_done: float) -> float:
    """The factor on every base step size when ``fraction_done`` ∈ [0, 1] of the budget is done:
    1 for ``"constant"``, 1 − fraction for ``"linear"`` (SB3's linear schedule;
    :func:`pgzoo.annealing.anneal_factor`)."""
    return anneal_factor(schedule, fraction_done)


def set_lr(optimizer: torch.optim.Optimizer, base_lrs: list[float], factor: float) -> None:
    """Set every parameter group's step size to its base value times ``factor``."""
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = base * factor
