"""Environments and inputs users bring (issue 10): every action as the action space says, the
environment's API checked in one place, image scaling, evaluation step caps, refusals in one line.

Tiny environments are registered here for real (no mocks); the right values are computed by hand
in the comments.
"""

from __future__ import annotations

import itertools
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical

from pgzoo import cli
from pgzoo.bench.random_policy import random_policy_record
from pgzoo.engine.evaluation import evaluate
from pgzoo.engine.population import train_population
from pgzoo.engine.trainer import Trainer, train
from pgzoo.errors import EnvError
from pgzoo.registry import get_algorithm
from pgzoo.sampling import inverse_cdf, sample_with
from pgzoo.spaces import encode_obs, to_env_actions

SENT: list[tuple[gym.Space, object]] = []
"""Every action any ProbeEnv received, with its action space."""


class ProbeEnv(gym.Env):
    """Observation Box(-1, 1, (2,)); episodes of ``length`` steps (never ending if 0); reward
    ``reward`` per step (any object, handed back as is); records every action it gets."""

    def __init__(self, action_space: gym.Space | None = None, length: int = 3, reward: object = 1.0,
                 observation_space: gym.Space | None = None, obs: object = None) -> None:
        self.action_space = action_space if action_space is not None else gym.spaces.Discrete(2)
        self.observation_space = observation_space or gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.length, self.reward, self.obs = length, reward, obs
        self.t = 0

    def _obs(self) -> object:
        return self.obs if self.obs is not None else np.array([self.t / 10, 0.5], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[object, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action: object) -> tuple[object, object, bool, bool, dict]:
        SENT.append((self.action_space, action))
        self.t += 1
        return self._obs(), self.reward, self.length > 0 and self.t >= self.length, False, {}


class OldGymEnv(ProbeEnv):
    """The pre-0.26 gym API: ``reset()`` returns the observation, ``step`` a 4-tuple."""

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> object:  # type: ignore[override]
        return super().reset(seed=seed)[0]

    def step(self, action: object) -> tuple:  # type: ignore[override]
        obs, reward, term, _, info = super().step(action)
        return obs, reward, term, info


_ids = itertools.count()


def register(entry: type = ProbeEnv, max_episode_steps: int | None = None, **kwargs: object) -> str:
    """Register ``entry`` with ``kwargs`` under a fresh id; return the id."""
    env_id = f"Probe{next(_ids)}-v0"
    gym.register(env_id, entry_point=entry, max_episode_steps=max_episode_steps, kwargs=kwargs)
    return env_id


def quick(**more: object) -> dict:
    return {"total_steps": 12, "num_envs": 2, "eval_episodes": 2, "policy": "linear", "optimizer": "sgd", **more}


# --- 1. the soft-max sampler ------------------------------------------------------------------

def test_inverse_cdf_edge_draws() -> None:
    cdf = torch.tensor([0.2, 0.5, 1.0])  # probabilities 0.2, 0.3, 0.5 in float32
    u = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731
    assert int(inverse_cdf(cdf, u(0.0))) == 0  # U = 0 < F(0)
    assert int(inverse_cdf(cdf, u(0.2))) == 1  # U = F(0) exactly: not < F(0), < F(1)
    assert int(inverse_cdf(cdf, u(0.7))) == 2
    # U = 1 − 2⁻⁵³ is a valid float64 uniform; in float32 it is 1.0, so all 3 entries are <= U
    assert torch.tensor(1 - 2**-53, dtype=torch.float64).float().item() == 1.0
    assert int(inverse_cdf(cdf, u(1 - 2**-53))) == 2
    # a CDF whose last entry rounds below 1 (1 − 2⁻²⁴ in float32) and a U above it
    low = torch.tensor([0.25, 0.5, 1 - 2**-24])
    assert int(inverse_cdf(low, u(1 - 2**-25 + 2**-40))) == 2  # rounds to 1.0 in float32
    assert int(inverse_cdf(low.double(), u(1 - 2**-30))) == 2  # float64: 1 − 2⁻³⁰ > 1 − 2⁻²⁴
    # the same through a policy's distribution, and batched under vmap as population training does
    dist = Categorical(logits=torch.zeros(2, 4))
    draws = torch.tensor([[0.0], [1 - 2**-53]], dtype=torch.float64)
    assert sample_with(dist, draws).tolist() == [0, 3]
    vm = torch.func.vmap(lambda lg, x: sample_with(Categorical(logits=lg), x))
    assert vm(torch.zeros(2, 4), draws).tolist() == [0, 3]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1e-6, 1.0, allow_subnormal=False), min_size=1, max_size=6),
       st.floats(0.0, 1.0, exclude_max=True, allow_subnormal=False), st.sampled_from([torch.float32, torch.float64]))
def test_sampler_changes_no_valid_draw(weights: list[float], u: float, dtype: torch.dtype) -> None:
    """Where the count of CDF entries <= U was a valid index (< n), it is unchanged (so committed
    leaderboards reproduce from their seeds); otherwise it is n − 1."""
    probs = torch.tensor(weights, dtype=dtype)
    probs = probs / probs.sum()
    cdf = probs.cumsum(-1)
    cdf = cdf / cdf[-1:]
    draw = torch.tensor([u], dtype=torch.float64)
    old = int((cdf <= draw.to(dtype)).sum(-1))
    new = int(sample_with(Categorical(probs=probs), draw))
    assert new == (old if old < len(weights) else len(weights) - 1)


def test_the_seed_that_drew_action_2_on_cartpole_now_trains() -> None:
    # pgzoo train actor-critic --env CartPole-v1 --seed 644 --steps 4000 (crashed at vector step 248)
    result = train("actor-critic", "CartPole-v1", seed=644, overrides={"total_steps": 4000, "eval_episodes": 1})
    assert result.summary["env_steps"] == 4000


# --- 1. actions as the action space says ------------------------------------------------------

def test_to_env_actions_by_hand() -> None:
    a = to_env_actions(gym.spaces.Discrete(3, start=-2), torch.tensor([0, 1, 2]))
    assert a.tolist() == [-2, -1, 0]  # start + index
    space = gym.spaces.Box(np.array([[0.0, -np.inf], [-1.0, 2.0]]), np.array([[1.0, np.inf], [3.0, 5.0]]),
                           dtype=np.float64)
    out = to_env_actions(space, torch.tensor([[-0.5, 7.0, 4.0, 1.0]]))
    # row-major into (2, 2), then clipped: -0.5 → 0, 7 stays (no upper bound), 4 → 3, 1 → 2
    assert out.shape == (1, 2, 2) and out.dtype == np.float64
    assert out.tolist() == [[[0.0, 7.0], [3.0, 2.0]]]


def test_discrete_start_reaches_the_env_in_training_and_evaluation() -> None:
    env_id = register(action_space=gym.spaces.Discrete(2, start=10))
    SENT.clear()
    train("reinforce", env_id, overrides=quick(total_steps=220))
    got = {int(a) for _, a in SENT}
    assert got == {10, 11}


finite = st.floats(-5, 5, allow_nan=False, allow_subnormal=False, width=32)


@st.composite
def action_spaces(draw: st.DrawFn) -> gym.Space:
    if draw(st.booleans()):
        return gym.spaces.Discrete(draw(st.integers(1, 4)), start=draw(st.integers(-5, 20)))
    shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    size = math.prod(shape)
    low, high = np.empty(size), np.empty(size)
    for i in range(size):
        kind = draw(st.sampled_from(["finite", "infinite", "below", "above"]))
        lo = draw(finite)
        width = draw(st.floats(0, 3, allow_subnormal=False, width=32))
        low[i] = -np.inf if kind in ("infinite", "above") else lo
        high[i] = np.inf if kind in ("infinite", "below") else lo + width
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return gym.spaces.Box(low.reshape(shape), high.reshape(shape), shape, dtype)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(action_spaces(), st.sampled_from(["actor-critic", "reinforce"]))
def test_every_action_sent_is_in_the_action_space(tmp_path_factory, space: gym.Space, algorithm: str) -> None:
    env_id = register(action_space=space)
    SENT.clear()
    out = tmp_path_factory.mktemp("run")
    # training + the final evaluation (stochastic and greedy)
    Trainer(get_algorithm(algorithm)(get_algorithm(algorithm).make_config(env_id, quick())), env_id,
            out_dir=out, progress=False).run()
    # pgzoo eval, stochastic and greedy
    assert cli.main(["eval", str(out), "--episodes", "2"]) == 0
    assert cli.main(["eval", str(out), "--episodes", "2", "--deterministic"]) == 0
    # population training
    train_population(algorithm, env_id, seeds=[0, 1], overrides=quick())
    assert len(SENT) > 40
    bad = [(a, getattr(a, "dtype", type(a))) for s, a in SENT if not s.contains(a)]
    assert not bad, f"{space}: {bad[:3]}"


# --- 2. the environment's API, rewards, observations --------------------------------------------

def test_old_gym_api_is_one_line_naming_the_env(tmp_path) -> None:
    env_id = register(OldGymEnv)
    with pytest.raises(EnvError) as e:
        train("reinforce", env_id, overrides=quick())
    assert str(e.value).startswith(f"environment '{env_id}': reset() returned ndarray array([0. , 0.5]")
    assert "old gym API" in str(e.value) and "\n" not in str(e.value)


def test_four_tuple_step_is_refused() -> None:
    class FourTuple(ProbeEnv):
        def step(self, action):
            return super().step(action)[:4]

    env_id = register(FourTuple)
    with pytest.raises(EnvError, match=r"step\(\) \(step 1 of an episode\) returned a 4-tuple, not "
                                               r"\(observation, reward, terminated, truncated, info\)"):
        train("reinforce", env_id, overrides=quick())


@pytest.mark.parametrize("reward", [np.float32(0.5), np.array([0.5]), np.array([[0.5]]), 1])
def test_numpy_and_one_element_rewards_are_floats(reward: object) -> None:
    env_id = register(reward=reward)
    result = train("actor-critic", env_id, overrides=quick(total_steps=30))
    # 3 steps per episode: return 3 × 0.5 = 1.5 (or 3 × 1 = 3), in training and in evaluation
    per_step = float(np.asarray(reward).reshape(()))
    assert result.episodes[0]["return"] == 3 * per_step
    assert result.summary["eval_return_mean"] == 3 * per_step


@pytest.mark.parametrize(("reward", "what"), [
    (np.array([1.0, 2.0]),
     "returned the reward ndarray array([1., 2.]) of shape (2,); a reward must be a finite scalar"),
    (float("nan"), "returned the reward nan; a reward must be finite"),
    ("1", "returned the reward str '1'; a reward must be a finite scalar"),
])
def test_bad_rewards_are_one_line_naming_env_and_step(reward: object, what: str) -> None:
    env_id = register(reward=reward)
    with pytest.raises(EnvError) as e:
        train("actor-critic", env_id, overrides=quick())
    assert str(e.value) == f"environment '{env_id}': step() (step 1 of an episode) {what}"


def test_observation_of_another_shape_is_refused() -> None:
    env_id = register(obs=np.zeros(3, dtype=np.float32))
    with pytest.raises(EnvError, match=r"reset\(\) returned an observation of shape \(3,\); its observation "
                                               r"space Box\(-1.0, 1.0, \(2,\), float32\) has shape \(2,\)"):
        train("actor-critic", env_id, overrides=quick())


def test_a_population_checks_its_environments_too() -> None:
    env_id = register(reward=np.array([1.0, 2.0]))
    with pytest.raises(EnvError, match="a reward must be a finite scalar"):
        train_population("reinforce", env_id, seeds=[0, 1], overrides=quick())


def test_images_are_scaled_to_unit_interval_unless_turned_off() -> None:
    image = gym.spaces.Box(0, 255, (2, 2), np.uint8)
    obs = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    assert encode_obs(image, obs).tolist() == pytest.approx([0.0, 1.0, 0.2, 0.4])  # 51/255 = 0.2
    assert encode_obs(image, obs, scale_images=False).tolist() == [0.0, 255.0, 51.0, 102.0]
    not_image = gym.spaces.Box(0, 10, (2,), np.uint8)  # bounds 0..10: counts, not pixels
    assert encode_obs(not_image, np.array([3, 10], dtype=np.uint8)).tolist() == [3.0, 10.0]
    # in training, the algorithm sees the scaled values
    env_id = register(observation_space=image, obs=obs)
    base = get_algorithm("actor-critic")
    seen = []

    class Seeing(base):
        def update(self, agent, optimizer, rollout, generator=None):
            seen.append(rollout.obs.max().item())
            return super().update(agent, optimizer, rollout, generator)

    Trainer(Seeing(base.make_config(env_id, quick())), env_id, progress=False).run()
    assert max(seen) == 1.0
    seen.clear()
    Trainer(Seeing(base.make_config(env_id, quick(scale_images=False))), env_id, progress=False).run()
    assert max(seen) == 255.0


# --- 3. nothing hangs ---------------------------------------------------------------------------

def test_evaluation_of_a_never_ending_episode_is_capped_and_reported() -> None:
    env_id = register(length=0, reward=0.5)  # no time limit, never terminates
    result = train("actor-critic", env_id, overrides=quick(total_steps=100, eval_max_steps=40))
    s = result.summary
    # 2 stochastic + 2 greedy episodes, each cut at 40 steps: 40 × 0.5 = 20
    assert s["eval_capped_episodes"] == 4 and s["eval_max_steps"] == 40
    assert s["eval_return_mean"] == 20.0 and s["eval_return_mean_deterministic"] == 20.0
    scores = evaluate(result.agent.policy, env_id, [1, 2, 3], step_cap=7)
    assert list(scores) == [3.5, 3.5, 3.5] and scores.capped == 3


def test_random_policy_measurement_is_capped_and_scores_continuing_tasks_per_step() -> None:
    env_id = register(length=0, reward=2.0)
    rec = random_policy_record(env_id, episodes=2, step_cap=25)
    assert rec["return_mean"] == 50.0 and rec["capped"] == 2  # 25 steps × 2
    rec = random_policy_record("AccessControl-v0", episodes=2, continuing_steps=200)
    assert rec["capped"] == 0 and 0.0 <= rec["return_mean"] <= 8.0  # an average reward per step (priority ≤ 8)


def test_episode_algorithm_on_continuing_task_is_one_line_exit_2(capsys) -> None:
    # pgzoo train reinforce --env AccessControl-v0 --steps 3000 (exited 0 with "updates": 0)
    assert cli.main(["train", "reinforce", "--env", "AccessControl-v0", "--steps", "3000", "--quiet",
                     "--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err
    assert err == ("pgzoo train: error: 'reinforce' updates at the end of each episode and AccessControl-v0 is a "
                   "continuing task that never ends one (use a per-step algorithm, e.g. actor-critic-continuing)\n")


# --- 4. ids and reproducibility -----------------------------------------------------------------

def test_pgzoo_eval_of_the_stochastic_policy_is_seeded(tmp_path, capsys) -> None:
    train("actor-critic", "CartPole-v1", overrides={"total_steps": 300, "eval_episodes": 1}, out_dir=tmp_path)

    def once(*extra: str) -> dict:
        assert cli.main(["eval", str(tmp_path), "--episodes", "5", "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    first, second = once(), once()
    assert first == second and first["seed"] == 0
    assert once("--seed", "3")["seed"] == 3


def test_sb3_discrete_start_and_capped_evaluation() -> None:
    pytest.importorskip("stable_baselines3")
    from pgzoo_sb3 import SB3A2C

    from pgzoo.engine.trainer import EvalSchedule

    env_id = register(action_space=gym.spaces.Discrete(2, start=10), length=0, reward=1.0)
    SENT.clear()
    result = SB3A2C({"n_steps": 5, "eval_episodes": 1, "eval_max_steps": 6}).run(env_id, 0, 20, EvalSchedule(10, 1))
    assert {int(a) for _, a in SENT} == {10, 11}
    # evaluation points at 0, 10, 20 and the final stochastic and greedy: 1 episode each, all cut at 6 steps
    assert result.summary["eval_capped_episodes"] == 8 and result.summary["eval_return_mean"] == 6.0
