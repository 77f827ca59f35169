"""One optimiser step on a loss's terms: the NaN guard, gradient clipping, step-size schedules."""

from __future__ import annotations

import math

import torch

from pgzoo.errors import NonFiniteLossError
from pgzoo.losses import LossTerms, total_loss


def optimizer_step(terms: LossTerms, optimizer: torch.optim.Optimizer, max_grad_norm: float | None = None) -> None:
    """Minimise the sum of the ``loss_*`` terms by one step of ``optimizer``.

    With ``max_grad_norm``, the gradient of all parameters together is scaled down to that
    global L2 norm first (``torch.nn.utils.clip_grad_norm_``). Raises
    :class:`~pgzoo.errors.NonFiniteLossError` naming the non-finite terms, or saying that a
    gradient is not finite, *before* the parameters change.
    """
    total = total_loss(terms)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
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


def lr_factor(schedule: str, fraction_done: float) -> float:
    """The factor on every base step size when ``fraction_done`` ∈ [0, 1] of the budget is done:
    1 for ``"constant"``, 1 − fraction for ``"linear"`` (SB3's linear schedule)."""
    if schedule == "linear":
        return max(0.0, 1.0 - fraction_done)
    return 1.0


def set_lr(optimizer: torch.optim.Optimizer, base_lrs: list[float], factor: float) -> None:
    """Set every parameter group's step size to its base value times ``factor``."""
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = base * factor
