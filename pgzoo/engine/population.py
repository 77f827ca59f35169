"""Population training: R independent runs of one algorithm on one environment, in one process.

Book experiments average over many independent runs of tiny models. Trained one after another
they spend the machine on per-step Python overhead; here they are one batched computation:

- every parameter carries a leading run dimension ``[R, ...]``;
- the runs' environments are stepped as one vector (:mod:`pgzoo.engine.batched_envs`), each
  run keeping its own episode boundaries;
- each update is the algorithm's own :class:`~pgzoo.SurrogateLoss`, evaluated for all runs
  at once with ``torch.func.vmap`` over the template agent called with each run's parameters
  (:class:`_Bound`, what ``torch.func.functional_call`` does) and differentiated per run;
- rollouts are cut by the same :class:`~pgzoo.engine.collector.Collector` as in the trainer,
  per run; each run keeps its own schedule (a run whose rollout is complete is prepared at its
  θ_old and works through its update batches while the others keep collecting), its own
  optimiser state (:mod:`pgzoo.engine.stacked_optim`: plain SGD and Adam, with per-run
  gradient clipping and step-size schedules) and its own random streams (the env seeds of
  :func:`pgzoo.seeding.derive_seeds`, the action stream of :mod:`pgzoo.sampling`, the update
  generator of :func:`pgzoo.seeding.update_seed`).

Two loops do this. The general one lets every run go its own pace (each round steps the
collecting runs and takes one update batch of each run that has one). The lockstep loop, for the
book's sequential Monte-Carlo boxes (:func:`lockstep_blocker`: REINFORCE with or without
baseline, one episode per update, a budget in episodes), steps one episode of every run
together with its bookkeeping in NumPy, then takes the episodes' per-step updates, step t of
every run at once — what the book's figures need, bit for bit what the general loop gives
(tested), in fewer and cheaper rounds. For small ``Discrete`` observation spaces it acts from a
table of π(·|s) computed once per episode (:mod:`pgzoo.engine.policy_table`).

With the config's ``compile`` on (:func:`pgzoo.engine.compiled.decide`), updates and acting are
compiled for all R runs at once (:mod:`pgzoo.engine.population_compiled`: K sequential masked
steps per call in the lockstep loop, one step of all runs in the general loop when every run has
a batch of one shape); results then agree with the eager population to float32 rounding, not bit
for bit.

The contract is the same updates: member r ends with the parameters that :class:`pgzoo.Trainer`
gives for the same seed alone in float64 (to ~1e-15, tested). In float32 batched and unbatched
kernels round differently and training carries that on, so a member's bits are the population's
own: a bench line records which path made it (:mod:`pgzoo.provenance`), and that path is its recipe.
Members may differ in their step sizes (``alpha_theta``, ``alpha_w``) and nothing else, so a
step-size sweep is one population.

What an algorithm must satisfy to be trained this way (checked by :func:`population_blocker`
and by the conformance test ``test_population_matches_single_runs``):

- it does not override :meth:`Algorithm.update` (its optimiser steps are those of
  ``update_batches`` + its loss), and does not set the class attribute ``population = False``;
- its loss is a function of (policy, value, rollout) and of the state it keeps between
  calls, if any: buffers, all created by :meth:`SurrogateLoss.init_state` (eligibility
  traces), which the population keeps per run ``[R, ...]``; no parameters of its own, no
  ``.item()`` or data-dependent Python control flow on tensors (``vmap`` runs it);
- it keeps no state on itself or its loss between updates (:func:`pgzoo.engine.safety.state_leak`);
- its ``prepare`` and ``update_batches`` run per run (plain PyTorch is fine there);
- its optimiser is :meth:`Algorithm.make_optimizer`'s plain SGD or Adam;
- its policy's distributions are ``Categorical`` or ``Normal`` (see :mod:`pgzoo.sampling`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical
from torch.func import vmap

from pgzoo.algorithm import Agent, Algorithm, MonteCarloAlgorithm
from pgzoo.annealing import budget_fractions
from pgzoo.engine import compiled
from pgzoo.engine.batched_envs import make_batched_env
from pgzoo.engine.collector import STEP_FIELDS, Collector
from pgzoo.engine.compiled import warn
from pgzoo.engine.envs import make_env
from pgzoo.engine.normalization import Normalization, normalizers
from pgzoo.engine.policy_table import PolicyTable, table_applies
from pgzoo.engine.population_compiled import COMPILED_STEPS, CompiledAct, CompiledPopulationStep, element_rates
from pgzoo.engine.population_compiled import supports as supports_compiled
from pgzoo.engine.safety import state_leak
from pgzoo.engine.stacked_optim import stacked_optimizer
from pgzoo.engine.trainer import TrainingError
from pgzoo.engine.update import lr_factor
from pgzoo.engine.update_queue import Fields, UpdateQueue, from_fields, groups_of, stacked_batches
from pgzoo.errors import UsageError
from pgzoo.exploration import exploration_hold
from pgzoo.losses import total_loss
from pgzoo.progress import progress_bar
from pgzoo.returns import discounted_returns
from pgzoo.rollout import GROUPS, Rollout
from pgzoo.sampling import CHUNK_STEPS, action_seed, categorical_cdf, draws_per_env, new_chunk, sample_with
from pgzoo.seeding import derive_seeds, seed_everything, update_seed
from pgzoo.spaces import EnvSpec, encode_obs, to_env_actions

EvalHook = Callable[[int, int, Agent], None]
"""``on_eval(run, env_steps, agent)``: called when a run's agent is due for evaluation."""
STEP_SIZE_KEYS = frozenset({"alpha_theta", "alpha_w"})


def population_blocker(algo: Algorithm) -> str | None:
    """Why ``algo`` cannot be trained as a population, or ``None`` if it can."""
    cls = type(algo)
    if getattr(cls, "population", True) is False:
        return f"'{cls.name}' opts out of population training (population = False)"
    if cls.update is not Algorithm.update:
        return f"'{cls.name}' overrides Algorithm.update"
    if any(True for _ in algo.loss.parameters()):
        return f"the loss of '{cls.name}' holds parameters of its own"
    return state_leak(algo)


def lockstep_blocker(algo: Algorithm, on_eval: EvalHook | None = None) -> str | None:
    """Why a population of ``algo`` cannot take the lockstep loop, or ``None`` if it can.

    The lockstep loop is for the book's sequential Monte-Carlo boxes (REINFORCE, with or without
    baseline): each round steps one episode of every run together, then takes the episodes' T
    per-step updates, step t of every run at once (as the book's figures are computed by hand);
    a run's own sequence of episodes, draws and updates is the one it has alone. It needs a budget
    in episodes, one environment per run, one episode per rollout, ``sequential`` updates through
    :class:`~pgzoo.MonteCarloAlgorithm`'s own ``update_batches``, no ``prepare``, a loss without
    state, and no evaluation hook.
    """
    cfg, cls = algo.config, type(algo)
    checks = [
        (cfg.total_episodes is not None, "the budget is in env steps"),
        (cfg.num_envs == 1, "more than one environment per run"),
        (algo.schedule.kind == "episodes" and algo.schedule.length == 1, "not one episode per rollout"),
        (cls.update_batches is MonteCarloAlgorithm.update_batches and getattr(cfg, "sequential", False),
         "not the sequential Monte-Carlo updates"),
        (cls.prepare is Algorithm.prepare, "it prepares rollouts"),
        (not list(algo.loss.buffers()), "its loss keeps state"),
        (on_eval is None, "an evaluation hook"),
    ]
    return next((why for ok, why in checks if not ok), None)


def env_blocker(env_id: str, max_episode_steps: int | None = None,
                normalization: Normalization | None = None) -> str | None:
    """Why runs on ``env_id`` (made with the run's ``normalization``) cannot be trained as a
    population, or ``None`` if they can: a continuing task (no episodes), and an environment with
    normalising wrappers (whose training statistics evaluation uses: the env's own or those the
    settings ask for), are trained by :class:`pgzoo.Trainer` only."""
    probe = make_env(env_id, max_episode_steps, normalization)
    try:
        continuing = EnvSpec.from_env(probe, env_id).continuing
        stateful = [type(w).__name__ for w in normalizers(probe)]
    finally:
        probe.close()
    if stateful:  # the trainer carries them into evaluation (pgzoo.engine.normalization); a population does not
        return f"{env_id} keeps running statistics ({', '.join(stateful)}), which evaluation uses as trained"
    return f"{env_id} is a continuing task; population training is for episodic ones" if continuing else None


def supports_population(algo: Algorithm) -> bool:
    """Whether ``algo`` can be trained by :class:`Population` (see :func:`population_blocker`)."""
    return population_blocker(algo) is None


@dataclass
class PopulationResult:
    """What a population produced; run r is the r-th seed."""

    algorithm: str
    env_id: str
    seeds: list[int]
    params: dict[str, torch.Tensor]
    """Final parameters, stacked ``[R, ...]``, named as in ``Agent.named_parameters()``."""
    episode_returns: list[np.ndarray]
    episode_lengths: list[np.ndarray]
    episode_truncated: list[np.ndarray]
    """Per run, per episode in the order they ended: total reward, length, time-limit cut."""
    env_steps: np.ndarray
    updates: np.ndarray
    """Optimiser steps per run."""
    wall_s: float
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    """Episode k → stacked parameters of every run just after its k-th episode's updates
    (a run that stopped before its k-th episode: its final parameters)."""
    template: Agent | None = None
    rounds: int = 0
    """Iterations of the batched loop (each steps the collecting runs and updates the others)."""
    failed: dict[int, str] = field(default_factory=dict)
    """Run → why it stopped early: a non-finite loss or gradient (its parameters are the last
    good ones; the other runs went on)."""
    cpu_s: float = 0.0
    """CPU seconds of this process in the batched loop, like ``wall_s`` (set-up left out, ``on_eval`` calls in)."""
    compile_s: float = 0.0
    compile_cpu_s: float = 0.0
    """Wall and CPU seconds of the calls that compiled the update (included in ``wall_s``/``cpu_s``)."""
    compiled: bool = False
    """Whether the updates ran compiled (:mod:`pgzoo.engine.population_compiled`)."""

    def check(self) -> None:
        """Raise :class:`~pgzoo.engine.trainer.TrainingError` (the first failure) if any run failed."""
        if self.failed:
            raise TrainingError(self.failed[min(self.failed)])

    def agent(self, run: int) -> Agent:
        """Run ``run``'s trained agent (a copy)."""
        return _member(self.template, self.params, run)


def _member(template: Agent, params: dict[str, torch.Tensor], run: int) -> Agent:
    """A copy of ``template`` holding run ``run``'s rows of the stacked ``params``."""
    agent = copy.deepcopy(template)
    with torch.no_grad():
        for name, p in agent.named_parameters():
            p.copy_(params[name][run])
    return agent


class _Bound:
    """``module`` called with other tensors in place of some of its parameters and buffers.

    What ``torch.func.functional_call`` does (the same tensors end up in the same slots, and the
    module's own come back afterwards), with the names resolved once instead of on every call:
    functional_call's per-call checks cost about half a millisecond, a population calls it in
    every round. ``paths`` maps the keys callers pass to dotted names relative to ``module``.
    Raises ``KeyError`` for a name that is no parameter or buffer of ``module``.
    """

    def __init__(self, module: nn.Module, paths: dict[str, str]) -> None:
        self.module = module
        self.slots: dict[str, tuple[dict[str, Any], str]] = {}
        for key, dotted in paths.items():
            path, _, attr = dotted.rpartition(".")
            owner = module.get_submodule(path)
            store = owner._parameters if attr in owner._parameters else owner._buffers
            if attr not in store:
                raise KeyError(f"{type(module).__name__} has no parameter or buffer {dotted}")
            self.slots[key] = (store, attr)

    def __call__(self, tensors: dict[str, torch.Tensor], *args: Any) -> Any:
        saved = []
        try:
            for name, t in tensors.items():
                store, attr = self.slots[name]
                saved.append((store, attr, store[attr]))
                store[attr] = t
            return self.module(*args)
        finally:
            for store, attr, old in reversed(saved):
                store[attr] = old


class _AgentLoss(nn.Module):
    """The total loss of an agent on a rollout given as its fields, for :class:`_Bound`;
    also returns the loss's state (its buffers) as the call left it."""

    def __init__(self, agent: Agent, loss: nn.Module) -> None:
        super().__init__()
        self.agent, self.loss = agent, loss

    def forward(self, fields: Fields) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        terms = self.loss(self.agent.policy, self.agent.value, from_fields(fields))
        losses = {k: v.detach() for k, v in terms.items() if k.startswith("loss_")}
        return total_loss(terms), losses, {f"loss.{k}": v for k, v in self.loss.named_buffers()}


class _AgentPrepare(nn.Module):
    """``algorithm.prepare`` of an agent, for :class:`_Bound` with one run's parameters."""

    def __init__(self, agent: Agent, algo: Algorithm) -> None:
        super().__init__()
        self.agent, self.algo = agent, algo

    def forward(self, rollout: Rollout) -> Rollout:
        return self.algo.prepare(self.agent, rollout)


def _check_members(algos: Sequence[Algorithm]) -> None:
    first = algos[0]
    base = first.config.model_dump(exclude=STEP_SIZE_KEYS)
    for a in algos[1:]:
        if type(a) is not type(first) or a.config.model_dump(exclude=STEP_SIZE_KEYS) != base:
            raise UsageError("population members must be one algorithm whose configs differ only in step sizes")
    blocker = population_blocker(first)
    if blocker:
        raise UsageError(f"cannot train as a population: {blocker}")


class Population:
    """Trains ``len(seeds)`` runs of one algorithm on ``env_id`` as one batched computation.

    ``algorithm`` is one configured algorithm for every seed, or one per seed (the same
    algorithm, configs differing only in step sizes). The budget is each run's own:
    ``total_episodes`` if set, else ``total_steps``. ``snapshot_episodes`` asks for every run's
    parameters just after the updates of its k-th episode (one environment per run).
    With ``on_eval``, each run's agent is handed over for evaluation at the points the trainer
    evaluates with ``EvalSchedule(eval_every)`` (at 0, after every ``eval_every`` env steps,
    at the end), with the parameters it has there; ``rng_states[r]`` is the torch random state
    the trainer's evaluations of run r start from. With ``stop_on_truncation``, a run whose
    episode is cut by the time limit stops there, after that episode's updates (for tasks
    where hitting the limit means the policy can no longer end an episode).
    """

    def __init__(
        self,
        algorithm: Algorithm | Sequence[Algorithm],
        env_id: str,
        seeds: Sequence[int],
        dtype: torch.dtype = torch.float32,
        snapshot_episodes: Sequence[int] = (),
        progress: bool = False,
        eval_every: int | None = None,
        on_eval: EvalHook | None = None,
        stop_on_truncation: bool = False,
    ) -> None:
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise UsageError("a population needs at least one seed")
        algos = list(algorithm) if isinstance(algorithm, Sequence) else [algorithm] * len(self.seeds)
        if len(algos) != len(self.seeds):
            raise UsageError(f"{len(algos)} algorithms for {len(self.seeds)} seeds")
        _check_members(algos)
        self.algos, self.env_id, self.dtype = algos, env_id, dtype
        self.snapshot_episodes = sorted(set(int(k) for k in snapshot_episodes))
        self.progress = progress
        if on_eval is not None and not eval_every:
            raise UsageError("on_eval needs eval_every")
        self.eval_every, self.on_eval = eval_every, on_eval
        self.stop_on_truncation = stop_on_truncation
        self.rng_states: list[torch.Tensor] = []
        self.compiled_step: CompiledPopulationStep | None = None
        self.compiled_fallback = False
        self.compiled_act: CompiledAct | None = None

    # --- setup ----------------------------------------------------------------------------
    def _build(self, spec: EnvSpec) -> tuple[Agent, dict[str, torch.Tensor], Any]:
        agents, optimizers = [], []
        with torch.random.fork_rng(devices=[]):
            for algo, seeds in zip(self.algos, self.run_seeds, strict=True):
                seed_everything(seeds.torch)
                agent = algo.build_agent(spec, self.dtype)
                self.rng_states.append(torch.get_rng_state())
                agents.append(agent)
                optimizers.append(algo.make_optimizer(agent))
        names = [n for n, _ in agents[0].named_parameters()]
        params = {n: torch.stack([dict(a.named_parameters())[n].detach() for a in agents]).clone() for n in names}
        ids = {id(p): n for a in agents for n, p in a.named_parameters()}
        return agents[0], params, stacked_optimizer(optimizers, ids, params)

    def _compiled_step(self, agent_loss: nn.Module, optim: Any, template: Agent,
                       loss_state: bool) -> CompiledPopulationStep | None:
        """The compiled K-step update if the config's ``compile`` asks for it (:func:`compiled.decide`)
        and this population's optimiser is supported; else ``None`` (with ``compile = "on"``: a warning)."""
        algo = self.algos[0]
        wanted, _ = compiled.decide(algo.config.compile, algo.config, algo.schedule, template)
        if not wanted:
            return None
        why = "its loss keeps state between calls" if loss_state else \
            None if supports_compiled(optim) else f"optimiser {type(optim).__name__} with per-parameter step counts"
        if why:
            warn(f"cannot compile the population update of '{algo.name}': {why}; training eagerly")
            return None
        self.compiled_step = CompiledPopulationStep(agent_loss, optim, algo.config.max_grad_norm, COMPILED_STEPS)
        return self.compiled_step

    # --- the loop -------------------------------------------------------------------------
    def run(self) -> PopulationResult:
        algo, cfg = self.algos[0], self.algos[0].config
        R, N = len(self.seeds), cfg.num_envs
        self.run_seeds = [derive_seeds(s, N, cfg.eval_episodes) for s in self.seeds]
        blocker = env_blocker(self.env_id, cfg.max_episode_steps, Normalization.of(cfg))
        if blocker:
            raise UsageError(f"cannot train as a population: {blocker}")
        probe = make_env(self.env_id, cfg.max_episode_steps)
        spec = EnvSpec.from_env(probe, self.env_id)
        probe.close()
        template, params, optim = self._build(spec)
        policy_names = {n: n.removeprefix("policy.") for n in params if n.startswith("policy.")}
        agent_loss = _AgentLoss(template, copy.deepcopy(algo.loss))
        agent_loss.loss.init_state(template, N)
        # the loss's state between calls (e.g. eligibility traces), one copy per run
        state = {f"loss.{k}": v.detach().unsqueeze(0).repeat(R, *[1] * v.dim())
                 for k, v in agent_loss.loss.named_buffers()}
        dtype, obs_space, scale = self.dtype, spec.observation_space, cfg.scale_images

        bound_loss = _Bound(agent_loss, {**{n: f"agent.{n}" for n in params}, **{k: k for k in state}})

        def loss_fn(p: dict[str, torch.Tensor], s: dict[str, torch.Tensor],
                    fields: Fields) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
            return bound_loss({**p, **s}, fields)

        prepares = type(algo).prepare is not Algorithm.prepare
        bound_prepare = _Bound(_AgentPrepare(template, algo), {n: f"agent.{n}" for n in params})
        update_gens = [torch.Generator().manual_seed(update_seed(rs.torch)) for rs in self.run_seeds]
        base_lr = {n: v.clone() for n, v in optim.lr.items()}

        def progress(runs: np.ndarray) -> torch.Tensor:
            """The fraction of the budget each of ``runs`` has done (``[k]`` float64; Rollout.progress)."""
            return torch.from_numpy(budget_fractions(env_steps[runs], ep_count[runs], budget_steps, budget_eps))

        def push(run: int, rollout: Rollout) -> None:
            """Prepare a finished rollout at run ``run``'s θ_old and queue its update batches."""
            rollout = rollout.replace(progress=progress(np.array([run]))[0])
            if prepares:
                with torch.no_grad():
                    rollout = bound_prepare({k: v[run] for k, v in params.items()}, rollout)
            queue.push(run, stacked_batches(self.algos[run], rollout, update_gens[run]))

        bound_policy = _Bound(template.policy, {v: v for v in policy_names.values()})

        def act_fn(p: dict[str, torch.Tensor], obs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
            return sample_with(bound_policy(p, obs), u)

        batched_act = vmap(act_fn)

        def cdf_fn(p: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
            dist = bound_policy(p, obs)
            if not isinstance(dist, Categorical):
                raise TypeError(f"{type(dist).__name__} is not a soft-max")
            return categorical_cdf(dist)

        batched_cdf = vmap(cdf_fn)
        envs = make_batched_env(self.env_id, R * N, cfg.max_episode_steps)
        raw = envs.reset([s for rs in self.run_seeds for s in rs.train_envs])
        obs = encode_obs(obs_space, raw, dtype, scale).reshape(R, N, -1)
        draws, hold = draws_per_env(spec.action_space, template.policy), exploration_hold(cfg, algo.schedule)
        gens = [torch.Generator().manual_seed(action_seed(rs.torch)) for rs in self.run_seeds]
        chunks = torch.stack([new_chunk(g, N, draws) for g in gens])
        chunk_pos = np.zeros(R, dtype=np.int64)

        collector = Collector(algo.schedule, R, N)
        # n-step segments, each its run's one update batch as it is (no prepare, no split)
        whole_segments = (algo.schedule.kind == "steps" and not prepares
                          and type(algo).update_batches is Algorithm.update_batches)
        ready: list[tuple[np.ndarray, Fields]] = []  # this round's batches, when the queue was empty
        ep_ret, ep_len = np.zeros(R * N), np.zeros(R * N, dtype=np.int64)
        ep_count, env_steps, updates = (np.zeros(R, dtype=np.int64) for _ in range(3))
        stopped = np.zeros(R, dtype=bool)
        failed: dict[int, str] = {}
        returns: list[list[float]] = [[] for _ in range(R)]
        lengths: list[list[int]] = [[] for _ in range(R)]
        cut: list[list[bool]] = [[] for _ in range(R)]
        queue = UpdateQueue(R)
        snapshots: dict[int, dict[str, torch.Tensor]] = {k: {n: torch.zeros_like(v) for n, v in params.items()}
                                                         for k in self.snapshot_episodes}
        snapped = {k: np.zeros(R, dtype=bool) for k in self.snapshot_episodes}
        budget_eps, budget_steps = cfg.total_episodes, cfg.total_steps
        bar = progress_bar(R * budget_eps if budget_eps else R * budget_steps, "ep" if budget_eps else "step",
                           f"{algo.name} ×{R}", self.progress)
        every = self.eval_every or 1
        next_eval = np.zeros(R, dtype=np.int64) if self.on_eval is not None else None
        last_eval = np.full(R, -1, dtype=np.int64)
        start, start_cpu, rounds = time.perf_counter(), time.process_time(), 0

        compiled_step = self._compiled_step(agent_loss, optim, template, bool(state))
        compiled_act = None if compiled_step is None else CompiledAct(template.policy)
        self.compiled_act, all_runs, all_steps = compiled_act, torch.arange(R), torch.ones(R, 1, dtype=torch.bool)

        def refill(collecting: np.ndarray) -> None:
            """A new chunk of uniforms for the ``collecting`` runs that used theirs up."""
            for r in collecting[chunk_pos[collecting] == CHUNK_STEPS * hold]:
                chunks[r], chunk_pos[r] = new_chunk(gens[r], N, draws), 0

        def draw_actions(collecting: np.ndarray) -> torch.Tensor:
            """The actions ``[k, N, ...]`` of the ``collecting`` runs, each from its own action stream."""
            refill(collecting)
            rt = torch.from_numpy(collecting)
            if compiled_act is None:
                u = chunks[rt, torch.from_numpy(chunk_pos[collecting] // hold)]
                pol = {policy_names[n]: params[n][rt] for n in policy_names}
                with torch.no_grad():
                    actions = batched_act(pol, obs[rt], u)
            else:  # every run's action (one static shape), the collecting runs' taken
                u = chunks[all_runs, torch.from_numpy(np.minimum(chunk_pos // hold, CHUNK_STEPS - 1))]
                actions = compiled_act({policy_names[n]: params[n] for n in policy_names}, obs, u)[rt]
            chunk_pos[collecting] += 1
            return actions

        def learn(runs: np.ndarray, fields: Fields) -> None:
            fields = dict(fields)
            groups = fields.pop("groups", None)  # [k, len(GROUPS)]: which parameters each run's batch steps
            if groups is not None and groups.all():
                groups = None
            if "progress" not in fields:  # counted as at push (a run with queued batches does not collect)
                fields["progress"] = progress(runs)
            if groups is not None and compiled_step is not None and not self.compiled_fallback:
                warn(f"cannot compile the population update of '{algo.name}': its batches step only some "
                     "parameters (Rollout.groups); training eagerly")
                self.compiled_fallback = True
            if compiled_step is not None and len(runs) == R and not self.compiled_fallback:
                if cfg.lr_schedule != "constant":
                    set_rates(runs)
                try:
                    ok, taken, terms = compiled_step({f: v.unsqueeze(1) for f, v in fields.items()}, all_steps,
                                                     rates())
                except Exception as e:
                    cannot_compile(e)
                else:
                    updates[:] += taken.numpy()
                    for r in np.flatnonzero(~ok.numpy()):
                        fail(int(r), {key: v[r, 0] for key, v in terms.items()})
                    return
            idx = torch.from_numpy(runs)
            sub = {n: v[idx].requires_grad_(True) for n, v in params.items()}
            totals, terms, new_state = vmap(loss_fn)(sub, {k: v[idx] for k, v in state.items()}, fields)
            if new_state.keys() != state.keys():
                raise UsageError(f"cannot train '{algo.name}' as a population: its loss creates state "
                                 f"{sorted(new_state.keys() - state.keys())} outside init_state")
            grads = torch.autograd.grad(totals.sum(), list(sub.values()), allow_unused=True)
            bad = ~torch.isfinite(totals)
            for n, g in zip(sub, grads, strict=True):
                if g is not None:  # (a group the run's batch does not step: its gradient is dropped unread)
                    stepped = True if groups is None else groups[:, GROUPS.index(n.split(".", 1)[0])]
                    bad |= ~torch.isfinite(g.reshape(len(runs), -1).sum(1)) & stepped
            if bad.any():  # those runs stop with their last good parameters; the others go on
                for j in np.flatnonzero(bad.numpy()):
                    fail(int(runs[j]), {k: v[j] for k, v in terms.items()})
                keep = ~bad
                runs, idx = runs[keep.numpy()], idx[keep]
                grads = tuple(None if g is None else g[keep] for g in grads)
                new_state = {k: v[keep] for k, v in new_state.items()}
                groups = None if groups is None else groups[keep]
                if not len(runs):
                    return
            grads = {n: g for n, g in zip(sub, grads, strict=True) if g is not None}
            if cfg.lr_schedule != "constant":
                set_rates(runs)
            # the runs whose batches step the same groups step together; the others' rows stay as they are
            patterns = [(None, slice(None))] if groups is None else [
                (groups_of(row), torch.from_numpy((groups == row).all(1).numpy())) for row in groups.unique(dim=0)]
            with torch.no_grad():
                for named, rows in patterns:
                    g = {n: v[rows] for n, v in grads.items() if named is None or n.split(".", 1)[0] in named}
                    if cfg.max_grad_norm is not None and g:  # torch.nn.utils.clip_grad_norm_, per run
                        norm = torch.sqrt(sum(v.reshape(v.shape[0], -1).pow(2).sum(1) for v in g.values()))
                        coef = (cfg.max_grad_norm / (norm + 1e-6)).clamp(max=1.0)
                        g = {n: v * coef.reshape(-1, *[1] * (v.dim() - 1)) for n, v in g.items()}
                    if g:
                        optim.step(idx[rows], g)
                for k, v in new_state.items():
                    state[k][idx] = v
            updates[runs] += 1

        def cannot_compile(e: Exception) -> None:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            warn(f"cannot compile the population update of '{algo.name}' ({type(e).__name__}: {first[:200]}); "
                 "training eagerly")
            self.compiled_fallback = True

        constant_rates: list[torch.Tensor] = []

        def rates() -> torch.Tensor:
            """Every parameter element's step size ``[R, total]`` (made once if they never change)."""
            if cfg.lr_schedule != "constant":
                return element_rates(optim)
            if not constant_rates:
                constant_rates.append(element_rates(optim))
            return constant_rates[0]

        def set_rates(runs: np.ndarray) -> None:
            """The step sizes of ``runs`` at their point in the budget (``lr_schedule``)."""
            idx = torch.from_numpy(runs)
            done = budget_fractions(env_steps[runs], ep_count[runs], budget_steps, budget_eps)
            factor = torch.tensor([lr_factor(cfg.lr_schedule, float(d)) for d in done], dtype=torch.float64)
            for n, lr in optim.lr.items():
                lr[idx] = (base_lr[n][idx].double() * factor).to(lr.dtype)

        def fail(r: int, losses: dict[str, torch.Tensor]) -> None:
            """Stop run ``r``: a non-finite loss term (in ``losses``) or gradient at its next update."""
            failed[r] = divergence_message(algo.name, self.env_id, self.seeds[r], losses, int(env_steps[r]),
                                           int(updates[r]) + 1)
            stopped[r] = True
            queue.drop(r)

        def record(runs: np.ndarray, env_idx: np.ndarray, step: Any, actions: torch.Tensor) -> None:
            """Bookkeeping for the envs ``env_idx`` of collecting ``runs`` after one step."""
            k = len(runs)
            next_obs = encode_obs(obs_space, step.final_obs, dtype, scale)
            rew = torch.as_tensor(step.reward * cfg.reward_scale, dtype=dtype)
            term, trunc = torch.as_tensor(step.terminated), torch.as_tensor(step.truncated)
            o = obs[torch.from_numpy(runs)].reshape(k * N, -1)
            done = step.terminated | step.truncated
            flat = actions.reshape(k * N, *actions.shape[2:])
            ep_ret[env_idx] += step.reward
            ep_len[env_idx] += 1
            for j in np.flatnonzero(done):  # first: the rollouts' progress counts this step's episodes
                e, r = env_idx[j], env_idx[j] // N
                returns[r].append(float(ep_ret[e]))
                lengths[r].append(int(ep_len[e]))
                cut[r].append(bool(step.truncated[j] and not step.terminated[j]))
                stopped[r] |= self.stop_on_truncation and cut[r][-1]
                ep_ret[e], ep_len[e] = 0.0, 0
                ep_count[r] += 1
            if whole_segments:  # every completed segment is its run's one batch: queued together
                full, fields = collector.add_segments(runs, o, flat, rew, term, trunc, next_obs)
                if len(full) and queue.empty().all():
                    ready.append((full, fields))  # what the queue would hand back this round: no detour
                elif len(full) and not queue.push_many(full, fields):
                    for j, r in enumerate(full):
                        push(int(r), Rollout(*(fields[f][j] for f in STEP_FIELDS)))
            else:
                for r, rollout in collector.add(runs, o, flat, rew, term, trunc, next_obs):
                    push(r, rollout)
            obs[torch.from_numpy(runs)] = encode_obs(obs_space, step.obs, dtype, scale).reshape(k, N, -1)

        def policy_table() -> PolicyTable | None:
            """The lockstep loop's table of π(·|s) (:mod:`pgzoo.engine.policy_table`), if it applies."""
            if not table_applies(obs_space, spec.action_space, N):
                return None
            table = PolicyTable(batched_cdf, obs_space, R, dtype, scale)
            try:
                table.refresh({policy_names[n]: params[n] for n in policy_names})
            except TypeError:  # not a soft-max policy: it acts step by step
                return None
            return table

        def lockstep() -> int:
            """The loop for sequential Monte-Carlo episodes (see :func:`lockstep_blocker`): every run's
            episode, stepped together; then the episodes' per-step updates, step t of every run at once."""
            steps, cap = 0, 64
            current = np.asarray(raw).reshape(R, *np.asarray(raw).shape[1:])  # S_t of every run, as the env gave it
            buf: dict[str, np.ndarray] = {}
            table = policy_table()
            uniforms = chunks.numpy()
            while True:
                going = (ep_count < budget_eps) & ~stopped
                if not going.any():
                    return steps
                length = np.zeros(R, dtype=np.int64)
                t = 0
                if table is not None:  # θ is fixed for the episode: π(·|s) of every state, once
                    table.refresh({policy_names[n]: params[n] for n in policy_names})
                while going.any():  # one step of every run still in its episode
                    collecting = np.flatnonzero(going)
                    if table is None:
                        actions = draw_actions(collecting)
                    else:
                        refill(collecting)
                        u = uniforms[collecting, chunk_pos[collecting], 0, 0]
                        chunk_pos[collecting] += 1
                        actions = torch.from_numpy(table.draw(collecting, current[collecting], u)).unsqueeze(1)
                    step = envs.step(collecting, to_env_actions(spec.action_space,
                                                                actions.reshape(len(collecting), *actions.shape[2:])))
                    if t == cap or not buf:
                        cap = cap * 2 if buf else cap
                        grown = {f: np.zeros((R, cap, *v.shape[1:]), dtype=v.dtype) for f, v in (
                            ("obs", current), ("actions", actions.reshape(len(collecting), -1).numpy()),
                            ("rewards", step.reward), ("terminated", step.terminated),
                            ("truncated", step.truncated), ("next_obs", current))}
                        for f, v in buf.items():
                            grown[f][:, :v.shape[1]] = v
                        buf = grown
                    buf["obs"][collecting, t] = current[collecting]
                    buf["actions"][collecting, t] = actions.reshape(len(collecting), -1).numpy()
                    buf["rewards"][collecting, t] = step.reward * cfg.reward_scale
                    buf["terminated"][collecting, t] = step.terminated
                    buf["truncated"][collecting, t] = step.truncated
                    buf["next_obs"][collecting, t] = step.final_obs
                    current[collecting] = step.obs
                    if table is None:
                        obs.copy_(encode_obs(obs_space, current, dtype, scale).reshape(obs.shape))
                    ep_ret[collecting] += step.reward
                    length[collecting] += 1
                    going[collecting[step.terminated | step.truncated]] = False
                    t += 1
                    steps += 1
                ran = length > 0
                env_steps[ran] += length[ran]
                for r in np.flatnonzero(ran):
                    last = length[r] - 1
                    returns[r].append(float(ep_ret[r]))
                    lengths[r].append(int(length[r]))
                    cut[r].append(bool(buf["truncated"][r, last] and not buf["terminated"][r, last]))
                    stopped[r] |= self.stop_on_truncation and cut[r][-1]
                ep_ret[ran] = 0.0
                ep_count[ran] += 1
                bar.update(int(ran.sum()))
                # the episodes as the Collector would hand them over: [R, t, 1 (a one-step batch), N, ...]
                fields = {f: encode_obs(obs_space, buf[f][:, :t], dtype, scale) for f in ("obs", "next_obs")}
                fields["actions"] = torch.from_numpy(buf["actions"][:, :t].reshape(R, t, *actions.shape[1:]))
                fields["rewards"] = torch.as_tensor(buf["rewards"][:, :t], dtype=dtype)
                fields["terminated"] = torch.from_numpy(buf["terminated"][:, :t].copy())
                fields["truncated"] = torch.from_numpy(buf["truncated"][:, :t].copy())
                fields = {f: v.reshape(R, t, 1, N, *v.shape[2:]) for f, v in fields.items()}
                # the box's updates: G_t of every episode, then one step per t (runs past their T masked)
                inside = torch.arange(t).unsqueeze(0) < torch.from_numpy(length).unsqueeze(1)  # [R, t]
                rew = torch.where(inside, fields["rewards"][:, :, 0, 0], 0.0)  # past T: another episode's steps
                G = discounted_returns(rew.T.contiguous(), torch.zeros(t, R, dtype=torch.bool), cfg.gamma).T
                fields["t"] = torch.arange(t).reshape(1, t, 1, 1).expand(R, t, 1, N)
                fields["returns"] = G.reshape(R, t, 1, N)
                fields["progress"] = progress(np.arange(R)).unsqueeze(1).expand(R, t)
                if compiled_step is not None and not self.compiled_fallback:
                    try:
                        compiled_updates(fields, length, ran, t, compiled_step)
                    except Exception as e:
                        cannot_compile(e)
                if compiled_step is None or self.compiled_fallback:
                    for j in range(t):
                        runs = np.flatnonzero(ran & (length > j) & ~_mask(R, failed))
                        if len(runs):
                            learn(runs, {f: v[torch.from_numpy(runs), j] for f, v in fields.items()})
                for k_ep in self.snapshot_episodes:
                    take = np.flatnonzero(~snapped[k_ep] & (ep_count >= k_ep))
                    if len(take):
                        for n, v in params.items():
                            snapshots[k_ep][n][take] = v[take]
                        snapped[k_ep][take] = True

        def compiled_updates(fields: Fields, length: np.ndarray, ran: np.ndarray, t: int,
                             compiled_step: CompiledPopulationStep) -> None:
            """The episodes' per-step updates, K steps of every run per call (runs past their T masked)."""
            k = compiled_step.k
            pad = (-t) % k
            if pad:  # a whole number of K-step calls; the padding is masked
                fields = {f: torch.cat([v, v[:, :1].expand(R, pad, *v.shape[2:])], 1) for f, v in fields.items()}
            live = torch.from_numpy(ran & ~_mask(R, failed))
            mask = (torch.arange(t + pad).unsqueeze(0) < torch.from_numpy(length).unsqueeze(1)) & live.unsqueeze(1)
            per_element = rates()
            calls = (t + pad) // k  # [calls, R, K, ...]: each call's inputs contiguous, cut once per episode batch
            chunked = {f: v.reshape(R, calls, k, *v.shape[2:]).transpose(0, 1).contiguous() for f, v in fields.items()}
            masks = mask.reshape(R, calls, k).transpose(0, 1).contiguous()
            for c in range(calls):
                ok, taken, terms = compiled_step({f: v[c] for f, v in chunked.items()}, masks[c], per_element)
                updates[:] += taken.numpy()
                for r in np.flatnonzero(~ok.numpy()):
                    fail(int(r), {key: v[r, int(taken[r])] for key, v in terms.items()})
                    masks[:, r] = False

        try:
            general = lockstep_blocker(algo, self.on_eval) is not None
            if not general:
                rounds = lockstep()
            while general:
                settled = queue.empty()
                for k_ep in self.snapshot_episodes:
                    take = np.flatnonzero(settled & ~snapped[k_ep] & (ep_count >= k_ep))
                    if len(take):
                        for n, v in params.items():
                            snapshots[k_ep][n][take] = v[take]
                        snapped[k_ep][take] = True
                if self.on_eval is not None:
                    for r in np.flatnonzero(settled & (env_steps >= next_eval) & ~_mask(R, failed)):
                        self.on_eval(int(r), int(env_steps[r]), _member(template, params, int(r)))
                        last_eval[r] = env_steps[r]
                        next_eval[r] = (env_steps[r] // every + 1) * every
                budget_left = (ep_count < budget_eps if budget_eps else env_steps < budget_steps) & ~stopped
                collecting = np.flatnonzero(settled & budget_left)
                if not len(collecting) and settled.all():
                    break
                rounds += 1
                if len(collecting):
                    actions = draw_actions(collecting)
                    env_idx = (collecting[:, None] * N + np.arange(N)).ravel()
                    flat = actions.reshape(len(env_idx), *actions.shape[2:])
                    step = envs.step(env_idx, to_env_actions(spec.action_space, flat))
                    env_steps[collecting] += N
                    before = int(ep_count.sum())
                    record(collecting, env_idx, step, actions)
                    bar.update(int(ep_count.sum()) - before if budget_eps else len(env_idx))
                stored = ready.pop() if ready else queue.pop_stored()
                busy = np.zeros(R, dtype=bool)
                if stored is not None:
                    learn(*stored)
                    busy[stored[0]] = True
                for group in queue.pop_listed(busy):
                    learn(*group)
        finally:
            bar.close()
            envs.close()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        step, compiled_ok = self.compiled_step, not self.compiled_fallback
        act_s = (self.compiled_act.compile_s, self.compiled_act.compile_cpu_s) if self.compiled_act else (0.0, 0.0)
        for k_ep in self.snapshot_episodes:  # runs stopped before episode k: their final parameters
            for n, v in params.items():
                snapshots[k_ep][n][~snapped[k_ep]] = v[~snapped[k_ep]]
        if self.on_eval is not None:
            for r in np.flatnonzero((last_eval != env_steps) & ~_mask(R, failed)):
                self.on_eval(int(r), int(env_steps[r]), _member(template, params, int(r)))
        return PopulationResult(
            algo.name, self.env_id, self.seeds, params,
            [np.asarray(x) for x in returns], [np.asarray(x) for x in lengths],
            [np.asarray(x, dtype=bool) for x in cut],
            env_steps, updates, wall, snapshots, template, rounds, failed, cpu,
            (step.compile_s if step else 0.0) + act_s[0], (step.compile_cpu_s if step else 0.0) + act_s[1],
            step is not None and compiled_ok,
        )


def divergence_message(algorithm: str, env_id: str, seed: int, losses: dict[str, torch.Tensor], env_step: int,
                       update: int) -> str:
    """Why a run stopped, in the words of :class:`pgzoo.Trainer`: the loss terms that are not
    finite (or the gradient), the env step and the update."""
    bad = [f"{k} is {float(v)}" for k, v in losses.items() if not torch.isfinite(v)]
    what = ", ".join(bad) if bad else "a gradient of the total loss is not finite"
    return f"'{algorithm}' on {env_id} (seed {seed}): {what} at env step {env_step} (update {update})"


def _mask(runs: int, members: dict[int, str]) -> np.ndarray:
    out = np.zeros(runs, dtype=bool)
    out[list(members)] = True
    return out


def train_population(
    algorithm: str | Algorithm,
    env_id: str,
    seeds: Sequence[int],
    overrides: dict[str, Any] | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> PopulationResult:
    """Train an installed algorithm by name (or a configured instance) for every seed at once."""
    if isinstance(algorithm, str):
        from pgzoo.registry import get_algorithm

        cls = get_algorithm(algorithm)
        algorithm = cls(cls.make_config(env_id, overrides))
    return Population(algorithm, env_id, seeds, progress=progress, **kwargs).run()

