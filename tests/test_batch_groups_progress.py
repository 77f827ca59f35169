"""Two parts of the plugin contract, everywhere updates run: which parameters a batch steps
(``Rollout.groups``: the others keep their values and their optimiser state), and the run's
progress p (``Rollout.progress``) with settings annealed over it (``anneal``).

The algorithm under test takes, per rollout, one policy step and two value steps on the same
batch, with a coefficient c(p) annealed linearly: loss_policy = −Σ c R ln π(A|S,θ),
loss_value = −Σ c R v̂(S,w); so ∇_θ = −c R (e_A − π) and ∇_w = −c R, which the expected values
below are computed from by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import Field

from pgzoo import Agent, Algorithm, CriticConfig, Rollout, SurrogateLoss
from pgzoo.annealing import annealed, budget_fraction
from pgzoo.book import BookCase
from pgzoo.book.verify import check, random_case
from pgzoo.config import annealable
from pgzoo.engine.population import Population
from pgzoo.engine.trainer import Trainer
from pgzoo.errors import UsageError
from pgzoo.features import ActionOneHot
from pgzoo.losses import surrogate
from pgzoo.policies import LinearSoftmaxPolicy
from pgzoo.rollout import RolloutError
from pgzoo.tblog import TrainLogger
from pgzoo.values import ScalarValue


class PhasesConfig(CriticConfig):
    coef: float = Field(1.0, json_schema_extra=annealable())


class PhasesLoss(SurrogateLoss):
    def forward(self, policy, value, rollout):
        c = self.setting("coef", rollout)
        p = rollout.progress if rollout.progress is not None else torch.zeros((), dtype=torch.float64)
        return {"loss_policy": surrogate(c * rollout.rewards, policy(rollout.obs).log_prob(rollout.actions)),
                "loss_value": surrogate(c * rollout.rewards, value(rollout.obs)), "progress": p.detach()}


class Phases(Algorithm):
    """Per rollout: θ ← θ + α^θ Σ c R ∇ln π; then twice w ← w + α^w Σ c R ∇v̂; c = coef·(1 − p) if annealed."""

    name = "test-phases"
    section = "-"
    Config = PhasesConfig
    Loss = PhasesLoss
    uses_value = True
    verify_variants = {"annealed": {"num_envs": 2, "rollout_steps": 3, "anneal": {"coef": "linear"}}}

    def update_batches(self, rollout, generator=None):
        yield rollout.stepping("policy")
        yield rollout.stepping("value")
        yield rollout.stepping("value")

    def book_update(self, case: BookCase):
        cfg = self.config
        theta, w = case.theta.copy(), case.w.copy()
        for seg in case.rollouts():
            c = cfg.coef * (1 - seg.progress if cfg.anneal.get("coef") == "linear" else 1.0)
            cells = list(np.ndindex(*seg.rewards.shape))
            theta = theta + cfg.alpha_theta * sum(
                c * seg.rewards[k] * seg.grad_ln_pi(theta, seg.states[k], seg.actions[k]) for k in cells)
            for _ in range(2):
                w = w + cfg.alpha_w * sum(c * seg.rewards[k] * seg.grad_v(w, seg.states[k]) for k in cells)
        return theta, w


def one_step_setup(optimizer: str, **settings):
    algo = Phases(Phases.make_config(overrides={"optimizer": optimizer, "alpha_theta": 0.1, "alpha_w": 0.5,
                                                "value": "scalar", **settings}))
    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2)), ScalarValue(1.0)).double()
    rollout = Rollout.from_transition(torch.zeros(3, dtype=torch.float64), 0, 2.0, True, False,
                                      torch.zeros(3, dtype=torch.float64), 0)
    return algo, agent, algo.make_optimizer(agent), rollout


def test_value_batches_leave_the_policy_and_its_adam_state_alone() -> None:
    # ∇_θ = −R (e_0 − ½) = (−1, 1), ∇_w = −R = −2 (c = 1): Adam's first step is −α g/(|g| + ε)
    algo, agent, opt, rollout = one_step_setup("adam")
    algo.update(agent, opt, rollout)
    theta, w = agent.policy.theta, agent.value.w
    assert theta.detach().tolist() == pytest.approx([0.1 / (1 + 1e-8), -0.1 / (1 + 1e-8)], rel=1e-12)
    st = opt.state[theta]
    assert st["step"].item() == 1.0  # one policy step, not three
    assert st["exp_avg"].tolist() == pytest.approx([-0.1, 0.1], rel=1e-12)  # (1 − β1) g
    assert st["exp_avg_sq"].tolist() == pytest.approx([0.001, 0.001], rel=1e-12)  # (1 − β2) g²
    # two value steps with g = −2: m = −0.38, v = 0.007996, bias corrections 0.19 and 0.001999
    step1 = 0.5 * 2 / (2 + 1e-8)
    step2 = 0.5 * (0.38 / 0.19) / (np.sqrt(0.007996) / np.sqrt(0.001999) + 1e-8)
    assert w.item() == pytest.approx(1 + step1 + step2, rel=1e-12)
    assert opt.state[w]["step"].item() == 2.0
    algo.update(agent, opt, rollout)  # and again: each group's state moved by its own steps only
    assert opt.state[theta]["step"].item() == 2.0 and opt.state[w]["step"].item() == 4.0


def test_clipping_sees_only_the_stepped_parameters() -> None:
    # SGD, max_grad_norm 1: the policy step clips (−1, 1) by 1/(√2 + 1e-6) (not by the norm √6 of
    # θ's and w's gradients together); each value step clips −2 by 1/(2 + 1e-6)
    algo, agent, opt, rollout = one_step_setup("sgd", max_grad_norm=1.0)
    algo.update(agent, opt, rollout)
    coef = 1 / (np.sqrt(2) + 1e-6)
    assert agent.policy.theta.detach().tolist() == pytest.approx([0.1 * coef, -0.1 * coef], rel=1e-12)
    assert agent.value.w.item() == pytest.approx(1 + 2 * 0.5 * 2 / (2 + 1e-6), rel=1e-12)


def test_the_compiled_step_steps_the_same_groups() -> None:
    """The function the compiled step compiles (run here as it is, without inductor: one graph
    serves every batch, the groups being an input, so pgzoo's compiled tests cover its
    compilation) takes the eager steps, groups, clipping and Adam's state included."""
    import gymnasium as gym

    from pgzoo.engine.compiled import CompiledStep, _fields
    from pgzoo.spaces import EnvSpec

    spec = EnvSpec("test", gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2))
    runs = []
    for compiled in (False, True):
        algo = Phases(Phases.make_config(overrides={"optimizer": "adam", "policy": "mlp", "value": "mlp",
                                                    "hidden_sizes": (4,), "max_grad_norm": 0.5,
                                                    "anneal": {"coef": "linear"}}))
        torch.manual_seed(0)
        agent = algo.build_agent(spec, torch.float64)
        opt = algo.make_optimizer(agent)
        step = CompiledStep(algo, agent, opt) if compiled else None
        g = torch.Generator().manual_seed(1)
        for k in range(2):
            rollout = Rollout(torch.randn(2, 2, 3, generator=g, dtype=torch.float64), torch.tensor([[0, 1], [1, 1]]),
                              torch.randn(2, 2, generator=g, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.bool),
                              torch.ones(2, 2, dtype=torch.bool), torch.zeros(2, 2, 3, dtype=torch.float64),
                              torch.zeros(2, 2, dtype=torch.long), progress=torch.tensor(0.3 * k, dtype=torch.float64))
            if step is None:
                algo.update(agent, opt, rollout)
                continue
            for batch in algo.update_batches(rollout):  # what CompiledStep._run hands its graph
                fields, values = _fields(batch)
                keys = tuple(step.module(batch)[1])
                flat = [*step._inputs(), *step._step_sizes(), step._live(batch.groups), *values]
                with torch.no_grad():
                    ok, *_ = step._make_step(fields, keys, False)(flat)
                assert ok
        runs.append((agent, opt))
    (eager, eager_opt), (comp, comp_opt) = runs
    for (name, p), q in zip(comp.named_parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14, msg=name)
        for key in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(comp_opt.state[p][key].double(), eager_opt.state[q][key].double(),
                                       rtol=1e-12, atol=1e-15)
        assert comp_opt.state[p]["step"].item() == (2.0 if name.startswith("policy.") else 4.0)


def test_a_batch_naming_a_group_the_agent_lacks_is_one_error() -> None:
    with pytest.raises(RolloutError, match="distinct groups among"):
        Rollout.from_transition([0.0], 0, 1.0, False, False, [0.0], 0).stepping("critic")
    class ValueFirst(Phases):
        def update_batches(self, rollout, generator=None):
            yield rollout.stepping("value")

    _, agent, opt, rollout = one_step_setup("sgd")
    with pytest.raises(RolloutError, match="no value function"):  # before the loss runs
        ValueFirst(ValueFirst.make_config()).update(Agent(agent.policy), opt, rollout)


class Recorder(TrainLogger):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, float]] = []

    def on_update(self, env_steps, terms) -> None:
        self.seen.append((env_steps, terms["progress"]))


@pytest.mark.parametrize("budget", [{"total_steps": 60}, {"total_episodes": 4}])
def test_the_trainer_hands_the_fraction_of_the_budget_done_to_the_loss(budget) -> None:
    algo = Phases(Phases.make_config(overrides={"num_envs": 2, "rollout_steps": 5, "eval_episodes": 1, **budget}))
    log = Recorder()
    trainer = Trainer(algo, "CartPole-v1", seed=1, progress=False, dtype=torch.float64, logger=log)
    result = trainer.run()
    assert len(log.seen) >= 2
    if "total_steps" in budget:  # after segment k (10 env steps each): 10k / 60
        assert log.seen == [(10 * k, 10 * k / 60) for k in range(1, 7)]
    else:  # episodes that ended up to and including the segment's last step, over 4
        for steps, p in log.seen:
            done = sum(1 for e in result.episodes if e["env_steps"] <= steps)
            assert p == min(done, 4) / 4
        assert log.seen[-1][1] == 1.0


def test_verify_sees_progress_and_groups() -> None:
    ok = check(Phases, "annealed", Phases.verify_variants["annealed"], "random-0", random_case, 1000)
    assert ok.ok, ok

    class Unannealed(Phases):  # a book_update that ignores p: verify must catch it
        def book_update(self, case):
            return Phases.book_update(self.__class__(self.config.model_copy(update={"anneal": {}})), case)

    bad = check(Unannealed, "annealed", Phases.verify_variants["annealed"], "random-0", random_case, 1000)
    assert not bad.ok and bad.max_abs_diff > 1e-3

    class AllSteps(Phases):  # the workaround the contract replaces: every batch steps everything
        def update_batches(self, rollout, generator=None):
            for batch in Phases.update_batches(self, rollout, generator):
                yield batch.stepping()

    assert not check(AllSteps, "annealed", Phases.verify_variants["annealed"], "random-0", random_case, 1000).ok


@pytest.mark.parametrize("budget", [{"total_steps": 120}, {"total_episodes": 5}])
def test_a_population_steps_the_same_groups_at_the_same_progress(budget) -> None:
    algo = Phases(Phases.make_config(overrides={
        "num_envs": 2, "rollout_steps": 3, "eval_episodes": 1, "optimizer": "adam", "max_grad_norm": 0.3,
        "lr_schedule": "linear", "anneal": {"coef": "linear"}, "alpha_theta": 0.01, "alpha_w": 0.01, **budget}))
    pop = Population(algo, "CartPole-v1", (0, 1), dtype=torch.float64).run()
    pop.check()
    for r, seed in enumerate((0, 1)):
        alone = Trainer(algo, "CartPole-v1", seed, progress=False, dtype=torch.float64).run()
        assert [e["return"] for e in alone.episodes] == pop.episode_returns[r].tolist()
        for name, p in alone.agent.named_parameters():
            torch.testing.assert_close(pop.params[name][r], p.detach(), rtol=1e-9, atol=1e-12)


def test_anneal_is_for_settings_the_algorithm_marks() -> None:
    cfg = Phases.make_config(overrides={"coef": 0.2, "anneal": {"coef": "linear"}})
    assert annealed(cfg, "coef", 0.25) == pytest.approx(0.15)
    assert annealed(cfg, "coef", None) == 0.2  # no progress (outside the engine): the start
    assert float(annealed(cfg, "coef", torch.tensor(1.5, dtype=torch.float64))) == 0.0  # capped to [0, 1]
    assert annealed(cfg, "gamma", 0.5) == cfg.gamma  # not annealed
    with pytest.raises(UsageError, match=r"anneal: 'gamma' is not a setting this algorithm anneals; annealable: coef"):
        Phases.make_config(overrides={"anneal": {"gamma": "linear"}})
    with pytest.raises(UsageError, match="step sizes follow lr_schedule"):
        Phases.make_config(overrides={"anneal": {"alpha_theta": "linear"}})
    assert budget_fraction(30, 2, 60, None) == 0.5 and budget_fraction(30, 2, 60, 4) == 0.5
    assert budget_fraction(70, 0, 60, None) == 1.0
