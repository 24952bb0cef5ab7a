"""The ``embodied-r1`` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from embodied_r1.errors import UserError
from embodied_r1.stages.registry import stage_names

EPILOG_TRAIN = """\b
Examples:
  embodied-r1 train --task touch --config configs/touch_quickstart.yaml
  embodied-r1 train --task robot-keypoint --config configs/robot_keypoint_quickstart.yaml
  embodied-r1 train --task touch --model small --stage grpo grpo.learning_rate=1e-4 touch.num_levels=5
  embodied-r1 train --task touch --output runs/t1 --resume        # continue after preemption
  embodied-r1 train --output runs/t1 --resume --allow-config-change grpo.max_steps=300   # extend a run
\b
Without --config, an offline preset (default 'tiny') trains with the task's recipe (SFT warm start, then
GRPO); other models start from the task's defaults. --resume uses the run's own config.yaml: settings
that differ are refused unless --allow-config-change.
Overrides are dotted key=value pairs: model.*, grpo.* (trl.GRPOConfig), sft.* (trl.SFTConfig), <task>.*.
"""


class _Group(click.Group):
    def invoke(self, ctx):
        from embodied_r1.device import end_process_group

        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)
        finally:
            end_process_group()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def main():
    """embodied-r1: GRPO training of Qwen2.5-VL on embodied reasoning tasks, and closed-loop control eval.

    \b
    Quick tour:
      embodied-r1 tasks                                    # registered tasks
      embodied-r1 data touch                               # build and cache a dataset
      embodied-r1 train --task touch --config configs/touch_quickstart.yaml
      embodied-r1 eval --task touch --model runs/<run>
      embodied-r1 eval-control --policy oracle --tasks Lift --episodes 10
    """


def _task_cfg_cls(name: str):
    from embodied_r1.registry import REGISTRY

    return REGISTRY.get_class(name).config_cls


def _resolve(task: str | None, config: str | None, overrides: tuple[str, ...], extra: list[str], base=None):
    from embodied_r1.config import load_config, read_yaml

    if task and config:
        yaml_task = read_yaml(config).get("task")
        if yaml_task and yaml_task != task:
            raise UserError(f"--task {task} conflicts with task '{yaml_task}' in {config}; drop one of them")
    pre = [f"task={task}"] if task else []
    return load_config(config, pre + list(overrides) + extra, _task_cfg_cls, base=base)


def _train_config(task, config, overrides, extra):
    """A new run's config: with no --config and an offline preset model, the task's recipe is the base."""
    from embodied_r1.models.presets import PRESETS

    cfg = _resolve(task, config, overrides, extra)
    recipe = _recipe(cfg.task)
    if config or not recipe or cfg.model.name not in PRESETS:
        return cfg
    return _resolve(task, config, overrides, extra, base={"task": cfg.task, **recipe})


def _recipe(task: str) -> dict:
    from embodied_r1.registry import REGISTRY

    return dict(REGISTRY.get_class(task).recipe or {})


def _resume_config(task, config, overrides, extra, output: str, allow_change: bool):
    """The config of a resumed run: its own ``config.yaml``, with what --config and overrides change on top.

    Returns:
        ``(cfg, changes)``; changes are refused unless ``allow_change``.
    """
    from embodied_r1.config import config_diff, config_from_dict, read_yaml

    stored_path = Path(output) / "config.yaml"
    if not stored_path.exists():
        raise UserError(f"--resume: {output} holds no run to continue (no config.yaml); drop --resume to start one")
    stored = read_yaml(stored_path)
    if task and stored.get("task") != task:
        raise UserError(f"--resume: {output} holds a run of task '{stored.get('task')}', not '{task}'")
    old = config_from_dict(stored, _task_cfg_cls)
    new = _resolve(None, config, overrides, extra, base=stored)
    changes = config_diff(old, new)
    if changes and not allow_change:
        raise UserError(f"--resume would change the run's settings ({'; '.join(changes)}); resume without them, or "
                        f"pass --allow-config-change to apply them and record the change in the run directory")
    return new, changes


@main.command(epilog=EPILOG_TRAIN)
@click.option("--task", "-t", help="Registered task name (see `embodied-r1 tasks`).")
@click.option("--config", "-c", type=click.Path(), help="YAML config (see configs/).")
@click.option("--model", "-m", help="Preset (tiny, small, qwen2.5-vl-3b-arch, qwen2.5-vl-7b-arch), hub id or folder.")
@click.option("--stage", type=click.Choice(stage_names()), help="Run only this stage (default: the config's stages).")
@click.option("--output", "-o", type=click.Path(), help="Run directory (default runs/<task>-<time>).")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its last complete checkpoint, "
                                              "with the run's own config.")
@click.option("--allow-config-change", is_flag=True, help="With --resume: apply settings that differ from the run's "
                                                          "config (recorded in config_changes.jsonl).")
@click.argument("overrides", nargs=-1)
def train(task, config, model, stage, output, resume, allow_config_change, overrides):
    """Train a policy on a task (SFT warm start and/or GRPO)."""
    from embodied_r1.rundir import RunDir
    from embodied_r1.run import Preempted, train as run_train

    if resume and not output:
        raise UserError("--resume needs --output RUN_DIR: the run to continue")
    if allow_config_change and not resume:
        raise UserError("--allow-config-change only applies with --resume")
    extra = ([f"model.name={model}"] if model else []) + ([f"stages=[{stage}]"] if stage else [])
    extra += [f"output_dir={output}"] if output else []
    if resume:
        cfg, changes = _resume_config(task, config, overrides, extra, output, allow_config_change)
        if changes and _is_main_process():  # one record, whatever the number of ranks
            RunDir(output).record_config_change(cfg, changes)
            click.secho(f"config changed on resume: {'; '.join(changes)}", fg="yellow", err=True)
    else:
        cfg = _train_config(task, config, overrides, extra)
    try:
        run = run_train(cfg, resume=resume, log=lambda m: click.echo(m), config_changed=bool(resume and changes))
    except Preempted as exc:
        click.secho(str(exc), fg="yellow", err=True)
        sys.exit(3)
    if run is not None:  # the main process reports for all ranks
        _print_summary(run)


def _is_main_process() -> bool:
    """Rank 0 of ``accelerate launch`` / torchrun (read from the launcher's environment), or a lone process."""
    return int(os.environ.get("RANK", "0")) == 0


def _print_summary(run):
    from rich.console import Console
    from rich.table import Table

    all_rows = run.read_metrics()
    rows = [r for r in all_rows if r.get("stage") == "grpo" and "reward" in r]
    keys = ["reward", "frac_reward_zero_std"]
    keys += sorted({key for r in rows for key in r if key.startswith("rewards/") and key.endswith("/mean")})
    title = "GRPO rewards"
    if not rows:  # an SFT-only run: its loss
        rows, keys, title = [r for r in all_rows if "loss" in r], ["loss", "mean_token_accuracy"], "training loss"
    table = Table(title=f"{title} · {run.path}")
    table.add_column("metric")
    table.add_column("first steps", justify="right")
    table.add_column("last steps", justify="right")
    k = max(1, min(5, len(rows) // 4 or 1))
    for key in keys:
        first = [r[key] for r in rows[:k] if key in r]
        last = [r[key] for r in rows[-k:] if key in r]
        if first or last:
            table.add_row(key, f"{sum(first) / len(first):.3f}" if first else "—",
                          f"{sum(last) / len(last):.3f}" if last else "—")
    Console().print(table)
    for w in run.info().get("warnings", []):
        click.secho(f"warning: {w}", fg="yellow")
    click.echo(f"plots: {run.path / 'plots'}   metrics: {run.metrics_path}   model: {run.path / 'final'}")


@main.command(name="eval", epilog="""\b
Examples:
  embodied-r1 eval --task touch --model runs/touch-quickstart
  embodied-r1 eval --task touch --model tiny eval.max_samples=50
""")
@click.option("--task", "-t", help="Task name (default: the run's task).")
@click.option("--model", "-m", required=True, help="Run directory, model folder, hub id or preset.")
@click.option("--config", "-c", type=click.Path(), help="YAML config for data/eval settings (default: the run's).")
@click.option("--output", "-o", type=click.Path(), help="Folder for eval.json and plots (default <run>/eval).")
@click.argument("overrides", nargs=-1)
def eval_cmd(task, model, config, output, overrides):
    """Evaluate a model on a task's benchmark split, next to training-free baselines."""
    from rich.console import Console

    from embodied_r1.evaluate import evaluate, metrics_table

    run_dir = Path(model)
    if not config and (run_dir / "config.yaml").exists():
        config = str(run_dir / "config.yaml")
        task = task or _run_task(run_dir)
    cfg = _resolve(task, config, overrides, ["output_dir=null"])  # eval writes to --output, not the run's folder
    out = Path(output) if output else (run_dir / "eval" if (run_dir / "run.json").exists() else Path("runs") / f"eval-{cfg.task}")
    result = evaluate(cfg, model, out, log=click.echo)
    if result is None:  # another process of `accelerate launch`: the main one reports
        return
    Console().print(metrics_table(result))
    click.echo(f"results: {out / 'eval.json'}")
    for a in result.get("artifacts", []):
        click.echo(f"plot: {a}")


def _run_task(run_dir: Path) -> str | None:
    p = run_dir / "run.json"
    return json.loads(p.read_text()).get("task") if p.exists() else None


class _TaskFlagsCommand(click.Command):
    """A command whose ``--help`` ends with the settings each task declares as ``--name value`` flags."""

    def __init__(self, *args, task_flags=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task_flags = task_flags  # fn() -> [(heading, lines)]

    def format_epilog(self, ctx, formatter):
        super().format_epilog(ctx, formatter)
        try:
            sections = self.task_flags() if self.task_flags else []
        except UserError:  # a task that cannot load must not break --help
            sections = []
        for heading, lines in sections:
            formatter.write_paragraph()
            formatter.write_text(heading)
            for line in lines:
                formatter.write(f"{line}\n")


def _control_flags() -> list[tuple[str, list[str]]]:
    from embodied_r1.control import control_task_names
    from embodied_r1.flags import describe_fields
    from embodied_r1.registry import REGISTRY

    out = []
    for name in control_task_names():
        cls = REGISTRY.get_class(name)
        policies = f"; built-in policies: {', '.join(cls.control_policies)}" if cls.control_policies else ""
        out.append((f"Options of task '{name}' (--name value, name=value, or YAML keys; first seed "
                    f"{cls.control_seed}{policies}):", describe_fields(cls.control_config_cls)))
    return out


def _data_flags() -> list[tuple[str, list[str]]]:
    import dataclasses
    import textwrap

    from embodied_r1.registry import REGISTRY

    out = []
    for name in REGISTRY.names():
        try:
            fields = [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(REGISTRY.get_class(name).config_cls)]
        except (UserError, TypeError):
            continue
        out.append((f"Settings of task '{name}' (--name value = {name}.name=value):",
                    textwrap.wrap(", ".join(fields), 104, initial_indent="  ", subsequent_indent="  ")))
    return out


def _task_overrides(flags, cls, prefix: str, owner: str) -> list[str]:
    """``--name value`` flags as ``prefix.name=value`` overrides, each name checked against ``cls``."""
    from embodied_r1.flags import flag_values

    out = []
    for name, raw in flags:
        (key,) = flag_values([(name, raw)], cls, owner)  # raises on an unknown name
        out.append(f"{prefix}{key}={'true' if raw is None else raw}")
    return out


@main.command(name="eval-control", cls=_TaskFlagsCommand, task_flags=_control_flags,
              context_settings={"ignore_unknown_options": True}, epilog="""\b
Examples:
  embodied-r1 eval-control --policy oracle --tasks Lift --episodes 10
  embodied-r1 eval-control --policy zero --tasks Lift,Stack --episodes 20 --seed 200000
  embodied-r1 eval-control --policy runs/robot-quickstart --tasks Lift --episodes 5 --workers 2
  embodied-r1 eval-control --config configs/eval_control.yaml
  embodied-r1 eval-control --policy oracle --tasks Lift --episodes 50 --output runs/ctl --resume   # after a kill
\b
A run directory as --policy brings its own task settings (e.g. its camera size) and seed: the offline score
uses the eval split of the dataset it trained on. Every other --name value sets the task's option 'name'.
""")
@click.option("--task", "-t", help="Task with closed-loop control (default: the only one registered).")
@click.option("--policy", "-p", help="A built-in policy of the task (e.g. oracle, zero), or a run directory / model "
                                     "folder / preset.")
@click.option("--config", "-c", type=click.Path(), help="YAML with these options and the task's (see "
                                                        "configs/eval_control.yaml).")
@click.option("--output", "-o", type=click.Path(), help="Folder for results, videos and plots.")
@click.option("--resume", is_flag=True, default=None,
              help="Continue the killed sweep in --output (same options): finished episodes are not run again.")
@click.option("--seed", type=int, help="First episode seed: each simulator task plays seeds seed, seed+1, ... "
                                       "(default: the task's).")
@click.argument("overrides", nargs=-1)
def eval_control(task, policy, config, output, resume, seed, overrides):
    """Closed-loop control: a policy proposes keypoints, a controller executes them in simulation."""
    from embodied_r1.config import apply_override, parse_override, read_yaml
    from embodied_r1.device import process_state

    # Episodes run in one process (its --workers parallelise the envs; the policy batches their queries); under
    # `accelerate launch` the other processes join the process group, which the main one waits for, and leave.
    if not process_state().is_main_process:
        click.echo("eval-control runs in the main process only (use --workers for parallel episodes)")
        return
    from embodied_r1.control import GENERIC_KEYS, control_context, control_task
    from embodied_r1.flags import flag_values, split_flags

    options = read_yaml(config) if config else {}
    flags, rest = split_flags(overrides)
    for text in rest:  # key=value overrides go on top of the YAML
        apply_override(options, *parse_override(text))
    generic = {k: options.pop(k) for k in GENERIC_KEYS if k in options}
    for k, v in (("task", task), ("policy", policy), ("output", output), ("resume", resume), ("seed", seed)):
        if v is not None:
            generic[k] = v
    t = control_task(generic.get("task"))
    options.update(flag_values(flags, t.control_config_cls, f"eval-control of task '{t.name}'"))
    ctx = control_context(t, options, policy=generic.get("policy"), output=generic.get("output"),
                          resume=bool(generic.get("resume")), seed=generic.get("seed"), log=click.echo)
    t.run_control(ctx)


@main.command(cls=_TaskFlagsCommand, task_flags=_data_flags, epilog="""\b
Examples:
  embodied-r1 data touch
  embodied-r1 data touch touch.num_levels=5 --rebuild
  embodied-r1 data touch --rebuild --workers 8               # 8 processes render (same rows, same cache)
  embodied-r1 data robot-keypoint --tasks Lift,Stack --episodes 20
  embodied-r1 data touch --output datasets/touch-k3          # a copy to share (HF datasets + card.json)
  embodied-r1 data touch --push-to-hub me/touchsim-k3        # needs a Hugging Face token
\b
Every other --name value sets the task's setting 'name' (the same as NAME.name=value).
""", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.option("--config", "-c", type=click.Path(), help="YAML config whose task section sets the data.")
@click.option("--rebuild", is_flag=True, help="Build again even if cached.")
@click.option("--output", "-o", type=click.Path(), help="Also export the built dataset to this new folder.")
@click.option("--push-to-hub", "push_repo", help="Also push the built dataset to this hub repo (private).")
@click.option("--workers", type=click.IntRange(min=1), help="Processes that build the dataset (default: the config's "
                                                           "data_workers, else the cores available); the rows and "
                                                           "the cache entry do not depend on it.")
@click.argument("overrides", nargs=-1)
def data(name, config, rebuild, output, push_repo, workers, overrides):
    """Build and cache a task's dataset (HF datasets on disk, with a card); optionally export or push it."""
    from embodied_r1.data import check_export_target, export_dataset, load_or_build, push_dataset
    from embodied_r1.flags import split_flags
    from embodied_r1.registry import REGISTRY

    flags, rest = split_flags(overrides)
    extra = _task_overrides(flags, REGISTRY.get_class(name).config_cls, f"{name}.", f"task '{name}'")
    cfg = _resolve(name, config, tuple(rest), extra)
    if output:
        check_export_target(output)  # before the build, which may take minutes
    ds, path = load_or_build(REGISTRY.make(name), cfg.task_config, cfg.seed, rebuild=rebuild,
                             num_workers=workers or cfg.data_workers)
    for split, d in ds.items():
        click.echo(f"{split:>12}: {len(d)} rows")
    click.echo(f"saved: {path} (card: {path / 'card.json'})")
    if output:
        click.echo(f"exported: {export_dataset(path, Path(output))}")
    if push_repo:
        push_dataset(ds, push_repo)
        click.echo(f"pushed: {push_repo}")


@main.command()
def tasks():
    """List registered tasks, one line each."""
    from embodied_r1.registry import REGISTRY

    for name in REGISTRY.names():
        try:
            desc = REGISTRY.get_class(name).description
        except UserError as exc:
            desc = f"(cannot load: {exc})"
        click.echo(f"{name:<16} {desc}")


@main.command()
def models():
    """List the offline model presets (no download needed)."""
    from embodied_r1.models.presets import PRESETS

    for name, p in PRESETS.items():
        click.echo(f"{name:<20} {p.description}")


@main.command(epilog="\b\nExample:\n  embodied-r1 plot runs/touch-20261121-120000")
@click.argument("run_dir", type=click.Path())
def plot(run_dir):
    """Redraw a run's PNG plots from its metrics.jsonl (also works while it trains)."""
    from embodied_r1.plots import plot_run
    from embodied_r1.rundir import RunDir

    run = RunDir(run_dir)
    rows = run.read_metrics()
    if not rows:
        raise UserError(f"{run_dir} has no metrics.jsonl rows yet; is it a run directory?")
    for p in plot_run(run.read_metrics(kind=None), run.path / "plots"):
        click.echo(f"plot: {p}")


if __name__ == "__main__":
    main()
