"""``pgzoo verify`` catches a loss that does not match its box."""

from pgzoo.book.verify import verify
from pgzoo.losses import surrogate
from pgzoo.registry import get_algorithm
from pgzoo.returns import episode_returns


def test_a_loss_without_gamma_t_fails_against_the_book() -> None:
    base = get_algorithm("reinforce")

    class ForgotGammaT(base.Loss):
        def forward(self, policy, value, rollout):  # drops γᵗ although discount_actor is on
            G = episode_returns(rollout, self.config.gamma)
            return {"loss_policy": surrogate(G, policy(rollout.obs).log_prob(rollout.actions))}

    class Wrong(base):
        Loss = ForgotGammaT

    results = verify({"wrong": Wrong})
    by_variant = {}
    for r in results:
        by_variant.setdefault(r.variant, []).append(r.ok)
    assert not any(by_variant["sequential"]) and not any(by_variant["batched"])
    assert all(by_variant["no-gamma-t"])  # where the box has no γᵗ either, it agrees


def test_a_critic_that_differentiates_its_target_fails() -> None:
    base = get_algorithm("actor-critic")

    class FullGradient(base.Loss):
        def forward(self, policy, value, rollout):
            cfg = self.config
            v, v_next = value(rollout.obs), value(rollout.next_obs)  # gradient flows into v̂(S′)
            delta = rollout.rewards + cfg.gamma * (~rollout.terminated) * v_next - v
            terms = super().forward(policy, value, rollout)
            terms["loss_value"] = 0.5 * (delta**2).sum()
            return terms

    class Wrong(base):
        Loss = FullGradient

    assert not all(r.ok for r in verify({"wrong": Wrong}))
