"""The founding question: SGD on the surrogate equals the update rule."""

import torch

from pgzoo.features import StateActionTable
from pgzoo.losses import direction_loss, surrogate, total_loss
from pgzoo.policies import LinearSoftmaxPolicy


def test_surrogate_step_is_alpha_c_grad_g() -> None:
    theta = torch.tensor([0.3, -0.7], requires_grad=True)
    c = torch.tensor(2.5, requires_grad=True)  # even a C that carries a graph is held constant
    g = (theta**2).sum()  # ∇g = 2θ
    surrogate(c * 1.0, g).backward()
    assert torch.allclose(theta.grad, -2.5 * 2 * theta.detach())
    assert c.grad is None


def test_direction_loss_writes_minus_v_into_the_gradient() -> None:
    theta = torch.tensor([1.0, 2.0], requires_grad=True)
    v = torch.tensor([0.5, -3.0])
    direction_loss([theta], [v]).backward()
    assert torch.equal(theta.grad, -v)
    opt = torch.optim.SGD([theta], lr=0.1)
    opt.step()
    assert torch.allclose(theta.detach(), torch.tensor([1.05, 1.7]))


def test_total_loss_sums_only_loss_terms() -> None:
    terms = {"loss_a": torch.tensor(1.0), "loss_b": torch.tensor(2.0), "diag": torch.tensor(100.0)}
    assert total_loss(terms).item() == 3.0


def test_linear_softmax_eligibility_is_eq_13_9() -> None:
    g = torch.Generator().manual_seed(0)
    table = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    policy = LinearSoftmaxPolicy(StateActionTable(table)).double()
    with torch.no_grad():
        policy.theta.copy_(torch.randn(5, generator=g, dtype=torch.float64))
    s, a = 2, 1
    obs = torch.eye(4, dtype=torch.float64)[s]
    policy.log_prob(obs, torch.tensor(a)).backward()
    pi = torch.softmax(table[s] @ policy.theta.detach(), 0)
    assert torch.allclose(policy.theta.grad, table[s, a] - pi @ table[s])


def test_entropy_bonus_term_only_when_asked() -> None:
    from torch.distributions import Categorical

    from pgzoo.losses import policy_loss_terms

    dist = Categorical(logits=torch.zeros(3, 2))
    actions, coef = torch.tensor([0, 1, 1]), torch.ones(3)
    assert set(policy_loss_terms(dist, actions, coef)) == {"loss_policy"}
    terms = policy_loss_terms(dist, actions, coef, entropy_coef=0.1)
    assert torch.isclose(terms["loss_entropy"], torch.tensor(-0.1 * 3 * 0.6931471805599453))
