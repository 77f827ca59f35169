"""Population training reproduces, run for run, what each seed gives trained alone."""

from __future__ import annotations

import pytest
import torch

from pgzoo.engine.population import Population, population_blocker
from pgzoo.engine.population_check import check_population_matches_single_runs
from pgzoo.engine.trainer import Trainer
from pgzoo.registry import get_registry

BUILT_IN = ["reinforce", "reinforce-baseline", "actor-critic", "actor-critic-traces"]
SEEDS = (0, 1, 2)



def _assert_population_matches_single(name: str, env_id: str, overrides: dict, seeds=SEEDS) -> None:
    blocker = check_population_matches_single_runs(name, env_id, overrides, seeds)
    if blocker:
        pytest.skip(blocker)


@pytest.mark.parametrize("name", BUILT_IN)
def test_book_setting_matches_single_runs(name: str) -> None:
    """ShortCorridor, the book's plain SGD and sequential updates, episodes of varying length."""
    _assert_population_matches_single(name, "ShortCorridor-v0", {"total_episodes": 4, "eval_episodes": 1})


@pytest.mark.parametrize("name", BUILT_IN)
def test_mlp_adam_several_envs_match_single_runs(name: str) -> None:
    """CartPole, MLPs, Adam, two environments per run, a step budget."""
    overrides = {"policy": "mlp", "optimizer": "adam", "num_envs": 2, "total_steps": 240, "sequential": False,
                 "eval_episodes": 1}
    cls = get_registry().algorithm(name)
    if "sequential" not in cls.Config.model_fields:
        overrides.pop("sequential")
    if cls.uses_value:
        overrides["value"] = "mlp"
    _assert_population_matches_single(name, "CartPole-v1", overrides)


@pytest.mark.parametrize("name", ["actor-critic", "actor-critic-traces"])
def test_gaussian_policies_match_single_runs(name: str) -> None:
    """Pendulum (continuous actions, a Gaussian policy), the plugins' Pendulum-v1 defaults."""
    _assert_population_matches_single(name, "Pendulum-v1", {"num_envs": 2, "total_steps": 300, "eval_episodes": 1},
                                      seeds=(0, 1))


def test_a_stateful_loss_is_copied_not_changed() -> None:
    """Eligibility traces are state of the loss, kept per run in the population; the
    algorithm's own loss module is left as it was (no traces created in it)."""
    cls = get_registry().algorithm("actor-critic-traces")
    algo = cls(cls.make_config("ShortCorridor-v0", {"total_episodes": 2}))
    assert population_blocker(algo) is None
    pop = Population(algo, "ShortCorridor-v0", SEEDS, dtype=torch.float64).run()
    assert not [b for b in algo.loss.buffers()]  # the population worked on a copy of the loss
    assert pop.params["policy.theta"].shape[0] == len(SEEDS)


def test_runs_end_their_episodes_at_different_times() -> None:
    cls = get_registry().algorithm("reinforce")
    algo = cls(cls.make_config("ShortCorridor-v0", {"total_episodes": 4}))
    pop = Population(algo, "ShortCorridor-v0", SEEDS, dtype=torch.float64).run()
    ends = {tuple(lengths.cumsum()) for lengths in pop.episode_lengths}
    assert len(ends) == len(SEEDS)


def test_any_installed_algorithm_matches_or_declares_why_not() -> None:
    """Every installed algorithm either trains as a population exactly or names its blocker."""
    for name, cls in sorted(get_registry().algorithms.items()):
        if name in BUILT_IN:
            continue
        algo = cls(cls.make_config("ShortCorridor-v0", {"total_episodes": 3}))
        if population_blocker(algo) is None and "discrete" in cls.action_spaces:
            _assert_population_matches_single(name, "ShortCorridor-v0", {"total_episodes": 3, "eval_episodes": 1},
                                              seeds=(0, 1))


def test_members_with_different_step_sizes_match_their_single_runs() -> None:
    cls = get_registry().algorithm("reinforce")
    algos = [cls(cls.make_config("ShortCorridor-v0", {"total_episodes": 5, "eval_episodes": 1,
                                                                  "alpha_theta": 2.0**-k}))
             for k in (8, 10)]
    pop = Population(algos, "ShortCorridor-v0", (5, 5), dtype=torch.float64).run()
    for r, algo in enumerate(algos):
        alone = Trainer(algo, "ShortCorridor-v0", 5, progress=False, dtype=torch.float64).run()
        torch.testing.assert_close(pop.params["policy.theta"][r], alone.agent.policy.theta.detach())
    assert not torch.equal(pop.params["policy.theta"][0], pop.params["policy.theta"][1])


def test_snapshots_are_the_parameters_after_that_episode() -> None:
    cls = get_registry().algorithm("reinforce")
    short = cls(cls.make_config("ShortCorridor-v0", {"total_episodes": 3}))
    full = cls(cls.make_config("ShortCorridor-v0", {"total_episodes": 6}))
    after3 = Population(short, "ShortCorridor-v0", SEEDS, dtype=torch.float64).run().params["policy.theta"]
    pop = Population(full, "ShortCorridor-v0", SEEDS, dtype=torch.float64, snapshot_episodes=(3, 6)).run()
    torch.testing.assert_close(pop.snapshots[3]["policy.theta"], after3)
    torch.testing.assert_close(pop.snapshots[6]["policy.theta"], pop.params["policy.theta"])


def test_stop_on_truncation_ends_a_run_at_its_first_capped_episode() -> None:
    cls = get_registry().algorithm("reinforce")
    algo = cls(cls.make_config("ShortCorridor-v0", {"total_episodes": 5, "max_episode_steps": 6}))
    pop = Population(algo, "ShortCorridor-v0", SEEDS, snapshot_episodes=(5,), stop_on_truncation=True).run()
    for r in range(len(SEEDS)):
        cut = pop.episode_truncated[r]
        assert not cut[:-1].any() and (cut[-1] or len(cut) == 5)
    torch.testing.assert_close(pop.snapshots[5]["policy.theta"], pop.params["policy.theta"])
