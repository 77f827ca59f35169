"""MkDocs hook: the pages and tables generated from the code at build time, so they cannot drift.

- ``algorithms/<name>.md`` for every installed algorithm (the plugin's docstring, metadata,
  own settings, tuned defaults, verify variants and its rows of the committed leaderboards);
- ``reference/cli.md`` from the ``pgzoo`` argparse parser, ``reference/config.md`` from the
  pydantic config models;
- ``img/leaderboards/...png``: the committed figures of ``leaderboards/``, copied as they are;
- in hand-written pages, ``<!-- pgzoo:board DIR -->`` becomes the tables of ``DIR/leaderboard.json``,
  ``<!-- pgzoo:algorithms -->`` the table of installed algorithms.

Registered in ``mkdocs.yml`` (``hooks:``); nothing here is part of the ``pgzoo`` package.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rst_roles import markdown_from_docstring  # noqa: E402

BOARD_MARK = re.compile(r"<!-- pgzoo:board (\S+) -->")
ACCESS_MARK = re.compile(r"<!-- pgzoo:access-control (\S+) -->")
ALGORITHMS_MARK = "<!-- pgzoo:algorithms -->"
ALGO_DIR = "algorithms"


def _registry() -> Any:
    from pgzoo.registry import get_registry

    reg = get_registry()
    if reg.errors:  # a broken plugin must fail the strict build, not vanish from the site
        raise RuntimeError("plugins failed to load: " + "; ".join(f"{e['plugin']}: {e['error']}" for e in reg.errors))
    return reg


# --- mkdocs events ------------------------------------------------------------------------------

def on_config(config: Any) -> Any:
    """Put one page per installed algorithm under "The algorithms" in the navigation."""
    pages = [{name: f"{ALGO_DIR}/{name}.md"} for name in sorted(_registry().algorithms)]
    for entry in config["nav"]:
        if isinstance(entry, dict) and "The algorithms" in entry:
            entry["The algorithms"] = [f"{ALGO_DIR}/index.md", *pages]
    return config


def on_files(files: Files, config: Any) -> Files:
    reg = _registry()
    boards = _boards()
    for name, cls in sorted(reg.algorithms.items()):
        files.append(File.generated(config, f"{ALGO_DIR}/{name}.md",
                                    content=algorithm_page(name, cls, reg.algorithm_origin[name], boards)))
    for png in sorted((ROOT / "leaderboards").rglob("*.png")):  # the committed figures, as they are
        files.append(File.generated(config, f"img/{png.relative_to(ROOT)}", content=png.read_bytes()))
    files.append(File.generated(config, "reference/cli.md", content=cli_reference()))
    files.append(File.generated(config, "reference/config.md", content=config_reference(reg)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    markdown = BOARD_MARK.sub(lambda m: board_tables(m.group(1), page), markdown)
    markdown = ACCESS_MARK.sub(lambda m: access_control_table(m.group(1)), markdown)
    if ALGORITHMS_MARK in markdown:
        markdown = markdown.replace(ALGORITHMS_MARK, algorithms_table(_registry()))
    return markdown


# --- the algorithms -----------------------------------------------------------------------------

def _schedules(cls: type) -> str:
    from pgzoo.engine.schedules import SETTING

    return ", ".join(f"`{SETTING[kind]}={n}`" for kind, n in cls.schedules.items())


def algorithms_table(reg: Any) -> str:
    """Every installed algorithm: name (linked to its page), section, summary, actions, schedules."""
    lines = ["| algorithm | book | summary | actions | schedules (default first) | distribution |",
             "|---|---|---|---|---|---|"]
    for name, cls in sorted(reg.algorithms.items()):
        prov = reg.algorithm_origin[name]
        lines.append(f"| [`{name}`]({name}.md) | §{cls.section} | {cls.summary} | {', '.join(cls.action_spaces)} "
                     f"| {_schedules(cls)} | `{prov.dist}` {prov.version} |")
    return "\n".join(lines)


def _own_fields(cls: type) -> list[str]:
    """The config keys this algorithm adds to the core's (AlgorithmConfig and its subclasses)."""
    from pgzoo.config import AlgorithmConfig, CriticConfig, MonteCarloConfig

    core: set[str] = set()
    for base in (AlgorithmConfig, CriticConfig, MonteCarloConfig):
        if issubclass(cls.Config, base):
            core |= set(base.model_fields)
    return [k for k in cls.Config.model_fields if k not in core]


def _value(v: Any) -> str:
    return f"`{json.dumps(v, ensure_ascii=False, default=str)}`"


def algorithm_page(name: str, cls: type, prov: Any, boards: dict[str, dict[str, Any]]) -> str:
    """The page of one algorithm, from its plugin's own code and the committed leaderboards."""
    module = sys.modules[cls.__module__]
    out = [f"# `{name}`: {cls.summary or cls.__name__}\n",
           "*Generated at build time from the plugin's code and the committed leaderboards.*\n",
           "| | |", "|---|---|",
           f"| book section | §{cls.section} |",
           f"| class | `{cls.__module__}.{cls.__qualname__}` |",
           f"| distribution | `{prov.dist}` {prov.version} |",
           f"| actions | {', '.join(cls.action_spaces)} |",
           f"| schedules (default first) | {_schedules(cls)} |",
           f"| learns v̂ | {'yes' if cls.uses_value else 'no'} |",
           f"| config model | `{cls.Config.__name__}` ([common keys](../reference/config.md)) |", ""]
    out += ["## The box and its loss\n", markdown_from_docstring(module.__doc__ or cls.__doc__ or "(no docstring)"), ""]
    own = _own_fields(cls)
    out.append("## Its own settings\n")
    if own:
        out += config_table(cls.Config, own)
    else:
        out.append("None beyond the [common keys](../reference/config.md).")
    out.append("")
    out.append("## Tuned defaults\n")
    if cls.env_defaults:
        out.append("Applied for these environments before your own settings (`pgzoo train` names them when it "
                   "uses them):\n")
        out += ["| environment | settings |", "|---|---|"]
        out += [f"| {env} | " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in values.items()) + " |"
                for env, values in cls.env_defaults.items()]
    else:
        out.append("None: every environment starts from the defaults of the settings.")
    out.append("")
    out.append("## What `pgzoo verify` checks\n")
    out.append(f"`pgzoo verify {name}` takes one SGD step through this algorithm's own `update` and compares it "
               "with `book_update`, the box in closed form (float64, tolerance 1e-6; "
               "[how](../update-rule-to-loss.md#the-check-pgzoo-verify)), under each of these settings:\n")
    out += ["| variant | settings |", "|---|---|"]
    out += [f"| {variant} | " + (", ".join(f"`{k}={json.dumps(v)}`" for k, v in values.items()) or "the defaults")
            + " |" for variant, values in cls.verify_variants.items()]
    out.append("")
    out.append("## On the leaderboards\n")
    rows = [(folder, r) for folder, data in boards.items() for r in data["rows"] if r["algorithm"] == name]
    if rows:
        out.append("Final evaluation return of the ranking policy over seeds (IQM with its 95% stratified-bootstrap "
                   "CI), read from each board's committed `leaderboard.json`; the board's page has the protocol.\n")
        out += ["| board | environment | seeds | final IQM [95% CI] | mean ± std | AUC | steps to threshold "
                "(median; seeds reaching) |", "|---|---|---:|---|---|---:|---|"]
        for folder, r in rows:
            med = r["steps_to_threshold_median"]
            out.append(f"| `{folder}` | {r['env']} | {r['seeds']} | {r['final_iqm']:,.1f} [{r['ci_low']:,.1f}, "
                       f"{r['ci_high']:,.1f}] | {r['final_mean']:,.1f} ± {r['final_std']:,.1f} | {r['auc']:,.1f} "
                       f"| {'—' if med is None else f'{med:,.0f}'}; {r['seeds_reaching_threshold']}/{r['seeds']} |")
        out.append("\nEach board is trained by `pgzoo bench FOLDER` and re-rendered from its `results.jsonl` by "
                   "`pgzoo leaderboard FOLDER` ([Benchmarks](../benchmarks.md)).")
    else:
        out.append("Not on a committed leaderboard yet: add it to a suite and run `pgzoo bench FOLDER --only "
                   f"{name}` ([Benchmarks](../benchmarks.md)).")
    return "\n".join(out) + "\n"


def _boards() -> dict[str, dict[str, Any]]:
    """Every committed ``leaderboard.json`` under leaderboards/, by folder (relative to the repo)."""
    return {str(p.parent.relative_to(ROOT)): json.loads(p.read_text())
            for p in sorted((ROOT / "leaderboards").rglob("leaderboard.json"))}


def board_tables(folder: str, page: Any) -> str:
    """The tables of ``folder``'s committed ``leaderboard.json`` (as in its ``leaderboard.md``), with
    the commands that made and re-render them; headings one level down."""
    from pgzoo.bench.render import tables_from_json

    path = ROOT / folder / "leaderboard.json"
    if not path.is_file():
        raise FileNotFoundError(f"{page.file.src_uri}: no {folder}/leaderboard.json")
    data = json.loads(path.read_text())
    lines = [("#" + line) if line.startswith("## ") else line for line in tables_from_json(data)]
    if data.get("tuning", "").strip():
        lines += ["", "**What was tuned, and how** (the suite's `tuning`): " + " ".join(data["tuning"].split())]
    return ("\n".join(lines) + f"\n\n*Tables read at build time from `{folder}/leaderboard.json`, written by "
            f"`pgzoo bench {folder}`; `pgzoo leaderboard {folder}` re-renders them (and `curves.png`) from "
            "`results.jsonl` without training.*\n")


def access_control_table(folder: str) -> str:
    """The per-seed table of ``folder/results.json`` (written by ``pgzoo_book_envs.access_control_report``)."""
    data = json.loads((ROOT / folder / "results.json").read_text())
    gain = data["optimal_average_reward"]
    lines = ["| seed | average reward, stochastic π | greedy π | of the optimum | wall s |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['seed']} | {r['eval_avg_reward']:.3f} | {r['eval_avg_reward_greedy']:.3f} "
              f"| {r['eval_avg_reward'] / gain:.1%} | {r['wall_s']} |" for r in data["runs"]]
    lines.append(f"\nOptimum {gain:.4f} per step, always accepting {data['always_accept']:.4f}; {data['steps']:,} "
                 f"training steps per seed, each evaluated for 5 × 5,000 steps on separate seeds. *Read at build time "
                 f"from `{folder}/results.json`.*")
    return "\n".join(lines)


# --- reference pages ----------------------------------------------------------------------------

def cli_reference() -> str:
    """Every command of ``pgzoo`` with its full ``--help``, straight from the parser."""
    from pgzoo.cli import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal's width: fix it for the page
    try:
        parser = build_parser()
        out = ["# Command line\n", "*Generated at build time from the `pgzoo` argparse parser "
               "(`pgzoo.cli.build_parser`): every command and flag, as `--help` prints it.*\n",
               "```text", parser.format_help().rstrip(), "```\n"]
        for name, sub in parser.commands.items():
            out += [f"## `pgzoo {name}`\n", "```text", sub.format_help().rstrip(), "```\n"]
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    out.append("Usage errors print one line and exit with code 2; see [Troubleshooting](../troubleshooting.md).")
    return "\n".join(out) + "\n"


def _type(ann: Any) -> str:
    """A config key's type in words: ``float``, ``str``, ``list of int``, ``int or None``."""
    import types
    from typing import Annotated, Literal, Union, get_args, get_origin

    origin, args = get_origin(ann), get_args(ann)
    if origin is Annotated:
        return _type(args[0])
    if origin is Literal:
        return type(args[0]).__name__
    if origin in (Union, types.UnionType):
        inner = " or ".join(_type(a) for a in args if a is not type(None))
        return inner + (" or None" if type(None) in args else "")
    if origin is tuple:
        return f"list of {_type(args[0])}"
    return getattr(ann, "__name__", str(ann))


def _range(field: Any) -> str:
    from typing import Literal, get_args, get_origin

    parts = []
    for m in field.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "length ≥"),
                          ("max_length", "length ≤")):
            if getattr(m, attr, None) is not None:
                parts.append(f"{sym} {getattr(m, attr)}")
    ann = field.annotation
    args = get_args(ann)
    lit = [a for a in (ann, *args) if get_origin(a) is Literal]
    if lit:
        parts.append(" \\| ".join(f"`{json.dumps(v)}`" for v in get_args(lit[0])))
    if ann is bool:
        parts.append("`true` \\| `false`")
    if type(None) in args:
        parts.append("or `null` (unset)")
    return ", ".join(parts) or "any"


def _tune(field: Any) -> str:
    from pgzoo.config import TUNE_KEY

    spec = (field.json_schema_extra or {}).get(TUNE_KEY) if isinstance(field.json_schema_extra, dict) else None
    if not spec:
        return ""
    if "choices" in spec:
        return "one of " + ", ".join(f"`{json.dumps(c)}`" for c in spec["choices"])
    return f"[{spec['low']:g}, {spec['high']:g}]" + (" log" if spec["log"] else "")


def config_table(model: type, keys: list[str]) -> list[str]:
    """Rows of key, type, default, allowed values, `pgzoo tune` range and meaning of ``keys`` of ``model``."""
    lines = ["| key | type | default | allowed | `pgzoo tune` range | meaning |", "|---|---|---|---|---|---|"]
    from pgzoo.config import ANNEAL_MARK

    for key in keys:
        f = model.model_fields[key]
        desc = (f.description or "").replace("|", "\\|")
        if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get(ANNEAL_MARK):
            desc += " (annealable: `anneal` may schedule it over the run)"
        lines.append(f"| `{key}` | {_type(f.annotation)} | {_value(f.get_default(call_default_factory=True))} "
                     f"| {_range(f)} | {_tune(f)} | {desc} |")
    return lines


def config_reference(reg: Any) -> str:
    """Every config key: the core's (every algorithm), the critics', the Monte-Carlo ones', each plugin's own."""
    from pgzoo.config import AlgorithmConfig, CriticConfig, MonteCarloConfig

    out = ["# Config keys\n",
           "*Generated at build time from the pydantic models (`pgzoo.config` and each plugin's `Config`).*\n",
           "Set them with `pgzoo train ALGO --set key=value` (repeatable) or in a TOML file of top-level "
           "`key = value` pairs (`--config FILE.toml`, a suite's `hyperparams`). Order: the defaults below, the "
           "algorithm's tuned defaults for the environment, the file, `--set`, then `--steps`/`--episodes`. Unknown "
           "keys, out-of-range, infinite or NaN values and `true`/`false` for a number are one-line errors "
           "(exit 2). \"`pgzoo tune` range\" is what `pgzoo tune` searches when the key is left free.\n",
           "## Every algorithm (`AlgorithmConfig`)\n"]
    out += config_table(AlgorithmConfig, list(AlgorithmConfig.model_fields))
    out += ["", "## Algorithms with a critic v̂ (`CriticConfig`)\n"]
    out += config_table(CriticConfig, [k for k in CriticConfig.model_fields if k not in AlgorithmConfig.model_fields])
    out += ["", "## Monte-Carlo algorithms (`MonteCarloConfig`)\n"]
    out += config_table(MonteCarloConfig,
                        [k for k in MonteCarloConfig.model_fields if k not in AlgorithmConfig.model_fields])
    out += ["", "## Each algorithm's own keys\n"]
    for name, cls in sorted(reg.algorithms.items()):
        own = _own_fields(cls)
        bases = [b.__name__ for b in (CriticConfig, MonteCarloConfig) if issubclass(cls.Config, b)]
        out.append(f"### [`{name}`](../{ALGO_DIR}/{name}.md)\n")
        out.append(f"`{cls.Config.__name__}`: the keys of {', '.join(['AlgorithmConfig', *bases])}"
                   + (", plus:\n" if own else ", nothing more.\n"))
        if own:
            out += config_table(cls.Config, own)
        out.append("")
    return "\n".join(out) + "\n"
