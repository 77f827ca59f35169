"""Memory bounds checked before any work starts, where a setting could exhaust the machine."""

from __future__ import annotations

import copy
import os
from typing import Any

from pgzoo.errors import UsageError

MEMORY_FRACTION = 0.5
"""Refuse a run whose estimated memory exceeds this share of the machine's RAM."""


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine in bytes (``None`` where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(need_bytes: int, what: str, hint: str = "") -> None:
    """A one-line :class:`UsageError` if ``need_bytes`` is more than :data:`MEMORY_FRACTION` of the
    machine's memory; ``what`` names what needs it (e.g. "eligibility traces of 4096 envs")."""
    total = machine_memory_bytes()
    if total is None or need_bytes <= MEMORY_FRACTION * total:
        return
    gb = 1024**3
    raise UsageError(f"{what} need about {need_bytes / gb:.1f} GB of memory, more than {MEMORY_FRACTION:.0%} of "
                     f"this machine's {total / gb:.1f} GB{'; ' + hint if hint else ''}")


def check_loss_state_memory(algo: Any, agent: Any) -> None:
    """Check the memory of the state ``algo``'s loss keeps per environment (eligibility traces:
    one copy of the parameters per environment, and as much again for one step's per-environment
    gradients) for ``algo.config.num_envs`` environments, before any of it is allocated."""
    loss = copy.deepcopy(algo.loss)
    loss.init_state(agent, 1)
    per_env = sum(b.numel() * b.element_size() for b in loss.buffers())
    n = algo.config.num_envs
    check_memory(2 * per_env * n, f"the per-environment state of '{algo.name}' ({n} envs)",
                 "lower num_envs or the network size")
