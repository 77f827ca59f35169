"""The compiled update of a population: K sequential optimiser steps of all R runs as one graph.

:class:`CompiledPopulationStep` takes, for every run of a :class:`~pgzoo.engine.population.Population`
at once, up to K optimiser steps one after another (the book's sequential in-episode updates:
step j sees the parameters step j−1 left), each on that run's j-th update batch, in one call of
one ``torch.compile``'d function. Per step, per run:

- the gradient of the algorithm's own total loss, ``torch.func.vmap`` of ``torch.func.grad``
  through ``torch.func.functional_call`` (the per-run gradient the eager population takes);
- clipping as ``clip_grad_norm_`` clips it (``max_grad_norm``), per run;
- the step of :mod:`pgzoo.engine.stacked_optim`'s SGD or Adam, with the same formulas, on the
  optimiser's own stacked buffers (``flat``, Adam's ``m_flat``/``v_flat``/``shared_steps``);
- a mask: step j of run r is taken only where ``mask[r, j]`` (runs whose episode was shorter,
  runs that stopped) and only while every earlier step of the run was finite. A non-finite loss
  or gradient leaves that run's parameters and optimiser state as they were before that step,
  and is reported (``ok``), so the caller stops the run as the eager engine does.

The arithmetic is the eager engine's, but fused by the compiler: results agree with the eager
population to float rounding (tested to 1e-5 relative in float32), not bit for bit. Compiled
artefacts go to pgzoo's cache (:func:`pgzoo.engine.compiled.configure_cache`).

Sources: ``torch.compile``, ``torch.func.vmap`` / ``torch.func.grad``; Adam (Kingma & Ba, 2015)
as ``torch.optim.Adam`` computes it.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from pgzoo.engine.compiled import _Graph, configure_cache
from pgzoo.engine.stacked_optim import StackedAdam, StackedOptimizer, StackedSGD
from pgzoo.engine.update_queue import Fields

COMPILED_STEPS = 8
"""K: sequential steps per compiled call (unrolled in the graph; a longer episode takes several calls)."""


class CompiledPopulationStep:
    """K masked sequential steps of every run: ``step(fields, mask, lr)``.

    ``loss_module(fields)`` must return ``(total, losses, state)`` for one run's batch with
    the parameters named as in ``optimizer.params`` (the population's ``_AgentLoss``).
    ``optimizer`` is a :class:`StackedSGD` or :class:`StackedAdam` whose parameters all step
    together. Raises ``TypeError`` for another optimiser. ``compile_s`` / ``compile_cpu_s``
    accumulate the seconds of calls that compiled a graph.
    """

    def __init__(self, loss_module: nn.Module, optimizer: StackedOptimizer, max_grad_norm: float | None,
                 k: int) -> None:
        if not isinstance(optimizer, StackedSGD | StackedAdam):
            raise TypeError(f"cannot compile a population step with {type(optimizer).__name__}")
        self.module, self.optimizer, self.k = loss_module, optimizer, k
        self.max_grad_norm = max_grad_norm
        self.adam = isinstance(optimizer, StackedAdam)
        self.shapes = [(name, tuple(v.shape[1:]), v[0].numel()) for name, v in optimizer.params.items()]
        self.per_run_grad = torch.func.vmap(torch.func.grad(self._total, has_aux=True), in_dims=(0, None, 0))
        self.buffers = dict(loss_module.named_buffers())
        """The module's buffers (e.g. a linear policy's features), inputs of the graph like the rest."""
        configure_cache()
        self.compile_s = self.compile_cpu_s = 0.0
        self._graphs: dict[tuple, _Graph] = {}

    def _total(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
               fields: Fields) -> tuple[torch.Tensor, tuple]:
        total, losses, _ = torch.func.functional_call(self.module, {**params, **buffers}, (fields,), strict=False)
        return total, (total, losses)

    def _unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for name, shape, size in self.shapes:
            out["agent." + name] = flat[:, start:start + size].reshape(flat.shape[0], *shape)
            start += size
        return out

    def _steps(self, flat: torch.Tensor, state: list[torch.Tensor], buffers: dict[str, torch.Tensor],
               lr: torch.Tensor, fields: Fields, mask: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        runs = flat.shape[0]
        alive = torch.ones(runs, dtype=torch.bool)
        taken = torch.zeros(runs, dtype=torch.long)
        losses_out: dict[str, list[torch.Tensor]] = {}
        p = flat
        m, v, n = (state if self.adam else (None, None, None))
        for j in range(mask.shape[1]):  # unrolled: one graph per K
            batch = {f: x[:, j] for f, x in fields.items()}
            grads, (total, losses) = self.per_run_grad(self._unflatten(p), buffers, batch)
            g = torch.cat([grads["agent." + name].reshape(runs, size) for name, _, size in self.shapes], 1)
            ok = torch.isfinite(total) & torch.isfinite(g).all(1)
            if self.max_grad_norm is not None:
                norm = g.pow(2).sum(1).sqrt()
                g = g * (self.max_grad_norm / (norm + 1e-6)).clamp(max=1.0).unsqueeze(1)
            go = mask[:, j] & alive & ok
            alive = alive & (ok | ~mask[:, j])
            taken = taken + go.long()
            for key, val in losses.items():
                losses_out.setdefault(key, []).append(val)
            g = torch.where(go.unsqueeze(1), g, torch.zeros_like(g))  # a NaN must not reach the kept rows
            if self.adam:
                b1, b2, eps = self.optimizer.beta1, self.optimizer.beta2, self.optimizer.eps
                n_new = n + go.to(n.dtype)
                m_new = torch.lerp(m, g, 1 - b1)
                v_new = v * b2 + (1 - b2) * g * g
                bc1 = 1 - b1**n_new
                step_size = (lr.double() / bc1.unsqueeze(1)).to(g.dtype)
                bc2_sqrt = torch.sqrt(1 - b2**n_new).to(g.dtype).unsqueeze(1)
                p_new = p - step_size * m_new / (v_new.sqrt() / bc2_sqrt + eps)
                keep = go.unsqueeze(1)
                p, m, v, n = (torch.where(keep, p_new, p), torch.where(keep, m_new, m), torch.where(keep, v_new, v),
                              n_new)
            else:
                p = torch.where(go.unsqueeze(1), p - lr * g, p)
        flat.copy_(p)
        if self.adam:
            state[0].copy_(m)
            state[1].copy_(v)
            state[2].copy_(n)
        return alive, taken, {key: torch.stack(vals, 1) for key, vals in losses_out.items()}

    def _state(self) -> list[torch.Tensor]:
        """What a call changes in place: the parameters' buffer, then Adam's moments and counts."""
        opt = self.optimizer
        return [opt.flat, *([opt.m_flat, opt.v_flat, opt.shared_steps] if self.adam else [])]

    def _make(self, names: tuple[str, ...], keys: tuple[str, ...]) -> Any:
        """The function compiled for fields ``names``: ``fn(flat)`` with ``flat`` = :meth:`_state`,
        the module's buffers, step sizes, mask, then the fields; it returns ``ok``, ``taken`` and the
        loss terms ``keys``."""
        n_state, n_buf = len(self._state()), len(self.buffers)
        buffer_names = tuple(self.buffers)

        def fn(flat: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
            buffers = dict(zip(buffer_names, flat[n_state:n_state + n_buf], strict=True))
            lr, mask = flat[n_state + n_buf], flat[n_state + n_buf + 1]
            fields = dict(zip(names, flat[n_state + n_buf + 2:], strict=True))
            ok, taken, losses = self._steps(flat[0], flat[1:n_state], buffers, lr, fields, mask)
            return (ok, taken, *(losses[k] for k in keys))

        return fn

    def __call__(self, fields: Fields, mask: torch.Tensor, lr: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Up to K steps of every run on ``fields`` (each ``[R, K, *batch]``, contiguous) where
        ``mask`` (``[R, K]`` bool); ``lr`` is ``[R, total]`` (each parameter element's step size).

        Returns ``ok`` (``[R]``: False for a run whose masked-in steps met a non-finite loss or
        gradient; it stopped before that step), ``taken`` (``[R]``: steps taken) and the loss
        terms of every step ``[R, K]``. Raises whatever the compiler raises for a loss it cannot
        compile (the caller then trains eagerly).
        """
        names = tuple(fields)
        flat = [*self._state(), *self.buffers.values(), lr, mask, *fields.values()]
        inputs = zip(("lr", "mask", *names), flat[-len(names) - 2:], strict=True)
        key = tuple((f, tuple(x.shape), x.stride(), x.dtype) for f, x in inputs)
        graph = self._graphs.get(key)
        if graph is not None and graph.ready:
            out = graph.run(flat)
        else:
            t0, c0 = time.perf_counter(), time.process_time()
            if graph is None:
                with torch.no_grad():  # the loss terms' names, from one run's first batch
                    one = {"agent." + n: v[0] for n, v in self.optimizer.params.items()}
                    _, (_, losses) = self._total(one, self.buffers, {f: v[0, 0] for f, v in fields.items()})
                keys = tuple(losses)
                graph = self._graphs[key] = _Graph(self._make(names, keys), 2 + len(keys), keys, len(self._state()))
            with torch.no_grad():
                out = graph.first(flat)
            self.compile_s += time.perf_counter() - t0
            self.compile_cpu_s += time.process_time() - c0
        return out[0], out[1], dict(zip(graph.keys, out[2:], strict=True))


class CompiledAct:
    """``act(params, obs, u)``: every run's actions ``[R, N, ...]`` from its policy parameters
    (stacked ``[R, ...]``, named as in the policy), observations ``[R, N, obs_dim]`` and uniforms
    ``[R, N, draws]`` (:func:`pgzoo.sampling.sample_with`), compiled for all R runs at once.

    The arithmetic of the eager sampler, fused: an action can differ from the eager one only
    where a uniform lies within rounding of a CDF step (probability ~1e-7 per draw).
    """

    def __init__(self, policy: nn.Module) -> None:
        from pgzoo.sampling import sample_with

        self.names: tuple[str, ...] = ()

        self.buffers = dict(policy.named_buffers())
        n_buf = len(self.buffers)

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], obs: torch.Tensor,
                u: torch.Tensor) -> torch.Tensor:
            return sample_with(torch.func.functional_call(policy, {**p, **b}, (obs,), strict=False), u)

        every = torch.func.vmap(one, in_dims=(0, None, 0, 0))

        def act(flat: list[torch.Tensor]) -> tuple[torch.Tensor]:
            params = dict(zip(self.names, flat[:-2 - n_buf], strict=True))
            buffers = dict(zip(self.buffers, flat[-2 - n_buf:-2], strict=True))
            return (every(params, buffers, flat[-2], flat[-1]),)

        configure_cache()
        self.graph = _Graph(act, 1, ("actions",))
        self.compile_s = self.compile_cpu_s = 0.0

    def __call__(self, params: dict[str, torch.Tensor], obs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Called with inputs of the same names, shapes, dtypes and strides every time."""
        flat = [*params.values(), *self.buffers.values(), obs, u]
        if self.graph.ready:
            return self.graph.run(flat)[0]
        t0, c0 = time.perf_counter(), time.process_time()
        self.names = tuple(params)
        with torch.no_grad():
            (out,) = self.graph.first(flat)
        self.compile_s += time.perf_counter() - t0
        self.compile_cpu_s += time.process_time() - c0
        return out


def element_rates(optimizer: StackedOptimizer, lr: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """``[R, total]``: each parameter element's step size (``lr[name]``, default the optimiser's)."""
    lr = optimizer.lr if lr is None else lr
    runs = optimizer.flat.shape[0]
    return torch.cat([lr[name].reshape(runs, 1).expand(runs, size) for name, size in optimizer.sizes], 1)


def supports(optimizer: Any) -> bool:
    """Whether :class:`CompiledPopulationStep` handles ``optimizer``: stacked SGD, or stacked
    Adam while every parameter still steps together (``shared_steps``)."""
    return isinstance(optimizer, StackedSGD) or (isinstance(optimizer, StackedAdam)
                                                 and optimizer.shared_steps is not None)
