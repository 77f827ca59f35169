"""The update batches of a population's runs, queued per run (:class:`UpdateQueue`).

A finished rollout is split into its update batches (:func:`stacked_batches`: the algorithm's
``update_batches``, stacked ``[K, *batch]`` when they share one shape), queued per run, and
popped one batch per run and round, so that every run takes its optimiser steps in its own
order while runs whose batches share a shape are updated by one batched call. Rollouts travel
as flat dicts of tensors (:data:`Fields`).
"""

from __future__ import annotations

import numpy as np
import torch

from pgzoo.algorithm import Algorithm, MonteCarloAlgorithm
from pgzoo.returns import discounted_returns
from pgzoo.rollout import GROUPS, Rollout

Fields = dict[str, torch.Tensor]
"""A rollout as a flat dict of its tensors: fields by name, extras as ``extras.NAME``, no ``None``;
``progress`` a 0-d tensor, ``groups`` (:attr:`Rollout.groups`) a bool mask over :data:`~pgzoo.rollout.GROUPS`."""


def to_fields(rollout: Rollout) -> Fields:
    """``rollout`` as a flat dict of tensors (see :data:`Fields`)."""
    out = {f: getattr(rollout, f) for f in ("obs", "actions", "rewards", "terminated", "truncated", "next_obs", "t",
                                            "returns", "progress") if getattr(rollout, f) is not None}
    if rollout.groups is not None:
        out["groups"] = torch.tensor([g in rollout.groups for g in GROUPS])
    return {**out, **{f"extras.{k}": v for k, v in rollout.extras.items()}}


def from_fields(fields: Fields) -> Rollout:
    """The :class:`~pgzoo.Rollout` of a flat dict made by :func:`to_fields`, without its ``groups``
    (which the caller takes out first: :func:`groups_of`)."""
    extras = {k.removeprefix("extras."): v for k, v in fields.items() if k.startswith("extras.")}
    return Rollout(**{k: v for k, v in fields.items() if not k.startswith("extras.") and k != "groups"},
                   extras=extras)


def groups_of(mask: torch.Tensor) -> tuple[str, ...] | None:
    """The :attr:`Rollout.groups` of one batch's ``groups`` mask (``None`` when it names all)."""
    named = tuple(g for g, on in zip(GROUPS, mask.tolist(), strict=True) if on)
    return None if len(named) == len(GROUPS) else named


def stacked_batches(algo: Algorithm, rollout: Rollout, generator: torch.Generator
                    ) -> tuple[tuple, Fields] | list[Fields]:
    """The update batches of one prepared rollout, stacked ``[K, *batch]`` if they share one shape.

    Returns (shape key, stacked fields) or, if shapes differ, the list of batches. The book's
    sequential Monte-Carlo split (one batch per time step) is stacked without materialising
    the T one-step rollouts.
    """
    if type(algo).update_batches is MonteCarloAlgorithm.update_batches and algo.config.sequential:
        ep = rollout.replace(returns=discounted_returns(rollout.rewards, rollout.done, algo.config.gamma))
        stacked = {f: v.unsqueeze(1) if f != "progress" else v.expand(ep.num_steps) for f, v in to_fields(ep).items()}
    else:
        batches = [to_fields(b) for b in algo.update_batches(rollout, generator)]
        if len(batches) == 1:  # one batch (the whole rollout): its key, and the batch as a stack of one
            return shape_key(batches[0]), {f: v.unsqueeze(0) for f, v in batches[0].items()}
        keys = {shape_key(b) for b in batches}
        if len(keys) != 1:
            return batches
        stacked = {f: torch.stack([b[f] for b in batches]) for f in batches[0]}
    return shape_key({f: v[0] for f, v in stacked.items()}), stacked


def shape_key(fields: Fields) -> tuple:
    """What batches must share to be stacked or updated together: each field's name, shape, dtype."""
    return tuple((f, tuple(v.shape), v.dtype) for f, v in fields.items())


class UpdateQueue:
    """Per-run FIFO of update batches: a stacked store for the common shape, lists otherwise."""

    def __init__(self, runs: int) -> None:
        self.key: tuple | None = None
        self.store: Fields = {}
        self.head = np.zeros(runs, dtype=np.int64)
        self.tail = np.zeros(runs, dtype=np.int64)
        self.lists: list[list[Fields]] = [[] for _ in range(runs)]
        self.list_len = np.zeros(runs, dtype=np.int64)

    def empty(self) -> np.ndarray:
        return (self.head == self.tail) & (self.list_len == 0)

    def push(self, run: int, batches: tuple[tuple, Fields] | list[Fields]) -> None:
        if isinstance(batches, tuple) and self.list_len[run] == 0 and self.key in (None, batches[0]):
            key, stacked = batches
            if self.key is None:
                self.key = key
                self.store = {f: v.new_zeros((len(self.head), 64, *v.shape[1:])) for f, v in stacked.items()}
            k, start = len(stacked["rewards"]), int(self.tail[run])
            cap = self.store["rewards"].shape[1]
            if start + k > cap:
                grow = max(cap, start + k - cap)
                self.store = {f: torch.cat([v, v.new_zeros((v.shape[0], grow, *v.shape[2:]))], 1)
                              for f, v in self.store.items()}
            for f, v in stacked.items():
                self.store[f][run, start:start + k] = v
            self.tail[run] += k
            return
        if isinstance(batches, tuple):
            _, stacked = batches
            batches = [{f: v[i] for f, v in stacked.items()} for i in range(len(stacked["rewards"]))]
        self.lists[run].extend(batches)
        self.list_len[run] = len(self.lists[run])

    def push_many(self, runs: np.ndarray, fields: Fields) -> bool:
        """Queue one batch (``fields[f][j]``) for each of ``runs`` with one write per field, when
        each of them has only stored batches of this shape queued; ``False`` (nothing queued) if not."""
        key = shape_key({f: v[0] for f, v in fields.items()})
        if (self.key is not None and self.key != key) or self.list_len[runs].any():
            return False
        if self.key is None:
            self.key = key
            self.store = {f: v.new_zeros((len(self.head), 64, *v.shape[1:])) for f, v in fields.items()}
        if int(self.tail[runs].max()) >= self.store["rewards"].shape[1]:
            self.store = {f: torch.cat([v, torch.zeros_like(v)], 1) for f, v in self.store.items()}
        rt, pos = torch.from_numpy(runs), torch.from_numpy(self.tail[runs])
        for f, v in fields.items():
            self.store[f][rt, pos] = v
        self.tail[runs] += 1
        return True

    def drop(self, run: int) -> None:
        """Forget the queued batches of ``run`` (a run that stopped)."""
        self.head[run] = self.tail[run] = 0
        self.lists[run], self.list_len[run] = [], 0

    def pop_stored(self) -> tuple[np.ndarray, Fields] | None:
        """One batch from the store for every run that has one: (runs, fields ``[k, *batch]``)."""
        runs = np.flatnonzero(self.tail > self.head)
        if not len(runs):
            return None
        rt, pos = torch.from_numpy(runs), torch.from_numpy(self.head[runs])
        fields = {f: v[rt, pos] for f, v in self.store.items()}
        self.head[runs] += 1
        drained = runs[self.head[runs] == self.tail[runs]]
        self.head[drained] = self.tail[drained] = 0
        return runs, fields

    def pop_listed(self, skip: np.ndarray) -> list[tuple[np.ndarray, Fields]]:
        """One listed batch for every run with one and not in ``skip``, grouped by shape."""
        groups: dict[tuple, list[tuple[int, Fields]]] = {}
        for r in np.flatnonzero((self.list_len > 0) & ~skip):
            b = self.lists[r].pop(0)
            self.list_len[r] -= 1
            groups.setdefault(shape_key(b), []).append((int(r), b))
        return [(np.array([r for r, _ in members]), {f: torch.stack([b[f] for _, b in members]) for f in members[0][1]})
                for members in groups.values()]
