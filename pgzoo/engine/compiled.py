"""The compiled update: an algorithm's own loss, its gradient and the optimiser step as one graph.

:class:`CompiledStep` replaces, for one run, the eager pair ``loss(policy, value, batch)`` →
:func:`~pgzoo.engine.update.optimizer_step` by one ``torch.compile``'d function (``fullgraph``):
the loss is differentiated with ``torch.func.grad`` through ``torch.func.functional_call``, the
gradient clipped as ``clip_grad_norm_`` clips it, and the step taken by torch's functional
``adam`` / ``sgd`` on the optimiser's own state (so ``optimizer.state_dict()`` stays valid
for checkpoints and eager training can take over). The finiteness check is fused into the
graph: a non-finite loss or gradient leaves parameters and optimiser state unchanged, and one
host read of a flag then raises :class:`~pgzoo.errors.NonFiniteLossError`.

What it handles: a schedule of n-step segments (one batch shape), ``torch.optim.Adam`` and
``torch.optim.SGD`` as :meth:`pgzoo.Algorithm.make_optimizer` builds them (no weight decay,
momentum, AMSGrad or ``maximize``), every parameter of the agent in the optimiser, and a loss
that keeps no state between calls (no buffers after ``init_state``). Anything else, and any
loss the compiler cannot trace as one graph (a plugin's), trains eagerly after one warning line
on stderr; it never stops a run.

Compiled artefacts are cached on disk (inductor's FX-graph and AOT-autograd caches) under
:func:`cache_dir`, so that only a run's first compilation on a machine pays the full price.

Sources: ``torch.compile``, ``torch.func.grad``, ``torch.optim.adam.adam`` / ``torch.optim.sgd.sgd``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.adam import adam

from pgzoo.errors import NonFiniteLossError
from pgzoo.losses import LossTerms, total_loss
from pgzoo.rollout import Rollout

MIN_COMPILED_UPDATES = 20_000
"""``compile = "auto"`` compiles when a run takes at least this many optimiser steps (see :func:`decide`)."""
MIN_COMPILED_PARAMS = 1_000
"""… and its agent has at least this many parameters (a linear policy's update is cheaper eager)."""
CACHE_ENV = "PGZOO_CACHE_DIR"
"""Environment variable overriding pgzoo's cache directory (tests point it at a temporary one)."""


class Unsupported(Exception):
    """This run's update cannot be compiled; the message says why."""


def cache_dir() -> Path:
    """pgzoo's cache directory: ``$PGZOO_CACHE_DIR`` if set, else the user cache dir (platformdirs)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("pgzoo", appauthor=False))


def configure_cache() -> Path:
    """Point inductor's on-disk caches at ``cache_dir()/inductor`` (unless the user set
    ``TORCHINDUCTOR_CACHE_DIR``) and turn the FX-graph and AOT-autograd caches on; the directory."""
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # torch writes its default into the variable the first time it looks (importing dynamo does):
    # that value is torch's, not the user's
    env = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    user_set = env and os.path.abspath(env) != os.path.abspath(default_cache_dir())
    path = Path(env) if user_set else cache_dir() / "inductor"
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)

    inductor_config.fx_graph_cache = True
    inductor_config.compile_threads = 1  # no pool of compile workers: a run compiles one small graph
    functorch_config.enable_autograd_cache = True
    return path


def expected_updates(config: Any, schedule: Any) -> int | None:
    """Optimiser steps a run on ``schedule`` will take, if the budget is in env steps (else ``None``).

    A ``steps`` schedule of n steps of N environments takes one step per n·N env steps; per-step
    batches of an episode schedule cannot be counted in advance.
    """
    if config.total_episodes is not None or schedule.kind != "steps":
        return None
    return config.total_steps // (schedule.length * config.num_envs)


def decide(setting: str, config: Any, schedule: Any, agent: nn.Module) -> tuple[bool, str]:
    """Whether to compile this run's update, and why. ``setting`` is ``"on"``, ``"off"`` or ``"auto"``.

    The ``"auto"`` rule depends on the config and the model only (never on the state of the
    cache), so the same seed and the same config train the same parameters on any machine:
    compile when the schedule is n-step segments (fixed batch shapes: one graph), the budget is
    in env steps with at least :data:`MIN_COMPILED_UPDATES` optimiser steps, and the agent has at
    least :data:`MIN_COMPILED_PARAMS` parameters. Measured on a 2-core machine: compiling costs
    ~20 s with an empty cache and ~5 s warm, and saves ~0.5 ms per update of the 64×64 MLPs of
    CartPole-v1, so it pays from ~10k updates warm; 20k keeps a margin for a cold cache.
    """
    if setting != "auto":
        return setting == "on", f"compile = {setting!r}"
    updates = expected_updates(config, schedule)
    if updates is None:
        return False, "auto: the number of updates is not known in advance (episode schedule or budget)"
    n_params = sum(p.numel() for p in agent.parameters())
    if updates < MIN_COMPILED_UPDATES:
        return False, f"auto: {updates} updates < {MIN_COMPILED_UPDATES}"
    if n_params < MIN_COMPILED_PARAMS:
        return False, f"auto: {n_params} parameters < {MIN_COMPILED_PARAMS}"
    return True, f"auto: {updates} updates, {n_params} parameters"


def warn(message: str) -> None:
    """One line on stderr."""
    print(f"pgzoo: warning: {message}", file=sys.stderr)


class _LossOf(nn.Module):
    """A module whose parameters are the agent's and whose forward is the algorithm's loss."""

    def __init__(self, loss: nn.Module, agent: nn.Module) -> None:
        super().__init__()
        self.agent = agent
        self.loss_fn = [loss]  # not a submodule: its parameters (none) and state stay its own

    def forward(self, batch: Rollout) -> tuple[torch.Tensor, LossTerms]:
        terms = self.loss_fn[0](self.agent.policy, self.agent.value, batch)
        return total_loss(terms), terms


class CompiledStep:
    """One optimiser step of ``algorithm`` on a batch, compiled; ``step(batch)`` returns the loss terms.

    Raises :class:`Unsupported` at construction for an optimiser or loss it does not handle.
    ``compile_s`` / ``compile_cpu_s`` accumulate the wall and CPU seconds of calls that
    compiled (the first, and any recompilation for a new batch shape). After a failed
    compilation it warns once and takes every later step eagerly (``eager`` is then true).
    """

    def __init__(self, algorithm: Any, agent: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.name = algorithm.name
        self.loss = algorithm.loss
        if algorithm.schedule.kind != "steps":
            # every episode length would be a graph of its own (the losses read T as a Python int)
            raise Unsupported("its batches are whole episodes, of a new shape at every length")
        self.max_grad_norm = algorithm.config.max_grad_norm
        if list(self.loss.buffers()) or list(self.loss.parameters()):
            raise Unsupported("its loss keeps state between calls")
        kind = type(optimizer)
        if kind not in (torch.optim.Adam, torch.optim.SGD):
            raise Unsupported(f"optimiser {kind.__name__} (only torch.optim.Adam and SGD are compiled)")
        for g in optimizer.param_groups:
            if g.get("weight_decay") or g.get("maximize") or g.get("amsgrad") or g.get("momentum") \
                    or g.get("differentiable") or g.get("nesterov"):
                raise Unsupported("an optimiser option other than the step size, betas and eps")
        names = dict(agent.named_parameters())
        ids = {id(p) for g in optimizer.param_groups for p in g["params"]}
        if ids != {id(p) for p in names.values()}:
            raise Unsupported("the optimiser does not hold exactly the agent's parameters")
        self.optimizer, self.agent = optimizer, agent
        self.adam = kind is torch.optim.Adam
        where = {id(p): n for n, p in names.items()}
        self.groups = [[where[id(p)] for p in g["params"]] for g in optimizer.param_groups]
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        if self.adam:
            for p in self.params:
                state = optimizer.state[p]
                if not state:  # what eager Adam creates at its first step (a float32 step counter)
                    fmt = torch.preserve_format
                    state.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p, memory_format=fmt),
                                 exp_avg_sq=torch.zeros_like(p, memory_format=fmt))
        self.hyper = [{k: g[k] for k in ("betas", "eps") if k in g} for g in optimizer.param_groups]
        self.module = _LossOf(self.loss, agent)
        self.grad = torch.func.grad(self._total, has_aux=True)
        configure_cache()
        # a C++ wrapper around the kernels: ~half the per-call overhead of the Python one
        self.fn = torch.compile(self._step, fullgraph=True, dynamic=False, options={"cpp_wrapper": True})
        self.eager = False
        self.calls = 0
        self.compile_s = self.compile_cpu_s = 0.0
        self._shapes: set[tuple] = set()

    def _total(self, params: dict[str, torch.Tensor], batch: Rollout) -> tuple[torch.Tensor, tuple]:
        total, terms = torch.func.functional_call(self.module, params, (batch,), strict=False)
        return total, (total, terms)

    def _step(self, params: list[torch.Tensor], states: list[list[torch.Tensor]], lrs: list[torch.Tensor],
              batch: Rollout) -> tuple[LossTerms, torch.Tensor]:
        names = [n for g in self.groups for n in g]
        grads, (total, terms) = self.grad({"agent." + n: p for n, p in zip(names, params, strict=True)}, batch)
        grads = [grads["agent." + n] for n in names]
        if self.max_grad_norm is not None:
            norm = torch.nn.utils.get_total_norm(grads)
            coef = torch.clamp(self.max_grad_norm / (norm + 1e-6), max=1.0)  # as clip_grad_norm_
            grads = [g * coef for g in grads]
            size = norm
        else:
            size = torch.stack([g.abs().sum() for g in grads]).sum()
        ok = torch.isfinite(total + size)
        old = [[p.clone(), *(s.clone() for s in st)] for p, st in zip(params, states, strict=True)]
        start = 0
        for gi, group in enumerate(self.groups):
            k = len(group)
            ps, gs, st = params[start:start + k], grads[start:start + k], states[start:start + k]
            if self.adam:
                beta1, beta2 = self.hyper[gi]["betas"]
                # bias corrections in float64, as the fused kernel computes them (the step count is float32)
                steps = [s[2].to(torch.float64) for s in st]
                adam(ps, gs, [s[0] for s in st], [s[1] for s in st], [], steps, foreach=False, amsgrad=False,
                     beta1=beta1, beta2=beta2, lr=lrs[gi], weight_decay=0.0, eps=self.hyper[gi]["eps"],
                     maximize=False)
                for s, n in zip(st, steps, strict=True):
                    s[2].copy_(n)
            else:
                for p, g in zip(ps, gs, strict=True):
                    p.sub_(lrs[gi] * g)
            start += k
        for p, st, was in zip(params, states, old, strict=True):
            for t, w in zip([p, *st], was, strict=True):
                t.copy_(torch.where(ok, t, w))  # a non-finite step changes nothing
        return terms, ok

    def _state_lists(self) -> list[list[torch.Tensor]]:
        if not self.adam:
            return [[] for _ in self.params]
        st = self.optimizer.state
        return [[st[p]["exp_avg"], st[p]["exp_avg_sq"], st[p]["step"]] for p in self.params]

    def __call__(self, batch: Rollout) -> LossTerms:
        """One optimiser step on ``batch``; the loss terms. Raises :class:`NonFiniteLossError`
        (parameters and optimiser state unchanged) for a non-finite loss term or gradient."""
        if self.eager:
            return self._eager(batch)
        lrs = [torch.tensor(float(g["lr"]), dtype=torch.float64) for g in self.optimizer.param_groups]
        shape = _signature(batch)
        new = shape not in self._shapes
        t0, c0, frames = time.perf_counter(), time.process_time(), _frames_compiled() if new else 0
        try:
            # A batch of a signature already compiled (fields, shapes, dtypes) runs its graph without
            # dynamo re-checking every guard: nothing else the graph depends on changes during a run
            # (the parameters, optimiser state and step sizes are its inputs; the config is frozen).
            with torch.no_grad(), torch.compiler.set_stance(skip_guard_eval_unsafe=not new):
                terms, ok = self.fn([p.detach() for p in self.params], self._state_lists(), lrs, batch)
        except NonFiniteLossError:
            raise
        except Exception as e:  # the compiler could not handle this loss: train eagerly
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            warn(f"cannot compile the update of '{self.name}' ({type(e).__name__}: {first[:200]}); training eagerly")
            self.eager = True
            self._account(t0, c0)
            return self._eager(batch)
        if new:
            self._shapes.add(shape)
            if _frames_compiled() != frames:  # this call compiled a graph (not only a new shape of one)
                self._account(t0, c0)
        self.calls += 1
        if not bool(ok):
            bad = [k for k, v in terms.items() if k.startswith("loss_") and not torch.isfinite(v)]
            if bad:
                raise NonFiniteLossError(f"{', '.join(bad)} is {float(terms[bad[0]])}")
            raise NonFiniteLossError("a gradient of the total loss is not finite")
        return terms

    def _account(self, t0: float, c0: float) -> None:
        self.compile_s += time.perf_counter() - t0
        self.compile_cpu_s += time.process_time() - c0

    def _eager(self, batch: Rollout) -> LossTerms:
        from pgzoo.engine.update import optimizer_step

        terms = self.loss(self.agent.policy, self.agent.value, batch)
        optimizer_step(terms, self.optimizer, self.max_grad_norm)
        return terms


def _frames_compiled() -> int:
    """A count that grows whenever dynamo captures a graph in this process (its own statistics)."""
    from torch._dynamo.utils import counters

    return sum(counters["stats"].values())


def _signature(batch: Rollout) -> tuple:
    """What tells one compiled graph's batches from another's: each tensor field's name, shape and dtype."""
    fields = {**{f: getattr(batch, f) for f in ("obs", "actions", "rewards", "terminated", "truncated", "next_obs",
                                                "t", "returns")}, **{"extras." + k: v for k, v in batch.extras.items()}}
    return tuple((k, tuple(v.shape), v.dtype) for k, v in fields.items() if v is not None)


def attach(algorithm: Any, agent: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Decide (:func:`decide`) and, if so, compile ``algorithm``'s update for this run's agent and
    optimiser (``algorithm.compiled_step``). Returns what ``summary.json`` reports about it; an
    update that cannot be compiled trains eagerly (with ``compile = "on"``: after one warning line)."""
    setting = algorithm.config.compile
    wanted, why = decide(setting, algorithm.config, algorithm.schedule, agent)
    algorithm.compiled_step = None
    if wanted:
        try:
            algorithm.compiled_step = CompiledStep(algorithm, agent, optimizer)
        except Unsupported as e:
            why = f"{why}; not compiled: {e}"
            if setting == "on":
                warn(f"cannot compile the update of '{algorithm.name}': {e}; training eagerly")
    return {"compile": setting, "compile_reason": why}


def detach(algorithm: Any, report: dict[str, Any]) -> dict[str, Any]:
    """Remove the run's compiled step from ``algorithm``; ``report`` completed with whether the
    update was compiled and the seconds spent compiling (wall and CPU, included in the run's)."""
    step, algorithm.compiled_step = algorithm.compiled_step, None
    compiled = step is not None and not step.eager
    return {**report, "compiled": compiled, "compile_s": round(step.compile_s, 3) if step else 0.0,
            "compile_cpu_s": round(step.compile_cpu_s, 3) if step else 0.0}
