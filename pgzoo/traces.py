"""Eligibility traces for any differentiable policy or value network (§13.5–13.6).

Traces accumulate per-environment gradients (∇ln π, ∇v̂), which are not the gradient of any
loss at the current parameters; their update δ·z goes through the optimiser with
:func:`pgzoo.losses.direction_loss`. :class:`ActorCriticTraceLoss` is the shared part of the
trace-based actor–critic losses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from pgzoo.algorithm import Algorithm
from pgzoo.losses import SurrogateLoss, direction_loss
from pgzoo.resources import check_memory
from pgzoo.rollout import Rollout

GRAD_CHUNK = 1024
"""Environments whose gradients one vmapped call computes at once (bounds the peak memory)."""


def per_env_gradients(
    module: nn.Module, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """∇_θ fn(θ; inputs)[n] for every environment n, as ``{name: [N, *shape]}``.

    ``fn(module, params, *inputs)`` computes one scalar per environment, ``[N]``, from inputs
    with a leading N axis, with ``functional_call(module, params, ...)``; environment n's
    scalar may depend on environment n's inputs only. Each environment's gradient is
    ``torch.func.grad`` of its own scalar, vmapped over the environments (in chunks of
    :data:`GRAD_CHUNK`), so time and memory grow linearly with N; the same code runs inside an
    enclosing ``vmap`` (population training).
    """
    params = {k: v.detach() for k, v in module.named_parameters()}

    def one(p: dict[str, torch.Tensor], *sample: torch.Tensor) -> torch.Tensor:
        return fn(module, p, *(x[None] for x in sample)).sum()

    n = inputs[0].shape[0]
    chunk = GRAD_CHUNK if n > GRAD_CHUNK else None
    return vmap(grad(one), in_dims=(None, *([0] * len(inputs))), chunk_size=chunk)(params, *inputs)


def grad_log_prob(policy: nn.Module, obs: torch.Tensor, actions: torch.Tensor) -> dict[str, torch.Tensor]:
    """∇ln π(A_n|S_n,θ) for each environment n (``obs`` ``[N, obs_dim]``, ``actions`` ``[N, ...]``)."""

    def log_prob(m: nn.Module, p: dict[str, torch.Tensor], o: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return functional_call(m, p, (o,)).log_prob(a).reshape(o.shape[0], -1).sum(1)

    return per_env_gradients(policy, log_prob, obs, actions)


def grad_value(value: nn.Module, obs: torch.Tensor) -> dict[str, torch.Tensor]:
    """∇v̂(S_n,w) for each environment n."""

    def v(m: nn.Module, p: dict[str, torch.Tensor], o: torch.Tensor) -> torch.Tensor:
        return functional_call(m, p, (o,)).reshape(o.shape[0])

    return per_env_gradients(value, v, obs)


class EligibilityTrace(nn.Module):
    """One trace per parameter and environment: z ← decay·z + scale·∇, reset where asked.

    The traces are buffers (saved in the loss's state dict), created at the first step.
    """

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    @staticmethod
    def _key(name: str) -> str:
        return "z_" + name.replace(".", "_")

    def init(self, module: nn.Module, num_envs: int) -> None:
        """Create zero traces for ``module``'s parameters and ``num_envs`` environments.

        Optional for :meth:`step` (which creates missing traces), but a loss's state must
        exist before its first call for population training to carry it per run. Raises
        :class:`~pgzoo.errors.UsageError` if the traces (and one step's per-environment
        gradients, as large) would take more than half of the machine's memory.
        """
        size = sum(p.numel() * p.element_size() for p in module.parameters())
        count = sum(p.numel() for p in module.parameters())
        check_memory(2 * size * num_envs, f"eligibility traces of {num_envs} envs over {count} parameters",
                     "lower num_envs or the network size")
        for name, p in module.named_parameters():
            self.register_buffer(self._key(name), torch.zeros(num_envs, *p.shape, dtype=p.dtype, device=p.device))

    def step(self, grads: dict[str, torch.Tensor], decay: float, scale: torch.Tensor | float = 1.0,
             reset: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Advance the traces of all N environments by one step; return them (``[N, *shape]``).

        ``reset`` (bool ``[N]``) zeroes an environment's traces first: a new episode.
        """
        out = {}
        for name, g in grads.items():
            key = self._key(name)
            z = getattr(self, key, None)
            if z is None or z.shape != g.shape:
                z = torch.zeros_like(g)
            keep = 1.0 if reset is None else (~reset).to(g.dtype).reshape(-1, *[1] * (g.dim() - 1))
            s = scale if not torch.is_tensor(scale) else scale.to(g.dtype).reshape(-1, *[1] * (g.dim() - 1))
            z = decay * keep * z + s * g
            self.register_buffer(key, z)
            out[name] = z
        return out


def trace_direction(traces: dict[str, torch.Tensor], delta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Σ_n δ_n z_n: the update direction of every parameter, summed over environments."""
    return {k: torch.tensordot(delta.to(z.dtype), z, dims=1) for k, z in traces.items()}


class ActorCriticTraceLoss(SurrogateLoss):
    """Base of the actor–critic losses with eligibility traces (§13.5–13.6).

    Holds z^θ (over the policy's parameters) and z^w (over :meth:`traced_value`'s), one per
    environment, and turns one step into the two update directions::

        z^w ← decay_w · z^w + ∇v̂(S,w)            loss_value  = −⟨Σ_n δ_n z^w_n, w⟩
        z^θ ← decay_θ · z^θ + scale · ∇ln π(A|S,θ)  loss_policy = −⟨Σ_n δ_n z^θ_n, θ⟩

    (with ``reset``, an environment's traces are zeroed first). Subclasses compute δ and the
    decays in :meth:`forward` and call :meth:`trace_terms`.
    """

    def __init__(self, config: object) -> None:
        super().__init__(config)
        self.z_theta, self.z_w = EligibilityTrace(), EligibilityTrace()

    def traced_value(self, value: nn.Module) -> nn.Module:
        """The module whose parameters z^w follows (default: v̂ itself)."""
        return value

    def init_state(self, agent: nn.Module, num_envs: int) -> None:
        self.z_theta.init(agent.policy, num_envs)
        self.z_w.init(self.traced_value(agent.value), num_envs)

    def trace_terms(self, policy: nn.Module, value: nn.Module, obs: torch.Tensor, actions: torch.Tensor,
                    delta: torch.Tensor, decay_theta: float, decay_w: float, scale: torch.Tensor | float = 1.0,
                    reset: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Advance both traces by one step of N environments; ``loss_policy`` and ``loss_value``."""
        value = self.traced_value(value)
        z_w = self.z_w.step(grad_value(value, obs), decay_w, reset=reset)
        z_theta = self.z_theta.step(grad_log_prob(policy, obs, actions), decay_theta, scale=scale, reset=reset)
        return {
            "loss_policy": direction_loss(list(policy.parameters()), trace_direction(z_theta, delta).values()),
            "loss_value": direction_loss(list(value.parameters()), trace_direction(z_w, delta).values()),
        }


class TraceAlgorithm(Algorithm):
    """Base of the eligibility-trace actor–critics: one update per time step, in order.

    The traces z change at every step, so a segment of n steps (``rollout_steps = n``) is n
    book updates in turn; with n > 1 the segment's actions were sampled with the θ of its
    start, as in any n-step schedule. The default, n = 1, is the book's box.
    """

    schedules = {"steps": 1}

    def update_batches(self, rollout: Rollout, generator: torch.Generator | None = None) -> Iterator[Rollout]:
        for k in range(rollout.num_steps):
            yield rollout[k]
