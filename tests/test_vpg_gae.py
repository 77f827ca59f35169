"""The VPG-with-GAE example (examples/vpg_gae.py) against the plugin contract with no workaround:
the conformance kit, one update by hand, and the workaround the contract replaces failing verify."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from pgzoo.book.verify import verify
from pgzoo.registry import Provenance, get_registry
from pgzoo.testing import AlgorithmConformance, one_step_by_hand

_spec = importlib.util.spec_from_file_location("vpg_gae", Path(__file__).parents[1] / "examples" / "vpg_gae.py")
vpg_gae = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vpg_gae)
VPG = vpg_gae.VPG


class TestVPG(AlgorithmConformance):
    algorithm = "vpg-gae"
    learn_overrides = {"total_episodes": 150, "rollout_episodes": 2, "value": "scalar", "gamma": 1.0,
                       "alpha_theta": 0.05, "alpha_w": 0.2, "value_steps": 5, "gae_lambda": 1.0,
                       "init_theta": (-math.log(19), 0.0)}
    learn_threshold = -30.0  # from J ≈ −82 (π(right) = 0.05)
    population_overrides = {"total_episodes": 4, "rollout_episodes": 1, "eval_episodes": 1, "value_steps": 3,
                            "value": "scalar"}
    determinism_overrides = {**AlgorithmConformance.determinism_overrides, "value_steps": 3}

    @pytest.fixture(autouse=True)
    def _registered(self, monkeypatch):  # as its entry point would register it
        reg = get_registry()
        monkeypatch.setitem(reg.algorithms, "vpg-gae", VPG)
        monkeypatch.setitem(reg.algorithm_origin, "vpg-gae", Provenance("vpg-gae", "vpg-gae-example", "0"))


def test_one_policy_step_then_k_value_steps_by_hand() -> None:
    # θ = 0, v̂ = w = 0, one step A = 0, R = 1, terminated: Â = 1, R̂ = 1. SGD α^θ = 1, α^w = 0.5, k = 3:
    # θ ← θ + Â ∇ln π(0) = (½, −½) once (not k + 1 times); w ← w + 0.5(1 − w): 0.5, 0.75, 0.875
    algo = VPG(VPG.make_config(overrides={"alpha_theta": 1.0, "alpha_w": 0.5, "value_steps": 3, "value": "scalar",
                                          "optimizer": "sgd"}))
    agent, rollout = one_step_by_hand(reward=1.0, w=0.0)
    terms = algo.update(agent, algo.make_optimizer(agent), rollout)
    assert agent.policy.theta.detach().tolist() == pytest.approx([0.5, -0.5], abs=1e-15)
    assert agent.value.w.item() == pytest.approx(0.875, abs=1e-15)
    assert terms["optimizer_steps"] == 4.0


def test_the_old_workaround_fails_verify() -> None:
    class Workaround(VPG):  # every batch steps everything: θ takes k + 1 steps
        def update_batches(self, rollout, generator=None):
            for batch in VPG.update_batches(self, rollout, generator):
                yield batch.stepping()

    assert all(r.ok for r in verify({"vpg-gae": VPG}, n_random=1))
    assert not any(r.ok for r in verify({"vpg-gae": Workaround}, n_random=1) if r.variant == "n4-k3")
