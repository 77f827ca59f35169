"""The engine: schedules cut by the collector, the update contract, clipping, step-size schedules,
optimiser-step counts, population safety. Right values computed by hand in the comments."""

import numpy as np
import pytest
import torch

from pgzoo.engine.collector import Collector
from pgzoo.engine.population import Population, population_blocker
from pgzoo.engine.safety import state_leak
from pgzoo.engine.schedules import Schedule
from pgzoo.engine.trainer import Trainer
from pgzoo.engine.update import lr_factor, optimizer_step
from pgzoo.errors import UsageError
from pgzoo.registry import get_algorithm
from pgzoo.returns import gae_advantages
from pgzoo.rollout import Rollout

RUN0 = np.zeros(1, dtype=np.int64)


def feed(collector: Collector, done_rows: list[list[bool]], runs: np.ndarray = RUN0) -> list[list[tuple]]:
    """Step the collector with rows of episode ends (terminations); obs = the row number."""
    out = []
    for k, ends in enumerate(done_rows):
        n = len(ends)
        obs = torch.full((n, 1), float(k))
        term = torch.tensor(ends)
        out.append(collector.add(runs, obs, torch.zeros(n, dtype=torch.long), torch.ones(n), term,
                                 torch.zeros(n, dtype=torch.bool), obs + 0.5))
    return out


def test_segments_of_n_steps_cross_episode_ends() -> None:
    c = Collector(Schedule("steps", 3), runs=1, num_envs=2)
    # env 0 ends at row 1, env 1 at row 3
    emitted = feed(c, [[False, False], [True, False], [False, False], [False, True], [False, False],
                       [False, False], [False, False]])
    assert [len(e) for e in emitted] == [0, 0, 1, 0, 0, 1, 0]  # rows 0-2 and 3-5; row 6 waits
    (_, seg1), (_, seg2) = emitted[2][0], emitted[5][0]
    assert seg1.obs.shape == (3, 2, 1) and seg1.obs[:, 0, 0].tolist() == [0.0, 1.0, 2.0]
    assert seg1.t.tolist() == [[0, 0], [1, 1], [0, 2]]  # env 0 restarts after its end at row 1
    assert seg2.t.tolist() == [[1, 3], [2, 0], [3, 1]]
    assert seg1.terminated[:, 0].tolist() == [False, True, False]
    assert torch.equal(seg1.next_obs, seg1.obs + 0.5)


def test_batches_of_k_episodes_pool_across_environments_in_end_order() -> None:
    c = Collector(Schedule("episodes", 2), runs=1, num_envs=2)
    # env 0 ends at rows 1 and 4, env 1 at row 2: episodes end in the order e0(rows 0-1), e1(0-2), e0(2-4)
    emitted = feed(c, [[False, False], [True, False], [False, True], [False, False], [True, False]])
    assert [len(e) for e in emitted] == [0, 0, 1, 0, 0]
    _, batch = emitted[2][0]
    assert batch.num_envs == 1 and batch.num_steps == 5
    assert batch.t[:, 0].tolist() == [0, 1, 0, 1, 2]
    assert batch.obs[:, 0, 0].tolist() == [0.0, 1.0, 0.0, 1.0, 2.0]
    assert batch.terminated[:, 0].tolist() == [False, True, False, False, True]
    # the third episode (env 0, rows 2-4) waits for a fourth: env 1's rows 3-5 (3 steps)
    more = feed(c, [[False, True]], runs=RUN0)
    assert len(more[0]) == 1 and more[0][0][1].num_steps == 3 + 3


def test_population_runs_collect_independently() -> None:
    c = Collector(Schedule("steps", 2), runs=2, num_envs=1)
    feed(c, [[False]], runs=np.array([1]))  # only run 1 steps
    assert c.t.tolist() == [0, 1]
    emitted = feed(c, [[False, False]], runs=np.array([0, 1]))[0]
    assert [r for r, _ in emitted] == [1]  # run 1 completed its segment; run 0 has one step


@pytest.mark.parametrize("n", [1, 2])
def test_segments_of_runs_that_complete_together_come_stacked(n: int) -> None:
    """``add_segments`` gives what ``add`` gives, one tensor per field: runs 0 and 2 of 3 (two
    envs each) step together from the start, run 1 joins one step later, so it completes its
    n-step segments one step after them (n = 2); every run's t, obs and ends are its own."""
    rows = [[False, False, False, False, False, False], [False, True, False, False, True, False],
            [False, False, True, False, False, False], [True, False, False, False, False, True]]
    who = [np.array([0, 2]), np.array([0, 1, 2]), np.array([0, 1, 2]), np.array([0, 1, 2])]
    one, many = Collector(Schedule("steps", n), runs=3, num_envs=2), Collector(Schedule("steps", n), runs=3, num_envs=2)
    completed = []
    for k, runs in enumerate(who):
        ends = torch.tensor([e for r in runs for e in rows[k][2 * r:2 * r + 2]])
        obs = torch.arange(len(ends), dtype=torch.float32).reshape(-1, 1) + 10 * k
        args = (runs, obs, torch.zeros(len(ends), dtype=torch.long), torch.ones(len(ends)), ends,
                torch.zeros(len(ends), dtype=torch.bool), obs + 0.5)
        listed = one.add(*args)
        full, fields = many.add_segments(*args)
        assert [r for r, _ in listed] == full.tolist()
        completed.append(full.tolist())
        for j, (_, rollout) in enumerate(listed):
            for f, v in fields.items():
                assert torch.equal(v[j], getattr(rollout, f)), (k, f)
    # by hand: t of envs 0-5 after the four steps (ends: e1, e4 at step 1; e2 at 2; e0, e5 at 3)
    assert many.t.tolist() == one.t.tolist() == [0, 2, 1, 3, 2, 0]
    assert completed == ([[0, 2], [0, 1, 2], [0, 1, 2], [0, 1, 2]] if n == 1 else [[], [0, 2], [1], [0, 2]])


def test_schedule_settings_are_checked() -> None:
    ac = get_algorithm("actor-critic")
    assert ac(ac.make_config(overrides={"rollout_steps": 5})).schedule == Schedule("steps", 5)
    with pytest.raises(UsageError, match="rollout_episodes: 'actor-critic' updates on steps; set rollout_steps"):
        ac(ac.make_config(overrides={"rollout_episodes": 2}))
    with pytest.raises(UsageError, match="not both"):
        ac.make_config(overrides={"rollout_steps": 2, "rollout_episodes": 2})
    rf = get_algorithm("reinforce")
    assert rf(rf.make_config()).schedule == Schedule("episodes", 1)


def test_continuing_task_refuses_an_episode_schedule() -> None:
    rf = get_algorithm("reinforce")
    with pytest.raises(UsageError, match="continuing task that never ends one"):
        Trainer(rf(rf.make_config(overrides={"total_steps": 100})), "AccessControl-v0", progress=False).run()


def test_gae_by_hand() -> None:
    # γ = 0.9, λ = 0.5, R = 1, v̂ = 0.5 everywhere: δ = 1 + 0.9·0.5 − 0.5 = 0.95 unless terminated (δ = 0.5)
    r, v = torch.ones(3, 1, dtype=torch.float64), torch.full((3, 1), 0.5, dtype=torch.float64)
    no = torch.zeros(3, 1, dtype=torch.bool)
    cut = no.clone()
    cut[1] = True
    # truncation at step 1: Â2 = 0.95, Â1 = 0.95 (chain cut, but bootstrapped), Â0 = 0.95 + 0.45·0.95
    adv = gae_advantages(r, v, v, no, cut, 0.9, 0.5)
    assert adv[:, 0].tolist() == pytest.approx([0.95 + 0.45 * 0.95, 0.95, 0.95])
    # termination at step 1: δ1 = 0.5, Â0 = 0.95 + 0.45·0.5
    adv = gae_advantages(r, v, v, cut, no, 0.9, 0.5)
    assert adv[:, 0].tolist() == pytest.approx([1.175, 0.5, 0.95])
    # λ = 0 is δ; λ = 1 with γ = 1 and a terminal last step is G − v̂
    assert gae_advantages(r, v, v, no, no, 0.9, 0.0)[:, 0].tolist() == pytest.approx([0.95] * 3)
    end = no.clone()
    end[2] = True
    assert gae_advantages(r, v, v, end, no, 1.0, 1.0)[:, 0].tolist() == pytest.approx([2.5, 1.5, 0.5])


def test_gradient_clipping_by_hand() -> None:
    # loss −(3θ₁ + 4θ₂): gradient (−3, −4), norm 5; clipped to 1 → step (0.6, 0.8) with SGD lr 1
    theta = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=1.0)
    optimizer_step({"loss_policy": -(torch.tensor([3.0, 4.0], dtype=torch.float64) * theta).sum()}, opt, 1.0)
    assert theta.detach().tolist() == pytest.approx([0.6, 0.8], abs=1e-6)


def test_linear_step_size_schedule_and_optimizer_step_count() -> None:
    ac = get_algorithm("actor-critic")
    algo = ac(ac.make_config(overrides={"total_steps": 4, "num_envs": 1, "lr_schedule": "linear",
                                        "alpha_theta": 0.5, "alpha_w": 0.25, "eval_episodes": 1}))
    seen = []
    original = algo.update

    def spy(agent, optimizer, rollout, generator=None):
        seen.append([g["lr"] for g in optimizer.param_groups])
        return original(agent, optimizer, rollout, generator)

    algo.update = spy
    result = Trainer(algo, "CartPole-v1", seed=0, progress=False).run()
    # fraction done after each step's env steps: 1/4, 2/4, 3/4, 4/4 (SB3's convention)
    assert seen == [pytest.approx([0.5 * f, 0.25 * f]) for f in (0.75, 0.5, 0.25, 0.0)]
    assert lr_factor("constant", 0.7) == 1.0
    assert result.summary["updates"] == 4 and result.summary["rollouts"] == 4


def test_sequential_reinforce_counts_one_optimizer_step_per_time_step() -> None:
    rf = get_algorithm("reinforce")
    algo = rf(rf.make_config("ShortCorridor-v0", {"total_episodes": 3, "eval_episodes": 1}))
    result = Trainer(algo, "ShortCorridor-v0", seed=0, progress=False).run()
    assert result.summary["rollouts"] == 3
    assert result.summary["updates"] == sum(e["length"] for e in result.episodes)


def test_extras_travel_through_indexing_concatenation_and_minibatches() -> None:
    T, N = 3, 2
    r = Rollout(torch.zeros(T, N, 4), torch.zeros(T, N, dtype=torch.long), torch.zeros(T, N),
                torch.zeros(T, N, dtype=torch.bool), torch.zeros(T, N, dtype=torch.bool), torch.zeros(T, N, 4),
                torch.zeros(T, N, dtype=torch.long), extras={"adv": torch.arange(6.0).reshape(T, N)})
    assert r[1].extras["adv"].tolist() == [[2.0, 3.0]]
    assert Rollout.cat([r, r[0]]).extras["adv"].shape == (4, 2)
    flat = r.transitions()
    assert flat.obs.shape == (1, 6, 4) and flat.extras["adv"].tolist() == [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]]
    assert flat.select_envs(torch.tensor([5, 0])).extras["adv"].tolist() == [[5.0, 0.0]]
    assert r.to(torch.float64).extras["adv"].dtype == torch.float64


def leaky_reinforce():
    """A plugin that holds episodes back on itself until it has two: fine alone, wrong in a population."""
    base = get_algorithm("reinforce")

    class HoldsBack(base):
        def __init__(self, config=None):
            super().__init__(config)
            self.held: list[Rollout] = []

        def update_batches(self, rollout, generator=None):
            self.held.append(rollout)
            if len(self.held) == 2:
                yield from super().update_batches(Rollout.cat(self.held), generator)
                self.held = []

    return HoldsBack


def test_state_kept_outside_init_state_is_detected() -> None:
    cls = leaky_reinforce()
    algo = cls(cls.make_config("ShortCorridor-v0", {"total_episodes": 4, "sequential": False}))
    reason = population_blocker(algo)
    assert reason is not None and "algorithm.held" in reason
    with pytest.raises(UsageError, match=r"algorithm\.held"):
        Population(algo, "ShortCorridor-v0", seeds=[0, 1]).run()
    for name in ("reinforce", "reinforce-baseline", "actor-critic", "actor-critic-traces", "a2c"):
        good = get_algorithm(name)
        assert state_leak(good(good.make_config("CartPole-v1"))) is None, name
