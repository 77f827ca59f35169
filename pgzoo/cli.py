"""The ``pgzoo`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from pgzoo.engine.schedules import SETTING
from pgzoo.errors import Interrupted, PgzooError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2)."""

    commands: dict[str, argparse.ArgumentParser]
    """The parser of each subcommand, by name (set on the top-level parser by :func:`build_parser`)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _registry():
    from pgzoo.registry import get_registry

    return get_registry()


def _algorithm_rows() -> list[dict[str, Any]]:
    reg = _registry()
    rows = []
    for name, cls in sorted(reg.algorithms.items()):
        prov = reg.algorithm_origin[name]
        rows.append({"name": name, "section": cls.section, "summary": cls.summary, "dist": prov.dist,
                     "version": prov.version, "action_spaces": list(cls.action_spaces),
                     "schedules": dict(cls.schedules)})
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    reg = _registry()
    data = {
        "algorithms": _algorithm_rows(),
        "envs": [{"id": k, "dist": v.dist, "version": v.version} for k, v in sorted(reg.envs.items())],
        "baselines": [{"name": k, "dist": reg.baseline_origin[k].dist, "version": reg.baseline_origin[k].version}
                      for k in sorted(reg.baselines)],
        "conflicts": {k: [str(p) for p in v] for k, v in reg.conflicts.items()},
        "errors": reg.errors,
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print("Algorithms:")
    for r in data["algorithms"]:
        sched = ", ".join(f"{SETTING[k]}={n}" for k, n in r["schedules"].items())
        print(f"  {r['name']:<24} §{r['section']:<6} {', '.join(r['action_spaces']):<22} {sched:<36} "
              f"{r['dist']} {r['version']}")
    print("Environments (from plugins; every gymnasium id also works):")
    for e in data["envs"]:
        print(f"  {e['id']:<24} {e['dist']} {e['version']}")
    if data["baselines"]:
        print("Baselines:")
        for b in data["baselines"]:
            print(f"  {b['name']:<24} {b['dist']} {b['version']}")
    for name, who in data["conflicts"].items():
        print(f"Conflict: '{name}' is registered by {' and '.join(who)}")
    if data["errors"]:
        print("Plugins that failed to load:")
        for e in data["errors"]:
            print(f"  {e['plugin']} ({e['dist']} {e['version']}): {e['stage']}: {e['error']}")
    if data["errors"] and not data["algorithms"]:
        print(f"pgzoo list: no algorithm loaded; {len(data['errors'])} plugin(s) failed to load (listed above)",
              file=sys.stderr)
        return 1
    return 0


def _config_values(args: argparse.Namespace, cls: Any) -> dict[str, Any]:
    """The settings of --config, --set and --steps/--episodes for algorithm ``cls``; an unknown
    key is one line naming its file (or --set) and the settings it may have meant."""
    from pgzoo.config import check_keys, load_toml, parse_sets

    values: dict[str, Any] = {}
    if args.config:
        values.update(load_toml(args.config))
        check_keys(cls.Config, values, f"--config {args.config}")
    sets = parse_sets(args.set or [])
    check_keys(cls.Config, sets, "--set")
    values.update(sets)
    if args.steps is not None:
        values["total_steps"] = args.steps
    if args.episodes is not None:
        values["total_episodes"] = args.episodes
    return values


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from pgzoo.engine.checkpoint import CHECKPOINT, Checkpointer, checkpoint_interval, open_resume
    from pgzoo.engine.trainer import EvalSchedule, Trainer
    from pgzoo.names import run_name, tensorboard_name
    from pgzoo.registry import check_env_id
    from pgzoo.rundir import claim_run_dir
    from pgzoo.seeding import check_seed
    from pgzoo.tblog import TensorBoardLogger, TrainLogger

    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {args.threads})")
    if args.eval_every is not None and args.eval_every < 1:
        raise UsageError(f"--eval-every must be at least 1 env step (got {args.eval_every})")
    torch.set_num_threads(args.threads)
    resume = None
    if args.resume:
        resume = _open_resume(args, open_resume)
        if resume.finished is not None:
            done = resume.finished.get("env_steps", "?")
            print(f"pgzoo train: {resume.path} is finished ({done} env steps, summary.json); nothing to resume",
                  file=sys.stderr)
            return 0
        algorithm, env_id, seed, out = (resume.meta["algorithm"], resume.meta["env_id"], resume.meta["seed"],
                                        resume.path)
        cls = _registry().algorithm(algorithm)
        values = resume.meta["config"]
        config = cls.make_config(overrides=values)
        options = resume.options
    else:
        missing = [name for name, value in (("ALGO", args.algorithm), ("--env", args.env)) if not value]
        if missing:
            raise UsageError(f"the following arguments are required: {', '.join(missing)} (or --resume DIR)")
        algorithm, env_id, seed = args.algorithm, args.env, 0 if args.seed is None else args.seed
        cls = _registry().algorithm(algorithm)
        check_env_id(env_id)
        values = _config_values(args, cls)
        config = cls.make_config(env_id, values)
        check_seed(seed, "--seed")
        out = Path(args.out) if args.out else Path("runs") / run_name(algorithm, env_id, seed)
        claim_run_dir(out, algorithm, env_id, force=args.force)
        if (out / CHECKPOINT).exists() and not (out / "summary.json").exists() and not args.force:
            raise UsageError(f"{out} holds a stopped run with a checkpoint; continue it with: pgzoo train --resume "
                             f"{out} (or pass --force to start over)")
        options = {"eval_every": args.eval_every, "tensorboard": None}
        if args.tensorboard:
            options["tensorboard"] = [str(Path(args.tensorboard).resolve()), tensorboard_name(algorithm, out)]
    schedule = EvalSchedule(options["eval_every"], config.eval_episodes) if options["eval_every"] else None
    meta = {"algorithm": algorithm, "env_id": env_id, "seed": seed, "config": config.model_dump(mode="json")}
    tb = options["tensorboard"]
    logger = (TensorBoardLogger(tb[0], tb[1], config=meta, purge_step=resume.env_steps + 1 if resume else None)
              if tb else TrainLogger())
    checkpoints = Checkpointer(out, checkpoint_interval(config), options, resume.checkpoint if resume else None)
    with logger, checkpoints.signals():
        result = Trainer(cls(config), env_id, seed, out, progress=not args.quiet, schedule=schedule,
                         logger=logger, checkpoints=checkpoints).run()
    s = result.summary
    print(f"{algorithm} on {env_id} (seed {seed}): {s['env_steps']} env steps, {s['episodes']} episodes "
          f"in {s['wall_s']:.1f} s; evaluation return {s['eval_return_mean']:.2f} ± {s['eval_return_std']:.2f} "
          f"(greedy {s['eval_return_mean_deterministic']:.2f}) over {s['eval_episodes']} episodes -> {out}")
    tuned = {k: v for k, v in cls.env_defaults.get(env_id, {}).items() if k not in values} if not resume else {}
    if tuned:
        applied = ", ".join(f"{k}={json.dumps(v)}" for k, v in tuned.items())
        print(f"pgzoo train: trained with the tuned defaults of '{algorithm}' for {env_id} (not the book's "
              f"plain algorithm; --set overrides them): {applied}", file=sys.stderr)
    _say_capped("train", s["eval_capped_episodes"], s["eval_max_steps"])
    return 0


def _open_resume(args: argparse.Namespace, open_resume: Any) -> Any:
    """The run ``--resume DIR`` names, refusing the options that would change it (one line)."""
    given = {"ALGO": args.algorithm, "--env": args.env, "--seed": args.seed is not None, "--set": args.set,
             "--config": args.config, "--steps": args.steps is not None, "--episodes": args.episodes is not None,
             "--out": args.out, "--force": args.force}
    conflicts = [k for k, v in given.items() if v]
    if conflicts:
        raise UsageError(f"--resume continues {args.resume} with its saved settings; drop {', '.join(conflicts)}")
    run = open_resume(args.resume)
    saved = run.options
    if run.checkpoint is not None:
        tb = saved.get("tensorboard")
        if args.eval_every is not None and args.eval_every != saved.get("eval_every"):
            raise UsageError(f"--eval-every {args.eval_every}: the run in {args.resume} evaluates every "
                             f"{saved.get('eval_every') or 'never'} (drop --eval-every to keep it)")
        if args.tensorboard and (not tb or Path(args.tensorboard).resolve() != Path(tb[0])):
            raise UsageError(f"--tensorboard {args.tensorboard}: the run in {args.resume} logs to "
                             f"{tb[0] if tb else 'no TensorBoard folder'} (drop --tensorboard to keep it)")
    return run


def _say_capped(command: str, capped: int, cap: int) -> None:
    if capped:
        print(f"pgzoo {command}: {capped} evaluation episode(s) did not end within {cap} steps and were cut there "
              f"(eval_max_steps); their returns are partial", file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from pgzoo.engine.envs import make_env
    from pgzoo.engine.evaluation import evaluate, summarize
    from pgzoo.engine.normalization import Normalization, from_tensors
    from pgzoo.rundir import load_agent_state, load_run
    from pgzoo.seeding import derive_seeds
    from pgzoo.spaces import EnvSpec

    if args.episodes < 1:
        raise UsageError(f"--episodes must be at least 1 (got {args.episodes})")
    if args.video:
        from pgzoo.video import check_output

        check_output(args.video)
    meta, state = load_run(args.run_dir)
    cls = _registry().algorithm(meta["algorithm"])
    algo = cls(cls.make_config(overrides=meta["config"]))
    cfg = algo.config
    normalization = Normalization.of(cfg)  # the environments as the run made them
    env = make_env(meta["env_id"], cfg.max_episode_steps, normalization)
    spec = EnvSpec.from_env(env, meta["env_id"])
    env.close()
    agent = algo.build_agent(spec)
    load_agent_state(agent, state["agent"], Path(args.run_dir) / "model.pt",
                     f"'{meta['algorithm']}' on {meta['env_id']}")
    seeds = derive_seeds(meta["seed"], cfg.num_envs, args.episodes).eval_envs
    if args.video:  # the rendering contract, before anything runs
        from pgzoo.video import check_renderable

        check_renderable(meta["env_id"], cfg.max_episode_steps, seeds[0])
    torch.manual_seed(args.seed)  # the stochastic policy's actions: the same command, the same numbers
    statistics = from_tensors(state.get("obs_norm"), str(Path(args.run_dir) / "model.pt"))  # frozen, as trained
    returns = evaluate(agent.policy, meta["env_id"], seeds, args.deterministic, cfg.max_episode_steps,
                       cfg.eval_steps if spec.continuing else None, cfg.eval_max_steps, cfg.scale_images,
                       statistics=statistics, normalization=normalization)
    if args.video:  # the same episodes again (same seeds, same random stream), rendered
        from pgzoo.video import record_video

        torch.manual_seed(args.seed)
        _, frames = record_video(agent.policy, meta["env_id"], seeds, args.deterministic, cfg.max_episode_steps,
                                 args.video, continuing_steps=cfg.eval_steps if spec.continuing else None,
                                 step_cap=cfg.eval_max_steps, scale_images=cfg.scale_images, statistics=statistics,
                                 normalization=normalization)
        print(f"pgzoo eval: wrote {len(seeds)} episodes ({frames} frames) to {args.video}", file=sys.stderr)
    mean, std = summarize(returns)
    mode = "greedy" if args.deterministic else f"stochastic (--seed {args.seed})"
    if args.json:
        print(json.dumps({"eval_return_mean": mean, "eval_return_std": std, "episodes": len(returns),
                          "deterministic": args.deterministic, "seed": args.seed, "capped": returns.capped,
                          "returns": list(returns)}))
    else:
        print(f"{meta['algorithm']} on {meta['env_id']}: {mode} evaluation return {mean:.2f} ± {std:.2f} "
              f"over {len(returns)} episodes")
    _say_capped("eval", returns.capped, cfg.eval_max_steps)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from pgzoo.plotting import plot_runs

    out = plot_runs(args.run_dirs, args.output, args.window)
    print(f"wrote {out}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    import torch

    from pgzoo.names import safe_name
    from pgzoo.registry import check_env_id
    from pgzoo.tune import TuneSettings, parse_params, search_space, tune

    for flag, value in (("--trials", args.trials), ("--eval-episodes", args.eval_episodes)):
        if value < (0 if flag == "--trials" else 1):
            raise UsageError(f"{flag} must be at least {0 if flag == '--trials' else 1} (got {value})")
    torch.set_num_threads(1)
    cls = _registry().algorithm(args.algorithm)
    check_env_id(args.env)
    overrides = _config_values(args, cls)
    config = cls.make_config(args.env, overrides)  # the fixed settings must validate on their own
    if config.total_episodes:
        raise UsageError("pgzoo tune needs a budget in env steps (--steps), not episodes")
    every = args.eval_every or max(1, config.total_steps // 5)
    if every < 1:
        raise UsageError(f"--eval-every must be at least 1 env step (got {every})")
    space = search_space(cls.Config, parse_params(args.params), set(overrides) - {"total_steps"})
    settings = TuneSettings(args.algorithm, args.env, overrides, space, every, args.eval_episodes,
                            args.objective, args.score)
    study_name = args.study or f"{args.algorithm}-{args.env}"
    out = Path(args.out) if args.out else Path(safe_name(f"tune-{study_name}"))
    result = tune(settings, args.trials, args.storage, study_name, out, args.sampler_seed, progress=not args.quiet)
    study = result.study
    complete = [t for t in study.trials if t.value is not None]
    if complete:
        best = study.best_trial
        print(f"best of {len(complete)} completed trials: trial {best.number}, value {best.value:.2f}: "
              + ", ".join(f"{k}={v}" for k, v in best.params.items()) + f" -> {out / 'best.toml'}")
    else:
        print(f"no completed trial yet; report in {out / 'report.md'}")
    if result.failed:
        print(f"pgzoo tune: {len(result.failed)} trial(s) failed because the environment did; the first: "
              f"{result.failed[0]}", file=sys.stderr)
    return 1 if result.failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    from pgzoo.book.verify import TOLERANCE, verify

    reg = _registry()
    names = args.algorithms or sorted(reg.algorithms)
    algos = {n: reg.algorithm(n) for n in names}
    results = verify(algos)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(f"{'algorithm':<24} {'variant':<12} {'case':<16} {'max |Δ|':>10}  ok")
        for r in results:
            note = f"  ({r.note})" if r.note and not r.ok else ""
            print(f"{r.algorithm:<24} {r.variant:<12} {r.case:<16} {r.max_abs_diff:>10.2e}  {'yes' if r.ok else 'NO'}"
                  f"{note}")
        bad = sum(not r.ok for r in results)
        print(f"{len(results) - bad} of {len(results)} checks match the book's update (tolerance {TOLERANCE:g}).")
    return 0 if results and all(r.ok for r in results) else 1


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from pgzoo.scaffold import new_plugin

    path = new_plugin(args.name, Path(args.dir), args.template)
    print(f"wrote {path}; install it with: pip install -e {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pgzoo.bench.runner import DEFAULT_OUT, default_suite_folder, run_bench

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.seeds is not None and args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    if args.address and args.executor != "ray":
        raise UsageError("--address needs --executor ray")
    folder = args.suite_dir
    if folder is None:
        folder = default_suite_folder(DEFAULT_OUT)
        print(f"pgzoo bench: no SUITE_DIR: running the quick default suite; results and leaderboard go to "
              f"./{DEFAULT_OUT}/", file=sys.stderr)
    only = [a.strip() for a in args.only.split(",") if a.strip()] if args.only else None
    report = run_bench(folder, seeds=args.seeds, workers=args.workers, executor=args.executor,
                       address=args.address, only=only, progress=not args.quiet,
                       population=False if args.no_population else None, retrain_stale=args.retrain_stale)
    print(report.leaderboard)
    random = f"; no random-policy score for {len(report.random_failed)} environment(s)" if report.random_failed else ""
    print(f"pgzoo bench: {report.finished} runs trained in {report.wall_s:.0f} s ({report.already_done} were already "
          f"done, {len(report.failed)} failed{random}); wrote leaderboard.md, leaderboard.json, curves.png and "
          f"results.jsonl in {report.folder}", file=sys.stderr)
    return 1 if report.failed or report.random_failed else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from pgzoo.bench.runner import render_folder

    print(render_folder(args.suite_dir, warn=True, say_stale=True))
    print(f"pgzoo leaderboard: wrote leaderboard.md, leaderboard.json and curves.png in {args.suite_dir}",
          file=sys.stderr)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from pgzoo.bench.reproduce import report, reproduce

    if args.line is None and len(args.run) != 3:
        raise UsageError("name the line: ALGO ENV SEED, or --line N")
    if args.line is not None and args.run:
        raise UsageError("give either ALGO ENV SEED or --line N, not both")
    algorithm = env = seed = None
    if args.run:
        algorithm, env, seed_text = args.run
        try:
            seed = int(seed_text)
        except ValueError:
            raise UsageError(f"SEED must be an integer (got {seed_text!r})") from None
    result = reproduce(args.suite_dir, algorithm, env, seed, args.line, args.out)
    for line in report(result):
        print(line)
    if args.out:
        print(f"pgzoo reproduce: the retrained line(s) are in {Path(args.out) / 'results.jsonl'}", file=sys.stderr)
    return 0 if result.matches else 1


def _version() -> str:
    """``pgzoo X.Y.Z (Python, torch, gymnasium versions)``; torch's without importing it."""
    import importlib.metadata as md
    import platform

    from pgzoo import __version__

    def installed(dist: str) -> str:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return "not installed"

    return (f"pgzoo {__version__} (Python {platform.python_version()}, torch {installed('torch')}, "
            f"gymnasium {installed('gymnasium')})")


def build_parser() -> _Parser:
    p = _Parser(prog="pgzoo", description="Policy-gradient algorithms of Sutton & Barto chapter 13.")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p.commands = sub.choices

    s = sub.add_parser("list", help="installed algorithms, environments and plugin errors")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser(
        "train", help="train an algorithm on a gymnasium environment",
        description="Train ALGO on a gymnasium environment. Settings come from the algorithm's defaults, then "
                    "its tuned defaults for the environment (printed when there are any), then --config, then "
                    "--set, then --steps/--episodes. Without --steps or --episodes the budget is the setting "
                    "total_steps (100,000 env steps unless the tuned defaults or your settings change it). It saves "
                    "checkpoints (setting checkpoint_every, and on Ctrl-C/SIGTERM); --resume DIR continues a stopped "
                    "run.")
    s.add_argument("algorithm", metavar="ALGO", nargs="?", help="an installed algorithm (pgzoo list)")
    s.add_argument("--env", metavar="ENV_ID",
                   help="gymnasium environment id, also module:EnvName-v0 (imports module first); required")
    s.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR from its checkpoint to its budget, with its saved settings "
                        "(a new process starts fresh episodes)")
    budget = s.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="budget in env steps (default: the setting total_steps)")
    budget.add_argument("--episodes", type=int, help="budget in episodes (sets total_episodes)")
    s.add_argument("--seed", type=int, help="run seed: torch, environments, evaluation (default 0)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    s.add_argument("--config", metavar="FILE.toml", help="config values from a TOML file")
    s.add_argument("--out", metavar="DIR", help="run directory (default runs/ALGO-ENV-sSEED); holds config.json, "
                   "metrics.csv, model.pt, summary.json, and checkpoint.pt until the run is finished")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--threads", type=int, default=1, help="torch threads (default 1: fastest for small models)")
    s.add_argument("--tensorboard", metavar="DIR",
                   help="write TensorBoard event files to DIR/<run directory name> (tensorboard --logdir DIR)")
    s.add_argument("--eval-every", type=int, metavar="STEPS",
                   help="evaluate every STEPS env steps (eval_episodes episodes, both policies; logged to TensorBoard)")
    s.add_argument("--force", action="store_true",
                   help="write into --out even if it holds a finished run, or another algorithm's or environment's "
                        "run (replacing its files)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("eval", help="evaluate a trained run")
    s.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by pgzoo train")
    s.add_argument("--episodes", type=int, default=10, help="evaluation episodes (default 10)")
    s.add_argument("--deterministic", action="store_true", help="greedy actions instead of sampling")
    s.add_argument("--seed", type=int, default=0,
                   help="seed of the stochastic policy's action sampling (default 0); the environments' seeds "
                        "come from the run's seed")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--video", metavar="OUT.mp4",
                   help="also record the evaluation episodes to one video file: .mp4 (H.264) or .gif")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("plot", help="draw the training curves of pgzoo train runs (from their metrics.csv)")
    s.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by pgzoo train")
    s.add_argument("-o", "--output", default="curves.png", metavar="FILE.png", help="default curves.png")
    s.add_argument("--window", type=int, default=20, help="moving average over this many episodes (default 20)")
    s.set_defaults(func=cmd_plot)

    s = sub.add_parser("tune", help="search hyperparameters with Optuna (study in a database; resumable)")
    s.add_argument("algorithm", help="an installed algorithm (pgzoo list)")
    s.add_argument("--env", required=True, help="gymnasium environment id")
    s.add_argument("--trials", type=int, default=20,
                   help="finished trials the study should have (a resumed or shared study counts what it has)")
    s.add_argument("--storage", default="sqlite:///tune.db", metavar="URL",
                   help="Optuna RDB storage URL (default sqlite:///tune.db in the current folder)")
    s.add_argument("--study", metavar="NAME", help="study name (default ALGO-ENV)")
    s.add_argument("--params", metavar="KEY,...",
                   help="settings to search (default: every config field with a search range, "
                        "less those --set/--config fix)")
    s.add_argument("--steps", type=int, help="budget of each trial in env steps (default: the config's total_steps)")
    s.add_argument("--episodes", type=int, help=argparse.SUPPRESS)
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="fix a config value (repeatable)")
    s.add_argument("--config", metavar="FILE.toml", help="fixed config values from a TOML file")
    s.add_argument("--eval-every", type=int, metavar="STEPS", help="evaluate (and maybe prune) every STEPS env steps "
                   "(default: a fifth of the budget)")
    s.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation (default 10)")
    s.add_argument("--objective", choices=("final", "auc"), default="final",
                   help="final evaluation return, or mean evaluation return over training (default final)")
    s.add_argument("--score", choices=("deterministic", "stochastic"), default="deterministic",
                   help="which policy's evaluation return (default deterministic, as the leaderboards)")
    s.add_argument("--out", metavar="DIR", help="where best.toml, report.md, importances.png go (default tune-STUDY)")
    s.add_argument("--sampler-seed", type=int, metavar="N", help="seed of the TPE sampler (default: random)")
    s.add_argument("--quiet", action="store_true", help="no line per finished trial")
    s.set_defaults(func=cmd_tune)

    s = sub.add_parser("verify", help="check that one SGD step on each loss equals the book's update")
    s.add_argument("algorithms", nargs="*", metavar="ALGO", help="algorithms to check (default: every installed one)")
    s.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("new-plugin", help="write a working plugin skeleton")
    s.add_argument("name", metavar="NAME", help="the algorithm's name, e.g. my-algo (writes pgzoo-NAME/)")
    s.add_argument("--dir", default=".", help="folder to write pgzoo-NAME/ into (default: the current one)")
    s.add_argument("--template", choices=("episodic", "critic"), default="episodic",
                   help="episodic: REINFORCE-like, updates on whole episodes; critic: actor-critic with v̂ on "
                        "n-step segments (default: episodic)")
    s.set_defaults(func=cmd_new_plugin)

    s = sub.add_parser("bench", help="train a suite of algorithms x envs x seeds and write its leaderboard")
    s.add_argument("suite_dir", nargs="?", metavar="SUITE_DIR",
                   help="folder with a suite.toml (default: a quick suite, written to ./pgzoo-bench-quick/)")
    s.add_argument("--seeds", type=int, metavar="N", help="use the first N seeds (more than the suite's: extra seeds)")
    s.add_argument("--workers", type=int, metavar="K",
                   help="parallel runs (default: the number of cores); with --executor ray and no --address, "
                        "the CPUs of the local Ray cluster it starts")
    s.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local process pool (default) or Ray tasks")
    s.add_argument("--address", metavar="ADDR", help="join the Ray cluster at ADDR (default: start a local one)")
    s.add_argument("--only", metavar="ALGO,...", help="only these algorithms of the suite")
    s.add_argument("--no-population", action="store_true",
                   help="train every seed on its own, not as one batched population (the same updates; in float32 "
                        "not the same bits: each line records its path)")
    s.add_argument("--retrain-stale", action="store_true",
                   help="also retrain the runs whose line was made by other code than the installed one (or "
                        "records no provenance); the new lines are appended and the board uses them")
    s.add_argument("--quiet", action="store_true", help="no progress line")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("leaderboard", help="re-render a suite's leaderboard from its results.jsonl (no training)")
    s.add_argument("suite_dir", metavar="SUITE_DIR", help="folder with a suite.toml and its results.jsonl")
    s.set_defaults(func=cmd_leaderboard)

    s = sub.add_parser(
        "reproduce", help="retrain one results line exactly as recorded and compare it bit for bit",
        description="Retrain one line of SUITE_DIR/results.jsonl from its recorded recipe (run spec, seed, "
                    "population members, compile setting, dtype) in a scratch folder, in a fresh worker process as "
                    "the bench trains it, and compare its final evaluation, evaluation curve and env steps with the "
                    "recorded ones bit for bit. Exit code 0 when they match, 1 when they differ.")
    s.add_argument("suite_dir", metavar="SUITE_DIR", help="folder with a results.jsonl")
    s.add_argument("run", nargs="*", metavar="ALGO ENV SEED",
                   help="the run: the suite's algorithm label, the environment id and the seed (its last line)")
    s.add_argument("--line", type=int, metavar="N", help="the run on line N of results.jsonl instead")
    s.add_argument("--out", metavar="DIR", help="keep the retrained line(s) in DIR/results.jsonl (default: a "
                                                "temporary folder, removed)")
    s.set_defaults(func=cmd_reproduce)
    return p


def main(argv: list[str] | None = None) -> int:
    import pgzoo

    if getattr(pgzoo, "__file__", None) is None:  # a folder named pgzoo without __init__.py, e.g. a clone's root
        print(f"pgzoo: error: Python takes the folder {', '.join(pgzoo.__path__)} for the pgzoo package (a clone of "
              "its repository?), so no plugin can import pgzoo: run pgzoo from another folder", file=sys.stderr)
        return 2
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # a bare `pgzoo`: what it can do
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at interpreter exit
        return code
    except UsageError as e:
        print(f"pgzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"pgzoo {args.command}: {e}", file=sys.stderr)
        return e.exit_code
    except PgzooError as e:
        print(f"pgzoo {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pgzoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (pgzoo list | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that flushing stdout at exit does not fail again
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
