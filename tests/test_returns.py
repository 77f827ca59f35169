"""Returns, γᵗ weights and TD targets against closed forms."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pgzoo.returns import discount_weights, discounted_returns, discounted_returns_loop, td_targets


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


@settings(max_examples=300, deadline=None)
@given(
    rewards=st.lists(st.floats(-1e4, 1e4, allow_subnormal=False, width=32), min_size=1, max_size=40),
    ends=st.lists(st.booleans(), min_size=40, max_size=40),
    columns=st.integers(1, 3),
    gamma=st.sampled_from([1.0, 0.99, 0.9, 0.5, 0.0]) | st.floats(0.0, 1.0, allow_subnormal=False),
    float64=st.booleans(),
)
def test_returns_equal_the_plain_loop_bit_for_bit(rewards: list[float], ends: list[bool], columns: int, gamma: float,
                                                  float64: bool) -> None:
    # the C recursion (scipy.signal.lfilter) against the definition, episode ends anywhere
    dtype = torch.float64 if float64 else torch.float32
    T = len(rewards)
    r = torch.tensor(rewards, dtype=dtype)[:, None] * torch.arange(1, columns + 1, dtype=dtype)
    done = torch.tensor([ends[(t * columns + c) % 40] for t in range(T) for c in range(columns)]).reshape(T, columns)
    fast, loop = discounted_returns(r, done, gamma), discounted_returns_loop(r, done, gamma)
    assert fast.dtype == dtype and fast.shape == r.shape
    assert torch.equal(fast, loop)


def test_returns_of_several_episodes_in_columns_by_hand() -> None:
    # column 0: episodes [1, 2 | 3]; column 1: one episode [1, 1, 1]; γ = 0.5
    r = torch.tensor([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    done = torch.tensor([[False, False], [True, False], [True, True]])
    assert discounted_returns(r, done, 0.5).tolist() == [[2.0, 1.75], [2.0, 1.5], [3.0, 1.0]]
