"""Seeding: one seed gives the torch stream and disjoint training / evaluation env seeds."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from pgzoo.errors import UsageError


@dataclass(frozen=True)
class Seeds:
    """Seeds derived from one run seed. Training and evaluation env seeds never overlap."""

    torch: int
    train_envs: tuple[int, ...]
    eval_envs: tuple[int, ...]


def derive_seeds(seed: int, num_envs: int, num_eval: int) -> Seeds:
    """Spawn independent streams from ``seed`` (NumPy ``SeedSequence``) for each purpose.

    Raises :class:`UsageError` unless ``seed`` is a non-negative integer.
    """
    check_seed(seed)
    torch_ss, train_ss, eval_ss = np.random.SeedSequence(seed).spawn(3)
    train = [int(x) for x in train_ss.generate_state(num_envs, dtype=np.uint32)]
    evals = [int(x) for x in eval_ss.generate_state(num_eval + num_envs, dtype=np.uint32)]
    evals = [x for x in evals if x not in set(train)][:num_eval]
    return Seeds(int(torch_ss.generate_state(1, dtype=np.uint32)[0]), tuple(train), tuple(evals))


def check_seed(seed: object, where: str = "seed") -> None:
    """A one-line :class:`UsageError` unless ``seed`` is a non-negative integer (what
    ``SeedSequence`` takes)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise UsageError(f"{where} must be a non-negative integer (got {seed!r})")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def update_seed(torch_seed: int) -> int:
    """The seed of a run's update generator (minibatch shuffles and other draws an algorithm makes
    in ``update_batches``), derived from and independent of its torch seed."""
    return int(np.random.SeedSequence([torch_seed, 0x0bda7e]).generate_state(1, dtype=np.uint64)[0] >> 1)
