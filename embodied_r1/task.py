"""The task plugin API: what a task declares so the core can train, evaluate and control with it.

A task is a subclass of :class:`Task` registered by name (see :mod:`embodied_r1.registry`). The core calls
only the methods below; it never imports a task module by name.

A task config is data plus rewards (:mod:`embodied_r1.reward_table`): its ``rewards`` field holds each
reward's weight and parameters and stays out of the dataset cache key; every other field is data. The
rewards come from the task's ``reward_table`` (the default :meth:`Task.reward_specs` builds them), or from
its own ``reward_specs``.

Minimal example (a complete task lives in ``tests/fixtures/toy_task.py``)::

    ECHO_REWARDS = {"echo_reward": RewardEntry(echo_reward, weight=1.0)}

    @dataclass
    class EchoConfig:
        rows: int = 64                                     # data
        rewards: dict = field(default_factory=dict)        # rewards: weights and parameters

        def __post_init__(self):
            self.rewards = resolve_rewards(ECHO_REWARDS, self.rewards, "echo.rewards")

    class EchoTask(Task):
        name = "echo"
        description = "repeat a digit"
        config_cls = EchoConfig
        reward_table = ECHO_REWARDS
        def build_dataset(self, cfg, seed, num_workers=1): ...  # -> DatasetDict with train/test
        def parse(self, text): ...
        def metrics(self, completions, rows): ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator


def cache_root() -> Path:
    """The one folder of cached data: ``$EMBODIED_R1_DATA`` or ``~/.cache/embodied-r1/datasets``.

    The core keeps built datasets under ``<root>/<task>/<key>/``; a task keeps its own raw material (recorded
    demos, rendered assets) under ``<root>/<task>-<what>/``.
    """
    return Path(os.environ.get("EMBODIED_R1_DATA", Path.home() / ".cache" / "embodied-r1" / "datasets"))


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Write a folder that appears whole or not at all.

    Yields a fresh temporary sibling of ``path``, private to this process; when the block ends without an
    exception the temporary folder replaces ``path`` (an older ``path`` is removed first), otherwise it is
    removed and ``path`` is left as it was. A kill in the middle leaves only the temporary folder, which a
    later write clears once its process is gone.

    >>> import tempfile; root = Path(tempfile.mkdtemp())
    >>> with atomic_dir(root / "entry") as tmp:
    ...     _ = (tmp / "a.txt").write_text("x")
    >>> sorted(p.name for p in root.iterdir())
    ['entry']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f"{path.name}.tmp-*"):  # left by killed writers
        if not _alive(stale.name.rsplit("-", 1)[-1]):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class CounterfactualSpec:
    """One counterfactual input variant for rewards that compare real and counterfactual answers.

    Args:
        name: Variant name, the key in the reward's ``counterfactual_completions`` argument.
        modality: Which images to alter, matched against the row's ``image_modalities`` column.
        mode: ``remove`` (drop the image and its placeholder, leaving a text note), ``swap`` (the same
            modality's image from another row of the batch whose group differs) or ``noise`` (Gaussian noise
            with the image's own per-channel mean and std).
    """

    name: str
    modality: str
    mode: str

    def __post_init__(self):
        if self.mode not in ("remove", "swap", "noise"):
            raise ValueError(f"counterfactual mode '{self.mode}' is not one of remove, swap, noise")


@dataclass
class RewardSpec:
    """A reward function in TRL's signature with its weight.

    Args:
        fn: ``fn(prompts, completions, **columns) -> list[float | None]``; its ``__name__`` is the logged name.
        weight: Weight in the weighted sum that GRPO turns into advantages.
        counterfactuals: Variants whose greedy answers the core passes as ``counterfactual_completions``.
    """

    fn: Callable
    weight: float = 1.0
    counterfactuals: list[CounterfactualSpec] = field(default_factory=list)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", type(self.fn).__name__)


@dataclass
class EncoderSequence:
    """One recorded event for the encoder stage: frames of one view in time order (e.g. a press, force rising).

    Args:
        frames: ``H x W x 3`` uint8 arrays (or PIL images), in time order; all of one size.
        group: The physical event; sequences of one group recorded by other views (sensors) are the
            cross-view positives of the contrastive term.
        view: The sensor or camera that recorded it.
        labels: Property name -> ordinal level (for the property head and the linear probe); may be empty.
    """

    frames: list
    group: str
    view: str
    labels: dict = field(default_factory=dict)


@dataclass
class EncoderData:
    """What the encoder stage trains and probes on (:meth:`Task.encoder_data`).

    Args:
        train: Training sequences; the stage batches all sequences of one ``group`` together.
        eval: Held-out sets by name (e.g. ``heldout_objects``, ``heldout_sensor``) for the linear probe.
        num_levels: Property name -> number of ordinal levels of its labels.
    """

    train: list
    eval: dict = field(default_factory=dict)
    num_levels: dict = field(default_factory=dict)


class Task:
    """Base class of a task plugin. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_cls: ClassVar[type] = object
    #: Column whose equal values must share a generation batch (e.g. one contact seen by several sensors).
    group_column: ClassVar[str | None] = None
    #: Bump when the task's data code changes: it is part of the dataset cache key, so old caches are not reused.
    data_version: ClassVar[str] = "1"
    #: Settings a bare ``train --task NAME`` on an offline random-init preset starts from (config-file shape:
    #: ``stages``, ``sft``, ``grpo``, ``eval`` and the task's own section). A YAML given with ``--config``
    #: replaces it whole; ``key=value`` overrides go on top of it.
    recipe: ClassVar[dict] = {}
    #: Reward name -> :class:`~embodied_r1.reward_table.RewardEntry`: how each reward is built, its default
    #: weight and parameters. The config's ``rewards`` field is resolved against it (see
    #: :func:`~embodied_r1.reward_table.resolve_rewards`); the default :meth:`reward_specs` builds from it.
    reward_table: ClassVar[dict] = {}

    def group_size(self, cfg: Any) -> int | None:
        """Rows per ``group_column`` value, when the config fixes it (the GRPO batch is checked against it
        before any work starts); None when unknown or variable."""
        return None

    def build_dataset(self, cfg: Any, seed: int, num_workers: int = 1):
        """Build the task's data.

        Args:
            cfg: An instance of ``config_cls``.
            seed: Seed of the run.
            num_workers: Worker processes the build may use (the run's ``data_workers``, by default the cores
                available). A task may ignore it; the rows must not depend on it, since it is not part of the
                dataset cache key.

        Returns:
            ``datasets.DatasetDict`` with at least ``train`` and ``test``; rows carry a conversational
            ``prompt`` (user content with ``{"type": "image"}`` placeholders), ``images`` (list of PIL images),
            ``image_modalities`` and the label columns the rewards read.
        """
        raise NotImplementedError

    def data_fingerprint(self, cfg: Any) -> str:
        """A digest of the input files ``build_dataset`` reads, or "" when it reads none (the default).

        It enters the dataset cache key next to the settings, so that editing files inside a folder the
        config names (labels, sample lists) builds afresh instead of loading the stale cache. It runs on every
        load, cache hits included: keep it to cheap reads (label files, directory listings), not every image.

        Args:
            cfg: An instance of ``config_cls``.

        Returns:
            A short string that changes when those files change; "" adds nothing to the key.
        """
        return ""

    def reward_specs(self, cfg: Any) -> list[RewardSpec]:
        """The rewards and weights for GRPO: by default those of :attr:`reward_table` with a non-zero weight,
        with the weights and parameters of the config's ``rewards`` field. Override it only for rewards a
        table cannot describe.

        Raises:
            UserError: An unknown reward or parameter in the config (one line, naming the closest name).
        """
        if not self.reward_table:
            raise NotImplementedError(f"task '{self.name}' declares neither a reward_table nor reward_specs")
        from embodied_r1.reward_table import REWARDS_FIELD, build_reward_specs

        return build_reward_specs(self.reward_table, getattr(cfg, REWARDS_FIELD, None),
                                  self.counterfactual_specs(cfg), f"{self.name}.{REWARDS_FIELD}")

    def counterfactual_specs(self, cfg: Any) -> list[CounterfactualSpec]:
        """The counterfactual variants handed to the table's counterfactual rewards (default: none)."""
        return []

    def parse(self, text: str) -> Any:
        """Parse a model answer; never raises (returns None when unparseable)."""
        raise NotImplementedError

    def sft_target(self, row: dict) -> str:
        """A gold completion for a row, used by the SFT warm start."""
        raise NotImplementedError

    def metrics(self, completions: list[str], rows: list[dict], counterfactual: dict[str, list[str]] | None = None,
                cfg: Any = None) -> dict:
        """Scalar evaluation metrics of ``completions`` (one per row); ``counterfactual`` maps variant -> answers;
        ``cfg`` is the task config when the caller has it (metrics that mirror a reward follow its settings)."""
        raise NotImplementedError

    def baselines(self, rows: list[dict], seed: int = 0, train_rows: list[dict] | None = None) -> dict[str, list[str]]:
        """Training-free baseline answers (name -> one completion per row), scored with :meth:`metrics`.

        ``train_rows`` holds the train split's label columns (no images), for priors such as a majority
        answer learned from training labels rather than from the evaluated rows.
        """
        return {}

    def eval_counterfactuals(self, cfg: Any) -> list[CounterfactualSpec]:
        """Counterfactual variants evaluated by ``embodied-r1 eval`` (default: those of the rewards)."""
        out: list[CounterfactualSpec] = []
        for spec in self.reward_specs(cfg):
            out += [c for c in spec.counterfactuals if c not in out]
        return out

    #: Image modalities whose frame sequences :meth:`encoder_data` can give the ``encoder`` stage (none: the task
    #: offers no encoder data, and a run with that stage is refused before any work).
    encoder_modalities: ClassVar[tuple[str, ...]] = ()

    def encoder_data(self, cfg: Any, seed: int, modality: str, frames: int, events: int | None = None,
                     num_workers: int = 1) -> EncoderData | None:
        """Frame sequences of one image modality for the ``encoder`` stage (default: None, the task has none).

        Args:
            cfg: An instance of ``config_cls`` (its data settings: sizes, splits, views).
            seed: Seed of the run; the same seed must give the same sequences (resume relies on it).
            modality: One of :attr:`encoder_modalities`.
            frames: Frames per sequence (>= 2).
            events: Training events to render (``encoder.events``; None: the task's default). Optional: a task
                whose method does not take it runs with its default, and ``encoder.events`` is refused for it.
            num_workers: Processes the task may render in (the run's ``data_workers``); the sequences must be
                the same for any number. Optional like ``events``.

        Returns:
            An :class:`EncoderData`, or None when the task has no such sequences.
        """
        return None

    def dataset_card(self, cfg: Any, ds) -> dict:
        """Extra fields for the dataset's ``card.json`` (counts per question type, label conventions, ...)."""
        return {}

    def write_report(self, result: dict, rows: list[dict], completions: list[str], out_dir) -> list:
        """Optional task-specific artifacts (plots) for an eval; returns written paths."""
        return []

    # Closed-loop control: tasks that can drive a simulator declare these (see `embodied-r1 eval-control`).
    #: Dataclass of the task's control options (the ``eval-control`` YAML keys and ``--name value`` flags beyond
    #: the generic ones); None: the task has no closed-loop control.
    control_config_cls: ClassVar[type | None] = None
    #: Policies the task runs itself, without a model (e.g. ``oracle``, ``zero``); the first is the default.
    control_policies: ClassVar[tuple[str, ...]] = ()
    #: First episode seed when ``--seed`` is not given (keep it away from the seeds of the training data).
    control_seed: ClassVar[int] = 0

    def run_control(self, ctx: "ControlContext") -> dict:
        """Run closed-loop evaluation with what the core resolved in ``ctx``; returns the summary dict."""
        raise NotImplementedError(f"task '{self.name}' has no closed-loop control evaluation")


@dataclass
class ControlContext:
    """What the core resolves for a task's closed-loop evaluation (``embodied-r1 eval-control``).

    The task reads no config file and no cache folder: the core resolves the policy (a run directory brings
    its own task config, data seed and model settings from its ``config.yaml``), validates the options
    against the task's ``control_config_cls``, and hands over the ways to load the policy model and the eval
    data, both lazily, so that a resumed sweep with nothing left to run loads neither.

    Args:
        policy: A built-in policy name (one of the task's ``control_policies``) or the model spec as given
            (run directory, model folder, hub id or preset).
        options: The validated instance of the task's ``control_config_cls``.
        task_config: The task's config (``config_cls``): the run directory's own, else the task's defaults.
        data_seed: The seed the eval data is built with (the run's ``seed``, else 0).
        seed: First episode seed (``--seed``, else the task's ``control_seed``).
        output: Folder for the sweep's results, summary and artifacts.
        resume: Continue the sweep in ``output`` instead of starting one.
        log: Takes progress lines.
        make_generator: ``fn(batch_size) -> Generator`` (:class:`embodied_r1.rollout.Generator`) of the
            policy model; None for built-in policies. The task calls it at most once.
        load_eval_data: ``fn() -> (DatasetDict, path)``: the task's dataset for ``task_config`` and
            ``data_seed`` (cached, or built on the first call, through :func:`embodied_r1.data.load_or_build`).
        answer_rows: ``fn(generator, rows, batch_size=, max_new_tokens=) -> completions``: greedy answers to the
            rows' prompts and images, in batches, as ``embodied-r1 eval`` answers them; score them with the
            task's own :meth:`Task.metrics`.
    """

    policy: str
    options: Any
    task_config: Any
    data_seed: int
    seed: int
    output: Path
    resume: bool = False
    log: Callable[[str], None] = print
    make_generator: Callable[[int], Any] | None = None
    load_eval_data: Callable[[], tuple] | None = None
    answer_rows: Callable[..., list[str]] | None = None

    @property
    def is_builtin(self) -> bool:
        """Whether the policy runs inside the task (no model to load)."""
        return self.make_generator is None
