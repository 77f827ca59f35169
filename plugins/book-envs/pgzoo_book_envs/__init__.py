"""Environments of Sutton & Barto's chapter 13, registered with gymnasium through pgzoo."""

from __future__ import annotations

from pgzoo import hookimpl


@hookimpl
def register_envs(register) -> None:
    # Episodes under p ≈ 0 or 1 can be endless (Example 13.1): a generous cap, overridable.
    register("ShortCorridor-v0", entry_point="pgzoo_book_envs.short_corridor:ShortCorridorEnv",
             max_episode_steps=1000)
    # Example 10.2: a continuing task (never terminates, no time limit).
    register("AccessControl-v0", entry_point="pgzoo_book_envs.access_control:AccessControlEnv")
