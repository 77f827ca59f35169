"""Returns, γᵗ weights and TD targets against closed forms."""

import torch

from pgzoo.returns import discount_weights, discounted_returns, td_targets


def test_returns_of_0_0_1_with_gamma_half() -> None:
    G = discounted_returns(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([False, False, True]), 0.5)
    assert G.tolist() == [0.25, 0.5, 1.0]


def test_returns_restart_after_an_episode_end() -> None:
    r = torch.tensor([[1.0], [1.0], [1.0], [1.0]])
    done = torch.tensor([[False], [True], [False], [True]])
    assert discounted_returns(r, done, 0.5)[:, 0].tolist() == [1.5, 1.0, 1.5, 1.0]


def test_gamma_t_weights() -> None:
    assert discount_weights(torch.arange(4), 0.5).tolist() == [1.0, 0.5, 0.25, 0.125]
    assert discount_weights(torch.tensor([0, 7]), 1.0).tolist() == [1.0, 1.0]


def test_td_targets_truncation_bootstraps_termination_does_not() -> None:
    v_next = torch.tensor([10.0, 10.0, 10.0], requires_grad=True)
    targets = td_targets(torch.tensor([1.0, 1.0, 1.0]), v_next, torch.tensor([False, True, False]), 0.9)
    assert targets.tolist() == [10.0, 1.0, 10.0]  # continuing, terminated, truncated (not terminal)
    assert not targets.requires_grad
