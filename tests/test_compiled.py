"""The compiled update (pgzoo.engine.compiled): the same steps as eager training within a stated
tolerance, bit-identical from run to run, the "auto" rule, the fused finiteness check, and an
eager fall-back with one warning line for what the compiler cannot handle.

Tolerance: after 20 updates of the 64×64 MLPs of CartPole-v1, compiled and eager parameters
agree to 1e-5 (absolute and relative) in float32 and to 1e-10 in float64 (the compiled graph
fuses and reorders float arithmetic; Adam's normalisation amplifies rounding in tiny gradients).
"""

from __future__ import annotations

import math
import os

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pgzoo.engine import compiled
from pgzoo.engine.compiled import MIN_COMPILED_PARAMS, MIN_COMPILED_UPDATES, CompiledStep, decide, expected_updates
from pgzoo.engine.schedules import Schedule
from pgzoo.engine.trainer import Trainer, train
from pgzoo.errors import NonFiniteLossError
from pgzoo.registry import get_algorithm
from pgzoo.rollout import Rollout

SHORT = {"total_steps": 160, "eval_episodes": 1}  # 20 updates of 8 environments


def params(result) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result.agent.named_parameters()}


def run(name: str, overrides: dict, dtype: torch.dtype = torch.float32, seed: int = 3):
    cls = get_algorithm(name)
    return Trainer(cls(cls.make_config("CartPole-v1", {**SHORT, **overrides})), "CartPole-v1", seed,
                   progress=False, dtype=dtype).run()


def test_compiled_actor_critic_matches_eager_in_float32_and_is_bit_identical_from_run_to_run() -> None:
    eager = run("actor-critic", {"compile": "off"})
    first = run("actor-critic", {"compile": "on"})
    again = run("actor-critic", {"compile": "on"})
    assert first.summary["compiled"] and not eager.summary["compiled"]
    assert first.summary["compile_s"] > 0 and eager.summary["compile_s"] == 0.0
    assert first.summary["updates"] == eager.summary["updates"] == 20
    p, q, r = params(eager), params(first), params(again)
    for name in p:
        torch.testing.assert_close(q[name], p[name], rtol=1e-5, atol=1e-5)
        assert torch.equal(q[name], r[name]), name  # same seed, same setting: bit for bit
    assert any(not torch.equal(q[n], p[n]) for n in p)  # it really was another computation
    cache = compiled.Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    assert cache.is_relative_to(os.environ["PGZOO_CACHE_DIR"]) and any(cache.rglob("*"))  # artefacts cached


def test_compiled_a2c_with_clipping_and_linear_schedule_matches_eager_in_float64() -> None:
    settings = {"rollout_steps": 2, "max_grad_norm": 0.05, "lr_schedule": "linear", "total_steps": 320}
    eager = run("a2c", {**settings, "compile": "off"}, torch.float64)
    comp = run("a2c", {**settings, "compile": "on"}, torch.float64)
    assert comp.summary["compiled"] and comp.summary["updates"] == eager.summary["updates"] == 20
    p, q = params(eager), params(comp)
    for name in p:
        torch.testing.assert_close(q[name], p[name], rtol=1e-10, atol=1e-10)


def test_sgd_and_the_optimizer_state_stay_eager_compatible() -> None:
    """Plain SGD compiled equals eager SGD; Adam's state written by the compiled step is the
    state eager Adam keeps (so a checkpoint can be resumed either way)."""
    sgd = {"optimizer": "sgd", "alpha_theta": 2**-8, "alpha_w": 2**-6}
    e, c = run("actor-critic", {**sgd, "compile": "off"}, torch.float64), run("actor-critic", {**sgd, "compile": "on"},
                                                                              torch.float64)
    for name, p in params(e).items():
        torch.testing.assert_close(params(c)[name], p, rtol=1e-12, atol=1e-12)


AC_LOSS = get_algorithm("actor-critic").Loss


class _ItemLoss(AC_LOSS):
    """A plugin's loss the compiler cannot trace as one graph (it reads a number to the host)."""

    def forward(self, policy, value, rollout):
        terms = super().forward(policy, value, rollout)
        if float(terms["loss_value"]) > 1e30:  # data-dependent Python control flow
            terms["loss_value"] = terms["loss_value"] * 0
        return terms


def test_a_loss_the_compiler_cannot_handle_trains_eagerly_after_one_warning_line(capfd) -> None:
    cls = get_algorithm("actor-critic")
    results = []
    for setting in ("off", "on"):
        algo = cls(cls.make_config("CartPole-v1", {**SHORT, "compile": setting}))
        algo.loss = _ItemLoss(algo.config)
        results.append(Trainer(algo, "CartPole-v1", 3, progress=False).run())
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and "cannot compile the update of 'actor-critic'" in lines[0]
    assert "training eagerly" in lines[0]
    assert results[1].summary["compiled"] is False and results[1].summary["updates"] == 20
    for name, p in params(results[0]).items():
        assert torch.equal(params(results[1])[name], p)  # the eager fall-back is the eager training


def test_an_optimizer_it_does_not_handle_is_eager_with_one_warning(capfd) -> None:
    cls = get_algorithm("actor-critic")

    class RMS(cls):
        def make_optimizer(self, agent):
            return torch.optim.RMSprop(agent.parameters(), lr=1e-3)

    res = Trainer(RMS(cls.make_config("CartPole-v1", {**SHORT, "compile": "on"})), "CartPole-v1", 0,
                  progress=False).run()
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RMSprop" in err[0] and "training eagerly" in err[0]
    assert res.summary["compiled"] is False and "RMSprop" in res.summary["compile_reason"]


def test_episode_schedules_train_eagerly_with_one_warning(capfd) -> None:
    res = train("reinforce", "CartPole-v1", 0, {"total_steps": 200, "eval_episodes": 1, "policy": "mlp",
                                               "compile": "on"})
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "whole episodes" in err[0] and "training eagerly" in err[0]
    assert res.summary["compiled"] is False and res.summary["compile_s"] == 0.0


def _nan_batch(n: int = 8) -> Rollout:
    obs = torch.zeros(1, n, 4)
    return Rollout(obs=obs, actions=torch.zeros(1, n, dtype=torch.long), rewards=torch.full((1, n), math.nan),
                   terminated=torch.zeros(1, n, dtype=torch.bool), truncated=torch.zeros(1, n, dtype=torch.bool),
                   next_obs=obs, t=torch.zeros(1, n, dtype=torch.long))


def test_a_non_finite_loss_raises_before_anything_changes() -> None:
    import gymnasium as gym

    from pgzoo.spaces import EnvSpec

    cls = get_algorithm("actor-critic")
    algo = cls(cls.make_config("CartPole-v1", {"compile": "on"}))
    agent = algo.build_agent(EnvSpec("test", gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2)))
    opt = algo.make_optimizer(agent)
    step = CompiledStep(algo, agent, opt)
    good = _nan_batch()
    good = good.replace(rewards=torch.ones(1, 8))
    step(good)  # compiles, takes one step
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    state = {k: v.clone() for k, v in opt.state[next(agent.parameters())].items()}
    with pytest.raises(NonFiniteLossError, match="loss_value"):
        step(_nan_batch())
    for k, v in agent.state_dict().items():
        assert torch.equal(v, before[k])
    for k, v in opt.state[next(agent.parameters())].items():
        assert torch.equal(v, state[k])


class _Cfg:
    total_episodes = None

    def __init__(self, total_steps: int, num_envs: int) -> None:
        self.total_steps, self.num_envs = total_steps, num_envs


class _Agent(torch.nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(n))


def test_auto_rule_by_hand() -> None:
    big = _Agent(9_000)
    # actor-critic's CartPole-v1 defaults: 200,000 steps / 8 envs = 25,000 updates
    assert decide("auto", _Cfg(200_000, 8), Schedule("steps", 1), big)[0]
    assert expected_updates(_Cfg(200_000, 8), Schedule("steps", 1)) == 25_000
    assert not decide("auto", _Cfg(100_000, 8), Schedule("steps", 1), big)[0]  # 12,500
    assert decide("auto", _Cfg(1_000_000, 8), Schedule("steps", 5), big)[0] is not False  # 25,000
    assert not decide("auto", _Cfg(10**7, 1), Schedule("episodes", 1), big)[0]
    assert not decide("auto", _Cfg(10**7, 1), Schedule("steps", 1), _Agent(10))[0]  # a linear policy
    assert decide("on", _Cfg(1, 1), Schedule("episodes", 1), _Agent(1))[0]
    assert not decide("off", _Cfg(10**7, 1), Schedule("steps", 1), big)[0]


@given(steps=st.integers(1, 10**7), envs=st.integers(1, 64), n=st.integers(1, 16), size=st.integers(1, 5000))
def test_auto_compiles_exactly_when_updates_and_parameters_reach_the_thresholds(steps, envs, n, size) -> None:
    updates = steps // (n * envs)
    wanted, why = decide("auto", _Cfg(steps, envs), Schedule("steps", n), _Agent(size))
    assert wanted == (updates >= MIN_COMPILED_UPDATES and size >= MIN_COMPILED_PARAMS)
    assert why.startswith("auto")


def test_the_bench_trains_with_the_configs_compile_setting() -> None:
    """pgzoo bench no longer resolves "auto" to "off": "auto" follows the trainer's rule alone and as
    a population, and each line records its path, which is its recipe (a recorded setting overrides)."""
    from pgzoo.bench.task import bench_config

    assert bench_config({"compile": "auto", "gamma": 0.9}) == {"compile": "auto", "gamma": 0.9}
    assert bench_config({"gamma": 0.9}) == {"gamma": 0.9}
    assert bench_config({"compile": "auto"}, "off") == {"compile": "off"}
    assert bench_config({"compile": "off"}, "on") == {"compile": "on"}


def test_cache_dir_is_the_tests_temporary_one() -> None:
    assert compiled.cache_dir() == compiled.Path(os.environ["PGZOO_CACHE_DIR"])
    assert compiled.configure_cache() == compiled.Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])


def test_user_cache_dir_without_the_variables(monkeypatch) -> None:
    import platformdirs
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.delenv("PGZOO_CACHE_DIR")
    ours = compiled.Path(platformdirs.user_cache_dir("pgzoo", appauthor=False))
    assert compiled.cache_dir() == ours
    # torch's own default in the variable (set by torch itself on import) is not the user's choice
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    assert compiled.configure_cache() == ours / "inductor"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/somewhere/else")
    assert compiled.configure_cache() == compiled.Path("/somewhere/else")


def test_short_default_runs_are_not_compiled() -> None:
    res = train("actor-critic", "CartPole-v1", 0, {**SHORT})
    assert res.summary["compile"] == "auto" and res.summary["compiled"] is False
    assert "updates <" in res.summary["compile_reason"]



# --- the calls after the first: inductor's kernels called straight, acting and prepare compiled ----------------
def _step_for(name: str, dtype: torch.dtype = torch.float32, action_space=None, **overrides):
    import copy

    import gymnasium as gym

    from pgzoo.spaces import EnvSpec

    cls = get_algorithm(name)
    env = "Pendulum-v1" if action_space is not None else "CartPole-v1"
    algo = cls(cls.make_config(env, {"compile": "on", **overrides}))
    space = action_space if action_space is not None else gym.spaces.Discrete(2)
    obs_dim = 3 if action_space is not None else 4
    agent = algo.build_agent(EnvSpec(env, gym.spaces.Box(-1, 1, (obs_dim,)), space), dtype)
    twin = copy.deepcopy(agent)
    return algo, agent, twin


def _rollout(T: int, n: int, dtype: torch.dtype, seed: int) -> Rollout:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(T + 1, n, 4, generator=g, dtype=dtype)
    term = torch.rand(T, n, generator=g) < 0.1
    return Rollout(obs=obs[:-1].clone(), actions=torch.randint(0, 2, (T, n), generator=g),
                   rewards=torch.ones(T, n, dtype=dtype), terminated=term,
                   truncated=torch.zeros(T, n, dtype=torch.bool), next_obs=obs[1:].clone(),
                   t=torch.randint(0, 50, (T, n), generator=g))


def test_calls_after_the_first_run_the_compiled_kernels_straight_with_the_same_results() -> None:
    """The direct calls (no AOT-autograd wrapper) are the graph that wrapper calls: a step taken
    through the wrapper every time and one taken straight give the same parameters bit for bit,
    and the straight call bumps the version counters of what it changes, as autograd expects.
    (The step was traced to ATen and compiled by inductor without dynamo.)"""
    algo, agent, twin = _step_for("actor-critic")
    fast = CompiledStep(algo, agent, algo.make_optimizer(agent))
    slow = CompiledStep(algo, twin, algo.make_optimizer(twin))
    for k in range(6):
        batch = _rollout(1, 8, torch.float32, k)
        fast(batch)
        version = next(agent.parameters())._version
        slow(batch)
        (graph,) = slow._graphs.values()
        graph.ready = False  # every later call through the wrapper
        if k:
            (fast_graph,) = fast._graphs.values()
            assert fast_graph.ready and fast_graph._entry is not None  # the kernels' own entry point
            assert fast_graph._traced is not None
            assert next(agent.parameters())._version == version  # (taken before the slow step)
    for (name, p), q in zip(agent.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q), name
    before = next(agent.parameters())._version
    fast(_rollout(1, 8, torch.float32, 99))
    assert next(agent.parameters())._version > before


def test_a2c_prepare_is_compiled_with_the_step_and_matches_eager_in_float64() -> None:
    """A2C's GAE (its prepare) runs inside the compiled graph; 5 updates on segments of 3 steps
    of 4 environments equal eager training to 1e-10 (float64)."""
    from pgzoo.algorithm import Algorithm

    algo, agent, twin = _step_for("a2c", torch.float64, gae_lambda=0.9)
    step = CompiledStep(algo, agent, algo.make_optimizer(agent))
    algo.compiled_step = step
    algo.check_rollouts = False  # random t (the losses only read γᵗ from it)
    eager = algo.make_optimizer(twin)
    for k in range(5):
        batch = _rollout(3, 4, torch.float64, k)
        terms = Algorithm.update(algo, agent, step.optimizer, batch)  # through CompiledStep.update
        ref = Algorithm.update(algo, twin, eager, batch)  # another agent: eager
        assert terms.keys() == ref.keys() and terms["optimizer_steps"] == 1.0
        assert math.isclose(terms["loss_value"], ref["loss_value"], rel_tol=1e-10, abs_tol=1e-10)
    assert step.fuse_prepare and not step.eager and step.calls == 5
    assert all(key[0] for key in step._graphs)  # the graphs with prepare inside
    for (name, p), q in zip(agent.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-10, msg=name)


def test_a_prepare_the_compiler_cannot_trace_runs_eagerly_and_the_step_stays_compiled(capfd) -> None:
    cls = get_algorithm("a2c")

    class HostPrepare(cls):
        def prepare(self, agent, rollout):
            out = super().prepare(agent, rollout)
            if float(out.extras["advantages"].sum()) > 1e30:  # data-dependent Python control flow
                raise AssertionError
            return out

    algo = HostPrepare(cls.make_config("CartPole-v1", {"compile": "on"}))
    import gymnasium as gym

    from pgzoo.spaces import EnvSpec

    agent = algo.build_agent(EnvSpec("CartPole-v1", gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2)))
    step = CompiledStep(algo, agent, algo.make_optimizer(agent))
    for k in range(3):
        step.update(_rollout(5, 8, torch.float32, k))
    assert not step.fuse_prepare and not step.eager and step.calls == 3
    assert capfd.readouterr().err == ""  # no warning: the update is still compiled


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_compiled_acting_agrees_with_the_eager_sampler(kind: str) -> None:
    """Same uniforms, same policy: the compiled inverse transform gives the eager sampler's
    actions (categorical: all of 4096 draws equal, none near a CDF boundary by more than the
    float32 rounding of the probabilities; Gaussian: equal to 1e-5), and calls after the first
    (straight to the kernels) give what the first gave."""
    import gymnasium as gym

    from pgzoo.sampling import act

    space = gym.spaces.Box(-2, 2, (1,)) if kind == "gaussian" else None
    algo, agent, _ = _step_for("actor-critic", action_space=space)
    step = CompiledStep(algo, agent, algo.make_optimizer(agent))
    g = torch.Generator().manual_seed(5)
    dim = 3 if space is not None else 4
    with torch.no_grad():  # a policy far from uniform, so that actions are not all one
        for p in agent.policy.parameters():
            p.mul_(30.0)
    for _ in range(8):
        obs = torch.randn(512, dim, generator=g)
        u = torch.rand(512, 1, generator=g, dtype=torch.float64)
        ours = step.act(obs, u)
        with torch.inference_mode():
            ref = act(agent.policy, obs, u)
        if space is None:
            probs = agent.policy(obs).probs[:, 0].detach().double()
            near = (u[:, 0] - probs).abs() < 1e-6  # U within rounding of the boundary F(0)
            assert torch.equal(ours[~near], ref[~near]) and 0 < int(ours.sum()) < 512
        else:
            torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        assert torch.equal(step.act(obs, u), ours)
    (graph,) = step._actors.values()
    assert graph.ready and graph._entry is not None and step.acting_compiled


def test_a_process_keeps_compiling_run_after_run() -> None:
    """Dynamo counts the graphs of one function's code across instances and stops compiling at
    its recompile limit; a graph called straight no longer needs dynamo's entries, which are
    dropped, so a process training many compiled runs (tests, tuning) compiles every one.
    (The limit is lowered with dynamo's own ``config.patch``: ``monkeypatch`` would undo it with
    a ``delattr``, which hides the setting from dynamo for the rest of the process.)"""
    limit = torch._dynamo.config.recompile_limit
    with torch._dynamo.config.patch(recompile_limit=2):
        for k in range(3):
            algo, agent, _ = _step_for("actor-critic")
            step = CompiledStep(algo, agent, algo.make_optimizer(agent))
            for j in range(2):
                step.update(_rollout(1, 8, torch.float32, 10 * k + j))
                step.act(torch.zeros(8, 4), torch.rand(8, 1, dtype=torch.float64))
            assert all(g.ready and g._entry is not None for g in [*step._graphs.values(),
                                                                   *step._actors.values()]), k
    assert torch._dynamo.config.recompile_limit == limit


def test_a_function_is_traced_to_aten_first_and_what_cannot_be_goes_to_dynamo_as_it_is() -> None:
    """:func:`compiled.pretrace` (make_fx on fake tensors) takes a function with literals and an
    input it changes in place; the graph compiled from the trace is called straight, with the
    literals as constants. A function reading a tensor from outside, branching on a tensor's
    value or reading one back with ``.item()`` is not traced (the trace would freeze what it
    read); dynamo then compiles the function itself. Tracing leaves its inputs untouched."""
    outside = torch.ones(3)

    def literals(flat: list[torch.Tensor]) -> tuple[torch.Tensor]:
        flat[0].copy_(flat[0] * 2 + torch.tensor(0.5))
        return (flat[1] * torch.tensor([1.0, 2.0, 3.0]),)

    def reads(flat: list[torch.Tensor]) -> tuple[torch.Tensor]:
        return (flat[0] + outside,)

    def branches(flat: list[torch.Tensor]) -> tuple[torch.Tensor]:
        return (flat[0] * 2 if flat[0].sum() > 0 else flat[0],)

    def item(flat: list[torch.Tensor]) -> tuple[torch.Tensor]:
        return (flat[0] * flat[1].sum().item(),)

    x = [torch.ones(3), torch.arange(3.0)]
    assert compiled.pretrace(literals, x) is not None
    assert all(compiled.pretrace(f, x) is None for f in (reads, branches, item))
    assert x[0].tolist() == [1.0, 1.0, 1.0]
    graph = compiled._Graph(literals, 1, ("y",), mutated=1)
    (y,) = graph.first(x)
    assert graph.ready and graph._traced is not None and graph._entry is not None
    assert x[0].tolist() == [2.5] * 3 and y.tolist() == [0.0, 2.0, 6.0]
    (y,) = graph.run(x)
    assert x[0].tolist() == [5.5] * 3 and y.tolist() == [0.0, 2.0, 6.0]
    dynamo = compiled._Graph(reads, 1, ("y",))
    (y,) = dynamo.first([torch.full((3,), 2.0)])
    assert dynamo._traced is None and y.tolist() == [3.0] * 3
