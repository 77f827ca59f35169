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

With the update compiled, the algorithm's ``prepare`` (e.g. A2C's GAE advantages) is compiled
into the same graph when the algorithm takes one step per rollout (the default
``update_batches``), and acting is compiled too (:meth:`CompiledStep.act`: the policy's forward
pass and :mod:`pgzoo.sampling`'s inverse transform of the run's uniforms).

Per-call overhead, not arithmetic, is what a small MLP's update costs, so each graph is traced
and compiled once, and later calls go to the compiled kernels' entry point with a flat list of
tensors (:class:`_Graph`): no frame evaluation, guards, pytree flattening or AOT-autograd
wrapper, and no size asserts in the generated code (graphs are kept per input signature: names,
shapes, strides, dtypes). Compiling itself skips dynamo where it can: the function is traced to
ATen operations with ``make_fx`` on fake tensors (``torch.func``'s transforms applied as they
trace) and inductor compiles that trace (:func:`pretrace`); a function that cannot be traced so
(data-dependent control flow, a tensor read from outside its inputs) goes through dynamo.

Compiled artefacts are cached on disk (inductor's FX-graph and AOT-autograd caches) under
:func:`cache_dir`, so that only a run's first compilation on a machine pays the full price.

Sources: ``torch.compile``, ``torch.func.grad``, ``torch.optim.adam.adam`` / ``torch.optim.sgd.sgd``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.autograd.graph import increment_version
from torch.optim.adam import adam

from pgzoo.errors import NonFiniteLossError
from pgzoo.losses import LossTerms, total_loss
from pgzoo.rollout import Rollout
from pgzoo.sampling import act, sample_with

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


class _PrepareOf(nn.Module):
    """A module whose parameters are the agent's and whose forward is the algorithm's ``prepare``."""

    def __init__(self, algorithm: Any, agent: nn.Module) -> None:
        super().__init__()
        self.agent = agent
        self.algorithm = [algorithm]  # not a submodule

    def forward(self, batch: Rollout) -> Rollout:
        return self.algorithm[0].prepare(self.agent, batch)


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
        self.algorithm = algorithm
        self.preparer = _PrepareOf(algorithm, agent)
        self.fuse_prepare = True
        """Whether :meth:`update` compiles ``prepare`` with the step (false after that failed)."""
        self.grad = torch.func.grad(self._total, has_aux=True)
        configure_cache()
        self.policy = agent.policy
        self.policy_names = [n for n, _ in agent.policy.named_parameters()]
        self.policy_params = [p.detach() for _, p in agent.policy.named_parameters()]
        self.eager = False
        self.calls = 0
        self.compile_s = self.compile_cpu_s = 0.0
        self._graphs: dict[tuple, _Graph] = {}
        self._actors: dict[tuple, _Graph] = {}
        self.acting_compiled = True
        """Whether :meth:`act` runs compiled (false after its compilation failed: eager acting)."""
        self._prefix: list[torch.Tensor] = []
        self._prefix_of: object = None
        self._lrs: tuple[list[float], list[torch.Tensor]] = ([], [])
        self._masks: dict[tuple[str, ...] | None, torch.Tensor] = {}

    def _total(self, params: dict[str, torch.Tensor], batch: Rollout) -> tuple[torch.Tensor, tuple]:
        total, terms = torch.func.functional_call(self.module, params, (batch,), strict=False)
        return total, (total, terms)

    def _make_step(self, fields: tuple[str, ...], keys: tuple[str, ...], prepare: bool) -> Any:
        """The function compiled for batches with tensor ``fields`` (in this order) and loss
        terms ``keys``: ``step(flat)`` with ``flat`` = parameters, optimiser states (three per
        parameter for Adam), step sizes (one per group), which parameters step (a bool per
        parameter: the batch's :attr:`~pgzoo.Rollout.groups`, an input so that one graph serves
        every batch), then the batch's fields; it returns the finiteness flag and the terms'
        values in ``keys``' order (a flat tuple of tensors). With ``prepare``, the algorithm's
        ``prepare`` runs first, at the parameters before the step."""
        P, S, G = len(self.params), 3 if self.adam else 0, len(self.groups)
        names = ["agent." + n for g in self.groups for n in g]

        def step(flat: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
            params = flat[:P]
            states = [flat[P + S * i:P + S * (i + 1)] for i in range(P)]
            lrs, live = flat[P + S * P:P + S * P + G], flat[P + S * P + G]
            batch = _batch_of(fields, flat[P + S * P + G + 1:])
            if prepare:
                batch = torch.func.functional_call(self.preparer, dict(zip(names, params, strict=True)), (batch,),
                                                   strict=False)
            terms, ok = self._step(params, states, lrs, batch, live)
            return (ok, *(terms[k] for k in keys))

        return step

    def _step(self, params: list[torch.Tensor], states: list[list[torch.Tensor]], lrs: list[torch.Tensor],
              batch: Rollout, live: torch.Tensor) -> tuple[LossTerms, torch.Tensor]:
        names = [n for g in self.groups for n in g]
        grads, (total, terms) = self.grad({"agent." + n: p for n, p in zip(names, params, strict=True)}, batch)
        # the parameters the batch does not step: no gradient (for clipping), then their old values and state
        grads = [torch.where(live[i], grads["agent." + n], 0.0) for i, n in enumerate(names)]
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
        for i, (p, st, was) in enumerate(zip(params, states, old, strict=True)):
            keep = ok & live[i]  # a non-finite step changes nothing; nor does a step of another group
            for t, w in zip([p, *st], was, strict=True):
                t.copy_(torch.where(keep, t, w))
        return terms, ok

    def _inputs(self) -> list[torch.Tensor]:
        """Parameters (detached: the same storage) and optimiser states, flat; rebuilt only
        when the optimiser's state dict is another object (``load_state_dict`` keeps the tensors,
        see :mod:`pgzoo.engine.checkpoint`, but a new dict must be looked at again)."""
        if self._prefix_of is not self.optimizer.state:
            st = self.optimizer.state
            states = [[st[p]["exp_avg"], st[p]["exp_avg_sq"], st[p]["step"]] for p in self.params] if self.adam \
                else []
            self._prefix = [p.detach() for p in self.params] + [t for s in states for t in s]
            self._prefix_of = st
        return self._prefix

    def _live(self, groups: tuple[str, ...] | None) -> torch.Tensor:
        """Which parameters (in :attr:`params` order) a batch with :attr:`~pgzoo.Rollout.groups` steps."""
        mask = self._masks.get(groups)
        if mask is None:
            names = [n for g in self.groups for n in g]
            mask = self._masks[groups] = torch.tensor([groups is None or n.split(".", 1)[0] in groups for n in names])
        return mask

    def _step_sizes(self) -> list[torch.Tensor]:
        """Each group's step size as a float64 scalar tensor (new tensors only when one changed)."""
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if lrs != self._lrs[0]:
            self._lrs = (lrs, [torch.tensor(float(lr), dtype=torch.float64) for lr in lrs])
        return self._lrs[1]

    def __call__(self, batch: Rollout) -> LossTerms:
        """One optimiser step on ``batch`` (prepared: :meth:`pgzoo.Algorithm.prepare`); the loss
        terms. Raises :class:`NonFiniteLossError` (parameters and optimiser state unchanged) for
        a non-finite loss term or gradient."""
        return self._run(batch, False)

    def update(self, rollout: Rollout) -> LossTerms:
        """The algorithm's :meth:`~pgzoo.Algorithm.prepare` and one optimiser step on the whole
        ``rollout``, compiled as one graph (for an algorithm that takes one step per rollout);
        the loss terms, as :meth:`__call__`. If ``prepare`` cannot be compiled with the step,
        it runs eagerly from then on (under ``torch.no_grad``, as in eager training)."""
        if self.fuse_prepare and not self.eager:
            return self._run(rollout, True)
        with torch.no_grad():
            rollout = self.algorithm.prepare(self.agent, rollout)
        return self._run(rollout, False)

    def _run(self, batch: Rollout, prepare: bool) -> LossTerms:
        if self.eager:
            return self._eager(batch)
        fields, values = _fields(batch)
        flat = [*self._inputs(), *self._step_sizes(), self._live(batch.groups), *values]
        shape = (prepare, *((f, v.shape, v.stride(), v.dtype) for f, v in zip(fields, values, strict=True)))
        graph = self._graphs.get(shape)
        if graph is not None and graph.ready:
            out = graph.run(flat)
        else:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                if graph is None:
                    with torch.no_grad():  # the terms' names, from the loss itself (it keeps no state)
                        keys = tuple(self.module(self.algorithm.prepare(self.agent, batch) if prepare else batch)[1])
                    graph = self._graphs[shape] = _Graph(self._make_step(fields, keys, prepare), 1 + len(keys), keys,
                                                         len(self._prefix))
                with torch.no_grad():
                    out = graph.first(flat)
            except NonFiniteLossError:
                raise
            except Exception as e:  # the compiler could not handle this loss: train eagerly
                if prepare:  # perhaps only prepare: try the step alone
                    self._account(t0, c0)
                    self.fuse_prepare = False
                    return self.update(batch)
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                warn(f"cannot compile the update of '{self.name}' ({type(e).__name__}: {first[:200]}); "
                     "training eagerly")
                self.eager = True
                self._account(t0, c0)
                return self._eager(batch)
            if graph.compiles:
                self._account(t0, c0)
                graph.compiles = 0
        self.calls += 1
        terms = dict(zip(graph.keys, out[1:], strict=True))
        if not bool(out[0]):
            bad = [k for k, v in terms.items() if k.startswith("loss_") and not torch.isfinite(v)]
            if bad:
                raise NonFiniteLossError(f"{', '.join(bad)} is {float(terms[bad[0]])}")
            raise NonFiniteLossError("a gradient of the total loss is not finite")
        return terms

    def act(self, obs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """A ~ π(·|obs) from the uniforms ``u`` (``[N, draws]``), by the same inverse transform as
        :func:`pgzoo.sampling.act`, with the policy's forward pass and the transform compiled.

        Agrees with the eager sampler except where U lies within float rounding of a CDF
        boundary (the compiled soft-max may differ in its last bits; tested in
        ``tests/test_compiled.py``). A policy the compiler cannot handle acts eagerly after one
        warning line (``acting_compiled`` is then false).
        """
        if self.eager or not self.acting_compiled:
            return act(self.policy, obs, u)
        flat = [*self.policy_params, obs, u]
        shape = (obs.shape, obs.stride(), obs.dtype, u.shape, u.stride(), u.dtype)
        graph = self._actors.get(shape)
        if graph is not None and graph.ready:
            return graph.run(flat)[0]
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            if graph is None:
                graph = self._actors[shape] = _Graph(self._acting, 1, ("action",))
            with torch.no_grad():
                (a,) = graph.first(flat)
        except Exception as e:  # acting eagerly is acting as without compilation
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            warn(f"cannot compile the acting of '{self.name}' ({type(e).__name__}: {first[:200]}); acting eagerly")
            self.acting_compiled = False
            self._account(t0, c0)
            return act(self.policy, obs, u)
        if graph.compiles:
            self._account(t0, c0)
            graph.compiles = 0
        return a

    def _acting(self, flat: list[torch.Tensor]) -> tuple[torch.Tensor]:
        params = dict(zip(self.policy_names, flat[:-2], strict=True))
        dist = torch.func.functional_call(self.policy, params, (flat[-2],))
        return (sample_with(dist, flat[-1]),)

    def _account(self, t0: float, c0: float) -> None:
        self.compile_s += time.perf_counter() - t0
        self.compile_cpu_s += time.process_time() - c0

    def _eager(self, batch: Rollout) -> LossTerms:
        from pgzoo.engine.update import optimizer_step, stepped_parameters

        terms = self.loss(self.agent.policy, self.agent.value, batch)
        optimizer_step(terms, self.optimizer, self.max_grad_norm, stepped_parameters(self.agent, batch.groups))
        return terms


BATCH_FIELDS = ("obs", "actions", "rewards", "terminated", "truncated", "next_obs", "t", "returns", "progress")
"""The tensor fields of a :class:`~pgzoo.rollout.Rollout` a compiled step takes (then its extras)."""


def _fields(batch: Rollout) -> tuple[tuple[str, ...], list[torch.Tensor]]:
    """A batch's tensors, flat: each field's name (``extras.`` + key for an extra) and value."""
    names, values = [], []
    for f in BATCH_FIELDS:
        v = getattr(batch, f)
        if v is not None:
            names.append(f)
            values.append(v)
    for k, v in batch.extras.items():
        names.append("extras." + k)
        values.append(v)
    return tuple(names), values


def _batch_of(fields: tuple[str, ...], values: list[torch.Tensor]) -> Rollout:
    """The inverse of :func:`_fields`."""
    plain = {f: v for f, v in zip(fields, values, strict=True) if not f.startswith("extras.")}
    extras = {f[7:]: v for f, v in zip(fields, values, strict=True) if f.startswith("extras.")}
    return Rollout(**plain, extras=extras)


INDUCTOR_OPTIONS = {"cpp_wrapper": True, "size_asserts": False, "alignment_asserts": False,
                    "scalar_asserts": False, "memory_planning": True}
"""Inductor's settings for the compiled graphs (see :class:`_Graph`)."""


class _Graph:
    """One function of a flat list of tensors, compiled by inductor (static shapes, its C++
    wrapper), and after its first call called without any Python wrapper.

    The first call (:meth:`first`) traces the function to ATen operations and has inductor
    compile the trace (or, for a function that cannot be traced so, goes through dynamo,
    ``fullgraph``); it keeps what inductor compiled and where each graph input comes from.
    Later calls (:meth:`run`, once :attr:`ready`) give the compiled kernels' entry point its
    inputs straight: no frame evaluation, guards, pytree flattening or AOT-autograd runtime
    wrapper, which together cost more than the arithmetic of a small MLP's update. What that
    wrapper does for such a graph (no gradients, every input mutation applied inside the graph,
    no aliased outputs: all checked at capture) is done here: the version counters of the
    mutated inputs (the first ``mutated`` of the list) are bumped as autograd expects.

    This is only correct for inputs of the same shapes, dtypes and strides as the first call's,
    none aliasing another, and a function whose code does not change: the caller keeps one
    :class:`_Graph` per signature. If dynamo lifted anything but list items as inputs, or the
    outputs are not exactly ``n_out`` computed tensors, :attr:`ready` stays false and every call
    goes through dynamo; if the compiled kernels' entry point cannot be reached, :meth:`run`
    calls AOT autograd's compiled function.
    """

    def __init__(self, fn: Any, n_out: int, keys: tuple[str, ...], mutated: int = 0) -> None:
        self.keys, self.n_out, self.mutated = keys, n_out, mutated
        self.ready = False
        self.order: list[int | torch.Tensor] = []
        """Where each graph input comes from: an index into the call's list, or a constant."""
        self._aot: Any = None  # AOT autograd's compiled function (what dynamo calls)
        self._entry: Any = None  # the kernels' entry point, ``entry(list of inputs)``
        self.compiles = 0
        """Graphs compiled since the caller last looked (it accounts their time)."""
        self._fn = fn
        self._traced: torch.fx.GraphModule | None = None
        self._pretraced = False
        self._wrapped: Any = None  # what inductor compiled from the trace, with AOT autograd's wrapper
        self.compiled = torch.compile(fn, backend=self._backend, fullgraph=True, dynamic=False)

    def first(self, flat: list[torch.Tensor]) -> Any:
        """The first call, which compiles; later ones go to :meth:`run` once :attr:`ready`.

        The function is traced to ATen operations first (:func:`pretrace`) and inductor compiles
        that trace itself (:meth:`_compile_trace`): no dynamo, which takes seconds to inline
        ``torch.func``'s transforms and more to read a long trace. A function that cannot be
        traced so goes through dynamo as it is (``fullgraph``). Once :attr:`ready`, dynamo's
        cache entries for the function's code are dropped: later calls do not need them, and
        dynamo counts the graphs of one code object (its recompile limit) across all instances,
        so that otherwise a process training many compiled runs would stop compiling after a few."""
        if self._traced is not None:  # compiled from the trace: through AOT autograd's wrapper
            return self._wrapped(*flat)
        if not self._pretraced:
            self._pretraced = True
            traced = pretrace(self._fn, flat)
            if traced is not None:
                try:
                    return self._compile_trace(traced, flat)
                except Exception:  # inductor refused the trace: dynamo compiles the function itself
                    self._traced, self.compiles, self.ready, self._entry = None, 0, False, None
        out = self.compiled(flat)
        if self.ready:
            code = getattr(self._fn, "__code__", None) or self._fn.__func__.__code__
            torch._dynamo.reset_code(code)
        return out

    def _compile_trace(self, traced: torch.fx.GraphModule, flat: list[torch.Tensor]) -> Any:
        """Compile the ATen trace of the function with inductor (AOT autograd, then inductor's
        FX-graph cache: a warm cache makes this a lookup) and call it on ``flat``."""
        from torch._inductor.compile_fx import compile_fx

        traced.graph._codegen = torch.fx.graph.CodeGen()  # the list's items as positional inputs
        constants = _lift_constants(traced)  # then the constants, as inputs after them
        fn = compile_fx(traced, [*flat, *constants], config_patches=INDUCTOR_OPTIONS)
        self._traced, self.compiles = traced, self.compiles + 1
        self.order = [*range(len(flat)), *constants]
        self._aot = fn
        self._wrapped = lambda *args: fn(*args, *constants)
        self.ready = _plain_outputs(traced, self.n_out)
        self._find_entry(fn)
        return fn(*flat, *constants)

    def _find_entry(self, fn: Any) -> None:
        """Keep the compiled kernels' entry point of AOT autograd's compiled ``fn`` if it is the
        same graph: inputs in :attr:`order` (the mutated ones where the list's first ``mutated``
        are), exactly ``n_out`` outputs, every mutation inside the kernels."""
        code = _output_code(fn)
        if code is None or not self.ready:
            return
        mutated = {j for j, i in enumerate(self.order) if type(i) is int and i < self.mutated}
        if set(getattr(code, "mutated_input_idxs", ())) == mutated and len(code.output_strides) == self.n_out \
                and len(mutated) == self.mutated and callable(code.current_callable):
            self._entry = code.current_callable

    def run(self, flat: list[torch.Tensor]) -> list[torch.Tensor]:
        """The outputs for ``flat`` (after the first call through :attr:`compiled`)."""
        args = [flat[i] if type(i) is int else i for i in self.order]
        if self._entry is not None:
            if self.mutated:
                increment_version(flat[:self.mutated])
            return self._entry(args)
        with torch.no_grad():
            return self._aot(*args)

    def _backend(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        """dynamo's backend: inductor, and where each graph input sits in the call's list."""
        from torch._dynamo.source import GetItemSource, LocalSource
        from torch._inductor.compile_fx import compile_fx

        fn = compile_fx(gm, example_inputs, config_patches=INDUCTOR_OPTIONS)
        self.compiles += 1
        order: list[int | torch.Tensor] | None = []
        for node in gm.graph.find_nodes(op="placeholder"):
            src = getattr(node.meta.get("grapharg"), "source", None)
            if not (isinstance(src, GetItemSource) and isinstance(src.base, LocalSource) and isinstance(src.index, int)
                    and not src.index_is_slice):
                order = None
                break
            order.append(src.index)
        self.ready = self.compiles == 1 and order is not None and _plain_outputs(gm, self.n_out)
        if self.ready:
            self._aot, self.order = fn, order
            self._find_entry(fn)
        return fn


def pretrace(fn: Callable[[list[torch.Tensor]], Any], flat: list[torch.Tensor]) -> torch.fx.GraphModule | None:
    """``fn`` traced to ATen operations for inputs like ``flat`` (``make_fx`` with fake tensors,
    ``torch.func`` transforms applied), or ``None`` if it cannot be traced so: data-dependent
    Python control flow, a tensor the function reads that is not in ``flat`` (it would be frozen
    into the trace), a value read back from a tensor, anything else the tracer refuses. Tensors
    the function creates from literals become constants of the trace."""
    from torch.fx.experimental.proxy_tensor import make_fx

    if not all(isinstance(x, torch.Tensor) for x in flat):
        return None
    # traced as dynamo would see it: code that asks ``torch.compiler.is_compiling()`` (torch's
    # optimisers keep their step counts as tensors then) takes its compiled path, as in export,
    # and ``addcdiv_`` with a tensor ``value`` is rewritten as dynamo rewrites it
    compiling = getattr(torch.compiler, "_compile_session_context", contextlib.nullcontext)
    try:
        with compiling(), _AsDynamoRewrites():
            gm = make_fx(lambda inputs: fn(inputs), tracing_mode="fake")(flat)
    except Exception:
        return None
    symbolic = (torch.SymInt, torch.SymFloat, torch.SymBool)
    if any(isinstance(node.meta.get("val"), symbolic) for node in gm.graph.nodes):
        return None  # a value read back from a tensor (``.item()``, e.g. Adam's step count): dynamo's business
    return gm


def _lift_constants(gm: torch.fx.GraphModule) -> list[torch.Tensor]:
    """Turn the constants ``gm`` reads (``get_attr``: tensors the traced function made from
    literals) into placeholders after its inputs, in the order returned; ``gm`` is recompiled."""
    constants: list[torch.Tensor] = []
    anchor = list(gm.graph.find_nodes(op="placeholder"))[-1]
    for node in list(gm.graph.nodes):
        if node.op != "get_attr":
            continue
        value = getattr(gm, node.target)
        with gm.graph.inserting_after(anchor):
            anchor = gm.graph.placeholder(f"constant_{len(constants)}")
        anchor.meta.update(node.meta)
        node.replace_all_uses_with(anchor)
        gm.graph.erase_node(node)
        delattr(gm, node.target)  # (AOT autograd would lift what stays registered)
        constants.append(value.detach())
    gm.recompile()
    return constants


class _AsDynamoRewrites(torch.overrides.TorchFunctionMode):
    """``x.addcdiv_(a, b, value=v)`` with a tensor ``v`` (what torch's Adam does with its step size
    when compiling) traced as dynamo traces it: ``x.copy_(fma(a / b, v, x))``, instead of reading
    ``v`` back as a Python number."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        value = kwargs.get("value")
        if func is torch.Tensor.addcdiv_ and isinstance(value, torch.Tensor) and len(args) == 3:
            from torch._inductor.inductor_prims import fma

            x, a, b = args
            return x.copy_(fma(a / b, value, x))
        return func(*args, **kwargs)


def _output_code(fn: Any, depth: int = 8) -> Any:
    """The one inductor ``CompiledFxGraph`` that AOT autograd's compiled function ``fn`` calls,
    found through its closures and attributes; ``None`` if not exactly one."""
    from torch._inductor.output_code import CompiledFxGraph

    found, seen, frontier = [], set(), [fn]
    for _ in range(depth):
        nxt = []
        for obj in frontier:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, CompiledFxGraph):
                found.append(obj)
                continue
            for cell in getattr(obj, "__closure__", None) or ():
                try:
                    nxt.append(cell.cell_contents)
                except ValueError:
                    continue
            nxt.extend(v for v in getattr(obj, "__dict__", {}).values() if callable(v) and not isinstance(v, type))
        frontier = nxt
    return found[0] if len(found) == 1 else None


def _plain_outputs(gm: torch.fx.GraphModule, n_out: int) -> bool:
    """Whether ``gm`` returns exactly ``n_out`` distinct computed tensors."""
    outputs = gm.graph.output_node().args[0]
    return isinstance(outputs, tuple | list) and len(outputs) == n_out and all(
        isinstance(o, torch.fx.Node) for o in outputs) and len(set(outputs)) == n_out


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


def acting(algorithm: Any, agent: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The trainer's ``act(obs, u)`` for this run: the compiled step's :meth:`CompiledStep.act`
    when the update is compiled for ``agent``, else :func:`pgzoo.sampling.act` under
    ``torch.inference_mode`` (eager training acts exactly as it always did)."""
    step = algorithm.compiled_step
    if step is not None and step.agent is agent:
        return step.act

    def eager(obs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():  # acting needs no autograd at all
            return act(agent.policy, obs, u)

    return eager


def detach(algorithm: Any, report: dict[str, Any]) -> dict[str, Any]:
    """Remove the run's compiled step from ``algorithm``; ``report`` completed with whether the
    update was compiled and the seconds spent compiling (wall and CPU, included in the run's)."""
    step, algorithm.compiled_step = algorithm.compiled_step, None
    compiled = step is not None and not step.eager
    return {**report, "compiled": compiled, "compile_s": round(step.compile_s, 3) if step else 0.0,
            "compile_cpu_s": round(step.compile_cpu_s, 3) if step else 0.0}
