"""The trainer: truncation handling, NaN stops, budgets, seeding, evaluation schedule."""

import json

import numpy as np
import pytest
import torch

from pgzoo.engine.trainer import EvalSchedule, Trainer, TrainingError, train
from pgzoo.errors import NonFiniteLossError
from pgzoo.registry import get_algorithm
from pgzoo.rollout import Rollout


def recording(name: str):
    """The installed algorithm ``name``, but remembering every rollout it is given."""
    base = get_algorithm(name)

    class Recording(base):
        seen: list[Rollout]

        def update(self, agent, optimizer, rollout, generator=None):
            self.seen.append(rollout)
            return super().update(agent, optimizer, rollout)

    Recording.seen = []
    return Recording


def test_truncated_steps_carry_the_true_final_observation() -> None:
    cls = recording("actor-critic")
    algo = cls(cls.make_config("CartPole-v1", {"max_episode_steps": 5, "total_steps": 60, "num_envs": 2,
                                                "eval_episodes": 1}))
    Trainer(algo, "CartPole-v1", seed=0, progress=False).run()
    steps = cls.seen
    assert len(steps) == 30 and all(r.num_steps == 1 and r.num_envs == 2 for r in steps)
    for k, r in enumerate(steps[:-1]):
        nxt = steps[k + 1]
        for n in range(2):
            if r.truncated[0, n]:
                assert r.t[0, n] == 4 and nxt.t[0, n] == 0
                # S′ at a truncation is the real last state, not the next episode's first one
                assert not torch.equal(r.next_obs[0, n], nxt.obs[0, n])
            elif not r.terminated[0, n]:
                assert torch.equal(r.next_obs[0, n], nxt.obs[0, n]) and nxt.t[0, n] == r.t[0, n] + 1
    assert any(r.truncated.any() for r in steps)


def test_episode_cadence_gets_whole_episodes() -> None:
    cls = recording("reinforce")
    algo = cls(cls.make_config("CartPole-v1", {"total_episodes": 6, "num_envs": 3, "eval_episodes": 1}))
    result = Trainer(algo, "CartPole-v1", seed=0, progress=False).run()
    assert len(cls.seen) >= 6 and result.summary["episodes"] >= 6
    for r in cls.seen:
        assert r.num_envs == 1 and r.done[-1, 0] and not r.done[:-1].any()
        assert r.t[:, 0].tolist() == list(range(r.num_steps))
        assert torch.equal(r.next_obs[:-1], r.obs[1:])


def test_nan_stops_with_a_message_and_keeps_the_last_good_parameters(tmp_path) -> None:
    base = get_algorithm("actor-critic")

    class Poisoned(base):
        calls = 0

        def update(self, agent, optimizer, rollout, generator=None):
            Poisoned.calls += 1
            if Poisoned.calls == 5:
                rollout = rollout.replace(rewards=rollout.rewards * float("nan"))
            return super().update(agent, optimizer, rollout)

    algo = Poisoned(base.make_config("CartPole-v1", {"total_steps": 1000, "num_envs": 1}))
    with pytest.raises(TrainingError) as info:
        Trainer(algo, "CartPole-v1", seed=0, out_dir=tmp_path, progress=False).run()
    msg = str(info.value)
    assert "'actor-critic'" in msg and "loss_" in msg and "env step 5" in msg and "model.pt" in msg
    state = torch.load(tmp_path / "model.pt", weights_only=True)["agent"]
    assert all(torch.isfinite(v).all() for v in state.values())


def test_update_refuses_a_non_finite_loss_before_stepping() -> None:
    cls = get_algorithm("reinforce")
    algo = cls(cls.make_config(overrides={"policy": "linear"}))
    from pgzoo.testing import small_rollout

    rollout = small_rollout(N=1)
    rollout = rollout.replace(rewards=rollout.rewards * float("inf"))
    import gymnasium as gym

    from pgzoo.spaces import EnvSpec

    agent = algo.build_agent(EnvSpec("x", gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2))).double()
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    with pytest.raises(NonFiniteLossError):
        algo.update(agent, algo.make_optimizer(agent), rollout)
    assert all(torch.equal(before[k], v) for k, v in agent.state_dict().items())


def test_evaluation_schedule_does_not_change_training() -> None:
    cls = get_algorithm("actor-critic")
    overrides = {"total_steps": 400, "num_envs": 2, "eval_episodes": 2}
    plain = Trainer(cls(cls.make_config("CartPole-v1", overrides)), "CartPole-v1", 1, progress=False).run()
    scheduled = Trainer(cls(cls.make_config("CartPole-v1", overrides)), "CartPole-v1", 1, progress=False,
                        schedule=EvalSchedule(every=100, episodes=2)).run()
    a, b = plain.agent.state_dict(), scheduled.agent.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [p["env_steps"] for p in scheduled.curve] == [0, 100, 200, 300, 400]


def test_episode_budget_and_summary(tmp_path) -> None:
    result = train("reinforce-baseline", "ShortCorridor-v0", seed=2, overrides={"total_episodes": 7},
                   out_dir=tmp_path)
    assert result.summary["episodes"] == 7 == len(result.episodes)
    assert json.loads((tmp_path / "summary.json").read_text())["episodes"] == 7
    assert np.isfinite(result.summary["eval_return_mean"])


def test_reward_scale_scales_what_is_learned_not_what_is_reported() -> None:
    """REINFORCE with SGD: rewards × 4 at α is the same update as rewards × 1 at 4α (θ += α G ∇ln π),
    and the episode returns reported stay the environment's own."""
    cls = get_algorithm("reinforce")
    base = {"total_episodes": 8, "eval_episodes": 1, "alpha_theta": 2.0**-10}
    scaled = Trainer(cls(cls.make_config("ShortCorridor-v0", {**base, "reward_scale": 4.0})), "ShortCorridor-v0",
                     seed=1, progress=False, dtype=torch.float64).run()
    plain = Trainer(cls(cls.make_config("ShortCorridor-v0", {**base, "alpha_theta": 2.0**-8})), "ShortCorridor-v0",
                    seed=1, progress=False, dtype=torch.float64).run()
    torch.testing.assert_close(scaled.agent.policy.theta, plain.agent.policy.theta, rtol=1e-12, atol=1e-12)
    assert not torch.equal(scaled.agent.policy.theta, torch.tensor([-np.log(19), 0.0], dtype=torch.float64))
    returns = [e["return"] for e in scaled.episodes]
    assert returns == [e["return"] for e in plain.episodes] and all(r == -e["length"] for r, e in
                                                                    zip(returns, scaled.episodes, strict=True))
