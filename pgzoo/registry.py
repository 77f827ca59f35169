"""Finds plugins through the ``pgzoo`` entry-point group and collects what they register."""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import pluggy

from pgzoo import hookspecs
from pgzoo.errors import PluginError, UsageError

ENTRY_POINT_GROUP = "pgzoo"
QUIET_PLUGINS_ENV = "PGZOO_QUIET_PLUGINS"
"""Set (to 1) in bench workers: the bench process has already warned about broken plugins."""


@dataclass(frozen=True)
class Provenance:
    """Which installed distribution a plugin came from."""

    plugin: str
    dist: str
    version: str

    def __str__(self) -> str:
        return f"{self.dist} {self.version}"


@dataclass
class Registry:
    """Everything the installed plugins registered, and what went wrong while loading them."""

    algorithms: dict[str, type] = field(default_factory=dict)
    algorithm_origin: dict[str, Provenance] = field(default_factory=dict)
    envs: dict[str, Provenance] = field(default_factory=dict)
    baselines: dict[str, type] = field(default_factory=dict)
    baseline_origin: dict[str, Provenance] = field(default_factory=dict)
    conflicts: dict[str, list[Provenance]] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)

    def algorithm(self, name: str) -> type:
        """The algorithm class called ``name``, or a one-line :class:`UsageError`."""
        if name in self.conflicts:
            who = " and ".join(str(p) for p in self.conflicts[name])
            raise UsageError(f"algorithm '{name}' is registered by both {who}; uninstall one of them")
        if name not in self.algorithms:
            known = ", ".join(sorted(self.algorithms)) or "none installed"
            raise UsageError(f"unknown algorithm '{name}' (known: {known})")
        return self.algorithms[name]

    def baseline(self, name: str) -> type:
        if name not in self.baselines:
            raise UsageError(f"unknown baseline '{name}' (known: {', '.join(sorted(self.baselines)) or 'none'})")
        return self.baselines[name]


def _warn(message: str) -> None:
    print(f"pgzoo: warning: {message}", file=sys.stderr)


def _one_line(err: BaseException) -> str:
    if isinstance(err, SystemExit):
        return f"SystemExit: the plugin called sys.exit({err.code!r})"
    text = f"{type(err).__name__}: {err}".strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_registry(strict: bool | None = None, quiet: bool = False) -> Registry:
    """Import every ``pgzoo`` entry point and call its ``register_*`` hooks.

    A plugin that fails to import or register is skipped and recorded in
    ``Registry.errors`` (with a one-line warning on stderr unless ``quiet``); with
    ``strict`` (default: ``PGZOO_STRICT_PLUGINS=1``) the failure is raised instead.
    """
    if strict is None:
        strict = os.environ.get("PGZOO_STRICT_PLUGINS", "") not in ("", "0")
    quiet = quiet or os.environ.get(QUIET_PLUGINS_ENV, "") not in ("", "0")
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    reg = Registry()
    origins: dict[int, Provenance] = {}

    def fail(prov: Provenance, what: str, err: BaseException) -> None:
        if strict:
            raise PluginError(f"plugin '{prov.plugin}' ({prov}) failed to {what}: {_one_line(err)}") from err
        reg.errors.append({"plugin": prov.plugin, "dist": prov.dist, "version": prov.version,
                           "stage": what, "error": _one_line(err)})
        if not quiet:
            _warn(f"plugin '{prov.plugin}' ({prov}) failed to {what} and was skipped: {_one_line(err)}")

    seen: set[tuple[str, str]] = set()
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        prov = Provenance(ep.name, dist.name if dist else "?", dist.version if dist else "?")
        if (prov.dist, ep.name) in seen:  # the same distribution seen twice on sys.path
            continue
        seen.add((prov.dist, ep.name))
        try:
            module = ep.load()
            pm.register(module, name=f"{prov.dist}:{ep.name}")
        except (Exception, SystemExit) as e:  # any failure of one plugin (even sys.exit) must not take the CLI down
            fail(prov, "import", e)
            continue
        origins[id(module)] = prov

    def collect(hook_name: str, make_register: Callable[[Provenance], Callable[..., None]]) -> None:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            prov = origins[id(impl.plugin)]
            try:
                impl.function(register=make_register(prov))
            except (Exception, SystemExit) as e:
                fail(prov, f"register ({hook_name})", e)

    def named(table: dict[str, type], origin: dict[str, Provenance]) -> Callable[[Provenance], Callable[[type], None]]:
        def make(prov: Provenance) -> Callable[[type], None]:
            def register(cls: type) -> None:
                name = cls.name
                if name in origin and origin[name].dist != prov.dist:
                    reg.conflicts.setdefault(name, [origin[name]]).append(prov)
                    if not quiet:
                        _warn(f"'{name}' is registered by both {origin[name]} and {prov}")
                    return
                table[name], origin[name] = cls, prov
            return register
        return make

    def env_register(prov: Provenance) -> Callable[..., None]:
        def register(env_id: str, entry_point: Any = None, **kwargs: Any) -> None:
            if env_id not in gym.registry:
                gym.register(env_id, entry_point=entry_point, **kwargs)
            reg.envs[env_id] = prov
        return register

    collect("register_envs", env_register)
    collect("register_algorithms", named(reg.algorithms, reg.algorithm_origin))
    collect("register_baselines", named(reg.baselines, reg.baseline_origin))
    return reg


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The registry of this process, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry()
    return _REGISTRY


def get_algorithm(name: str) -> type:
    """The installed algorithm class called ``name``."""
    return get_registry().algorithm(name)


def _import_env_module(module: str, env_id: str) -> None:
    """Import ``module`` (the ``module:`` of an env id), as ``gymnasium.make`` would, looking in
    the current directory too (as ``python -m`` does), so that its ``gymnasium.register`` runs."""
    try:
        importlib.import_module(module)
        return
    except ModuleNotFoundError as e:
        missing = e.name
        if missing != module.split(".")[0] or "" in sys.path or os.getcwd() in sys.path:
            raise UsageError(f"environment '{env_id}': cannot import module '{module}': {_one_line(e)}") from None
    except Exception as e:  # the user's module failed while importing
        raise UsageError(f"environment '{env_id}': importing module '{module}' failed: {_one_line(e)}") from None
    sys.path.insert(0, os.getcwd())
    _import_env_module(module, env_id)


def env_name(env_id: str) -> str:
    """The registered name of an env id: ``EnvName-v0`` of ``module:EnvName-v0``."""
    return env_id.partition(":")[2] if ":" in env_id else env_id


def check_env_id(env_id: str) -> None:
    """Raise a one-line :class:`UsageError` unless gymnasium knows ``env_id``.

    Every id ``gymnasium.make`` accepts is known, including ``module:EnvName-v0``: ``module``
    is imported first (from the current directory too), and registers ``EnvName-v0``.
    """
    get_registry()
    name = env_name(env_id)
    if name != env_id:
        _import_env_module(env_id.partition(":")[0], env_id)
    if name not in gym.registry:
        close = env_suggestions(name, list(gym.registry))
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        where = f" (module '{env_id.partition(':')[0]}' did not register it)" if name != env_id else ""
        raise UsageError(f"unknown environment '{name}'{where}{hint}")


def env_suggestions(env_id: str, known: list[str], n: int = 5) -> list[str]:
    """Ids of ``known`` that ``env_id`` may have meant: close as whole ids (a typo anywhere, e.g.
    ``CartPoel-v1`` → ``CartPole-v1``; case ignored), then those sharing its name before the version."""
    lower = {k.lower(): k for k in known}
    close = [lower[k] for k in difflib.get_close_matches(env_id.lower(), list(lower), n=n, cutoff=0.75)]
    stem = env_id.split("-")[0].lower()
    close += [k for k in known if stem and k.lower().startswith(stem) and k not in close]
    return close[:n]
