"""The equivalence check of population training, shared by pgzoo's tests and the conformance suite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from pgzoo.engine.normalization import Normalization
from pgzoo.engine.population import Population, env_blocker, population_blocker
from pgzoo.engine.trainer import Trainer
from pgzoo.registry import get_registry


def check_population_matches_single_runs(name: str, env_id: str, overrides: dict[str, Any],
                                         seeds: Sequence[int] = (0, 1, 2)) -> str | None:
    """Train ``seeds`` of algorithm ``name`` as one population and each alone (float64).

    Raises ``AssertionError`` unless every member's episodes and final parameters equal (to
    float tolerance) those of its seed trained by :class:`pgzoo.Trainer`. Returns the reason
    instead when the algorithm or the environment cannot be trained as a population (see
    :func:`pgzoo.engine.population.population_blocker` and :func:`~pgzoo.engine.population.env_blocker`),
    and ``None`` when the check passed.
    """
    cls = get_registry().algorithm(name)
    algo = cls(cls.make_config(env_id, overrides))
    cfg = algo.config
    blocker = population_blocker(algo) or env_blocker(env_id, cfg.max_episode_steps, Normalization.of(cfg))
    if blocker:
        return blocker
    pop = Population(algo, env_id, seeds, dtype=torch.float64).run()
    pop.check()
    for r, seed in enumerate(seeds):
        alone = Trainer(algo, env_id, seed, progress=False, dtype=torch.float64).run()
        assert [e["return"] for e in alone.episodes] == pop.episode_returns[r].tolist(), f"seed {seed}: episodes"
        assert [e["length"] for e in alone.episodes] == pop.episode_lengths[r].tolist(), f"seed {seed}: lengths"
        for pname, p in alone.agent.named_parameters():
            torch.testing.assert_close(pop.params[pname][r], p.detach(), rtol=1e-9, atol=1e-12,
                                       msg=lambda m, n=pname, s=seed: f"seed {s}, {n}: {m}")
    return None
