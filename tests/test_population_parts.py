"""The parts of population training: stacked optimisers, batched environments, action streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pgzoo.engine.batched_envs import EnvList, make_batched_env
from pgzoo.engine.population import Population
from pgzoo.engine.stacked_optim import StackedAdam, StackedSGD, stacked_optimizer
from pgzoo.registry import get_registry
from pgzoo.sampling import ActionStream, sample_with


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_stacked_optimizer_matches_torch_and_masked_runs_keep_state(kind: str) -> None:
    torch.manual_seed(0)
    R, lrs = 3, [0.1, 0.01, 0.05]
    singles = [torch.nn.Parameter(torch.randn(4, dtype=torch.float64)) for _ in range(R)]
    make = torch.optim.Adam if kind == "adam" else torch.optim.SGD
    opts = [make([p], lr=lr) for p, lr in zip(singles, lrs, strict=True)]
    stacked = {"w": torch.stack([p.detach() for p in singles]).clone()}
    opt = stacked_optimizer(opts, {id(p): "w" for p in singles}, stacked)
    assert isinstance(opt, StackedAdam if kind == "adam" else StackedSGD)
    for step in range(6):
        active = [r for r in range(R) if (step + r) % 3]  # every run skips some steps
        grads = torch.randn(R, 4, dtype=torch.float64)
        for r in active:
            opts[r].zero_grad()
            singles[r].grad = grads[r].clone()
            opts[r].step()
        opt.step(torch.tensor(active), {"w": grads[active]})
        for r in range(R):
            torch.testing.assert_close(stacked["w"][r], singles[r].detach())


def test_short_corridor_batch_behaves_like_its_copies() -> None:
    batch = make_batched_env("ShortCorridor-v0", 4, max_episode_steps=7)
    assert not isinstance(batch, EnvList), "ShortCorridor-v0 offers a vectorised batch"
    copies = EnvList("ShortCorridor-v0", 4, max_episode_steps=7)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(batch.reset([1, 2, 3, 4]), copies.reset([1, 2, 3, 4]))
    for _ in range(60):
        idx = np.flatnonzero(rng.random(4) < 0.7)
        if not len(idx):
            continue
        actions = rng.integers(0, 2, len(idx))
        a, b = batch.step(idx, actions), copies.step(idx, actions)
        for f in ("obs", "reward", "terminated", "truncated", "final_obs"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_inverse_transform_sampling_has_the_right_frequencies() -> None:
    stream = ActionStream(0, 4000)
    dist = torch.distributions.Categorical(probs=torch.tensor([0.2, 0.0, 0.5, 0.3]).expand(4000, 4))
    counts = np.bincount(sample_with(dist, stream.next()).numpy(), minlength=4) / 4000
    np.testing.assert_allclose(counts, [0.2, 0.0, 0.5, 0.3], atol=0.03)
    normal = sample_with(torch.distributions.Normal(torch.full((4000,), 2.0), 3.0), stream.next())
    assert abs(float(normal.mean()) - 2.0) < 0.2 and abs(float(normal.std()) - 3.0) < 0.2


def test_members_must_differ_only_in_step_sizes() -> None:
    from pgzoo.errors import UsageError

    cls = get_registry().algorithm("reinforce")
    a = cls(cls.make_config("ShortCorridor-v0", {"gamma": 1.0}))
    b = cls(cls.make_config("ShortCorridor-v0", {"gamma": 0.9}))
    with pytest.raises(UsageError, match="step sizes"):
        Population([a, b], "ShortCorridor-v0", (0, 1))


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["sgd", "adam"]), seed=st.integers(0, 2**16),
       steps=st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=6))
def test_flat_step_equals_the_step_one_parameter_at_a_time(kind: str, seed: int, steps: list[list[bool]]) -> None:
    gen = torch.Generator().manual_seed(seed)
    R = 3
    shapes = {"a": (R, 2, 3), "b": (R,), "c": (R, 4)}
    init = {n: torch.randn(s, generator=gen) for n, s in shapes.items()}
    lr = {n: torch.tensor([0.1, 0.02, 0.3]) * (i + 1) for i, n in enumerate(shapes)}
    cls = StackedAdam if kind == "adam" else StackedSGD
    flat_params, each_params = {n: v.clone() for n, v in init.items()}, {n: v.clone() for n, v in init.items()}
    flat, each = cls(flat_params, {n: v.clone() for n, v in lr.items()}), cls(each_params, lr)
    each._flat = lambda idx, grads: None  # the per-parameter path, which the flat step must equal bit for bit
    for active in steps:
        idx = torch.tensor([r for r in range(R) if active[r]], dtype=torch.long)
        grads = {n: torch.randn(len(idx), *s[1:], generator=gen) * 10 for n, s in shapes.items()}
        flat.step(idx, grads)
        each.step(idx, grads)
        for n in shapes:
            assert torch.equal(flat_params[n], each_params[n]), n


def test_adam_skips_a_parameter_without_gradient_like_torch() -> None:
    # run 0 alone; parameter "b" has no gradient in step 2: torch's Adam leaves it (and its count) alone
    pa, pb = torch.nn.Parameter(torch.tensor([1.0, 2.0])), torch.nn.Parameter(torch.tensor([3.0]))
    ref = torch.optim.Adam([pa, pb], lr=0.1)
    params = {"a": pa.detach().clone()[None], "b": pb.detach().clone()[None]}
    opt = StackedAdam(params, {"a": torch.tensor([0.1]), "b": torch.tensor([0.1])})
    for grads in ({"a": torch.tensor([0.5, -1.0]), "b": torch.tensor([2.0])}, {"a": torch.tensor([1.0, 1.0])},
                  {"a": torch.tensor([-0.2, 0.3]), "b": torch.tensor([-1.0])}):
        ref.zero_grad(set_to_none=True)
        pa.grad = grads["a"].clone()
        if "b" in grads:
            pb.grad = grads["b"].clone()
        ref.step()
        opt.step(torch.tensor([0]), {n: g[None] for n, g in grads.items()})
        torch.testing.assert_close(params["a"][0], pa.detach())
        torch.testing.assert_close(params["b"][0], pb.detach())
