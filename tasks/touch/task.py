"""``TouchTask``: the Touch-R1 tactile reasoning task plugin (data, rewards, parser, bench, report)."""

from __future__ import annotations

from embodied_r1.task import CounterfactualSpec, Task
from tasks.touch.config import COUNTERFACTUAL_MODES, RECIPE, REWARD_TABLE, TouchConfig


class TouchTask(Task):
    """Ordinal tactile reasoning (hardness, roughness, bumpiness) on simulated optical tactile sensors.

    Rows and answers follow docs/CONTRACTS.md ("Touch task"); rows of one ``contact_id`` are one press seen
    through several sensors, batched together by the core's group sampler. Heavy modules (``datasets``, the
    simulator, matplotlib) are imported inside the methods, so registering the task imports nothing heavy.
    """

    name = "touch"
    description = "Touch-R1 tactile reasoning: ordinal hardness/roughness/bumpiness from optical tactile images"
    config_cls = TouchConfig
    group_column = "contact_id"
    #: 2: sensor streams keyed by the sensor's name (not its list index), rendezvous choice of sensors per contact.
    #: 3: fresh objects held out by a level-combination rule, sensor randomisation (touch.objects=catalog and
    #: touch.random_sensor_fraction=0 give the rows of version 2).
    #: 4: tactile frames shown as difference images from the sensor's no-contact frame, channels standardised
    #: (``touch.tactile_view``; ``raw`` gives the rows of version 3).
    data_version = "4"
    recipe = RECIPE
    #: Touch-R1's four rewards; the core's default ``reward_specs`` builds them with ``cfg.rewards``.
    reward_table = REWARD_TABLE
    #: The encoder stage trains on simulated press sequences (see :meth:`encoder_data`).
    encoder_modalities = ("tactile",)

    def group_size(self, cfg: TouchConfig) -> int:
        """Rows per contact: one per sensor it is rendered through."""
        return cfg.sensors_per_contact

    def build_dataset(self, cfg: TouchConfig, seed: int, num_workers: int = 1):
        """``DatasetDict`` with ``train``, ``test`` and ``test_heldout_sensor`` (see :mod:`tasks.touch.data`);
        the simulated contacts render in ``num_workers`` processes, with the same rows for any number."""
        from tasks.touch.data import build_touch_dataset

        return build_touch_dataset(cfg, seed, num_workers=num_workers)

    def data_fingerprint(self, cfg: TouchConfig) -> str:
        """Digest of the real-data folder's labels, sample lists and image listing ("" without real data);
        see :func:`tasks.touch.real_labels.real_data_fingerprint`."""
        from tasks.touch.real_labels import real_data_fingerprint

        return real_data_fingerprint(cfg)

    def dataset_card(self, cfg: TouchConfig, ds) -> dict:
        """Generation parameters, per-split counts by question type and sensor, and for real data the samples
        that lack each property's label (merged into card.json)."""
        from tasks.touch.data import dataset_card

        return dataset_card(cfg, ds)

    def encoder_data(self, cfg: TouchConfig, seed: int, modality: str, frames: int, events: int | None = None,
                     num_workers: int = 1):
        """Simulated press sequences for the encoder stage (:mod:`tasks.touch.encoder_data`): ``events`` train
        contacts (default ``touch.train_contacts``), rendered in ``num_workers`` processes; with real data
        configured they still come from the simulator."""
        from tasks.touch.encoder_data import touch_encoder_data

        return touch_encoder_data(cfg, seed, frames, events=events, num_workers=num_workers)

    def counterfactual_specs(self, cfg: TouchConfig) -> list[CounterfactualSpec]:
        """The tactile counterfactual variants named in ``cfg.counterfactuals`` (those the tactile-grounded
        reward compares against; without any, that reward is left out)."""
        return [CounterfactualSpec(name, "tactile", COUNTERFACTUAL_MODES[name]) for name in cfg.counterfactuals]

    def eval_counterfactuals(self, cfg: TouchConfig) -> list[CounterfactualSpec]:
        """Counterfactual variants of ``embodied-r1 eval``: all of ``cfg.counterfactuals``, whatever the weights."""
        return self.counterfactual_specs(cfg)

    def parse(self, text):
        """``{"text", "level", "choice"}`` of the last ``<answer>``, or None without one; never raises."""
        from tasks.touch.metrics import parse_answer

        try:
            return parse_answer(text)
        except Exception:  # noqa: BLE001 - the API promises no exceptions
            return None

    def sft_target(self, row: dict) -> str:
        """Gold Touch-R1-tagged completion of a row (templated evidence, then the answer)."""
        from tasks.touch.questions import gold_completion

        return gold_completion(row)

    def metrics(self, completions, rows, counterfactual=None, cfg: TouchConfig | None = None) -> dict:
        """TouchSim bench metrics (see :mod:`tasks.touch.metrics`); the ``format`` metric uses the config's
        ``touch_format_reward`` settings when ``cfg`` is given."""
        from tasks.touch.metrics import touch_metrics

        fmt = (cfg.rewards.get("touch_format_reward") or {}) if cfg is not None else {}
        return touch_metrics(completions, rows, counterfactual,
                             format_max_chars=fmt.get("max_chars") if isinstance(fmt, dict) else None)

    def baselines(self, rows, seed: int = 0, train_rows=None) -> dict[str, list[str]]:
        """``random`` (uniform valid answer), ``majority_train`` (most frequent level of all level questions
        and most frequent letter per choice type in the *train* labels: a prior a model could learn) and
        ``majority_eval`` (the same from the evaluated rows' own labels: it knows the eval set's label
        distribution, so it is an optimistic floor); see :func:`tasks.touch.metrics.majority_answers`."""
        from tasks.touch.metrics import majority_answers, random_answers

        out = {"random": random_answers(rows, seed)}
        if train_rows:
            out["majority_train"] = majority_answers(rows, reference=train_rows)
        out["majority_eval"] = majority_answers(rows)
        return out

    def write_report(self, result, rows, completions, out_dir) -> list:
        """Confusion matrices per property and accuracy per sensor / question type (PNGs in ``out_dir``)."""
        from tasks.touch.report import write_touch_report

        return write_touch_report(result, rows, completions, out_dir)
