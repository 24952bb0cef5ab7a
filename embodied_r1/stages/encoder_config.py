"""Settings of the ``encoder`` stage (the ``encoder:`` section of a run's YAML).

Plain data validated in ``__post_init__`` (no I/O)::

    stages: [encoder, sft, grpo]
    encoder:
      max_steps: 200
      learning_rate: 1.0e-4
      batch_size: 8          # events per batch, each with every view the task renders of it
      frames: 4              # frames per sequence: the stage predicts frame t+1's latent from frame t
      ema_decay: 0.99
      property_weight: 0.5   # auxiliary heads (skipped when the task has no labels / a single view)
      contrastive_weight: 0.1
      lora: false
"""

from __future__ import annotations

from dataclasses import dataclass

from embodied_r1.errors import UserError

PREDICT = ("pooled", "patch")
PROPERTY_LOSSES = ("classify", "regress")


@dataclass
class EncoderConfig:
    """The encoder stage: the VLM's own vision tower learns to predict the next frame's latent (JEPA-style).

    Args:
        modality: Image modality to train on, one of the task's ``encoder_modalities`` (None: its first).
        frames: Frames per sequence (>= 2); each consecutive pair is one prediction.
        events: Training events (e.g. touch contacts) the task renders for this stage (0: the task's default,
            for touch its ``train_contacts``); simulated tasks can render many more than SFT has rows.
        max_steps: Optimizer steps.
        learning_rate: Peak learning rate (linear decay after ``warmup_steps``).
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up steps.
        batch_size: Events per batch (an event brings every view the task rendered of it, e.g. one press seen
            by two sensors).
        ema_decay: Decay of the target encoder, an exponential moving average of the online encoder.
        predict: ``pooled`` (the mean of the image's latents) or ``patch`` (every merged patch latent).
        predictor_hidden: Hidden width of the predictor MLP (0: twice the latent width).
        jepa_weight: Weight of the next-frame latent prediction (0: off, the target and predictor then do no work;
            for ablations: what the auxiliary heads alone teach the tower).
        property_weight: Weight of the property head on the task's labels (0: off).
        property_loss: ``classify`` (a K-way classifier per property, cross-entropy; the default) or
            ``regress`` (the level / (K - 1) by mean squared error, the behaviour before).
        contrastive_weight: Weight of the cross-view contrastive term: views of one event are positives (0: off).
        temperature: Temperature of the contrastive term.
        lora: Train LoRA adapters on the vision tower instead of all its weights (merged at the end).
        lora_r, lora_alpha: LoRA rank and scale.
        save_steps, save_total_limit, logging_steps: Checkpoint and logging cadence (as in TRL's sections).
        probe: Fit the end-of-stage linear probe (per property, on held-out sets) and plot it.
        probe_l2: L2 penalty of the probe's logistic regression (on standardised features).
        probe_iterations: L-BFGS iterations of the probe fit.
        dataloader_num_workers: Processes that run the image processor on the next batches while the GPU
            trains (0: in the training process); the batches are the same for any number.
    """

    modality: str | None = None
    frames: int = 4
    events: int = 0
    max_steps: int = 200
    learning_rate: float = 1e-4
    weight_decay: float = 0.05
    warmup_steps: int = 0
    batch_size: int = 8
    ema_decay: float = 0.99
    predict: str = "pooled"
    predictor_hidden: int = 0
    jepa_weight: float = 1.0
    property_weight: float = 0.5
    property_loss: str = "classify"
    contrastive_weight: float = 0.1
    temperature: float = 0.1
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    save_steps: int = 50
    save_total_limit: int = 3
    logging_steps: int = 1
    probe: bool = True
    probe_l2: float = 1e-2
    probe_iterations: int = 100
    dataloader_num_workers: int = 0

    def __post_init__(self):
        for name, lo in (("frames", 2), ("max_steps", 1), ("batch_size", 1), ("save_steps", 1), ("logging_steps", 1),
                         ("lora_r", 1), ("lora_alpha", 1), ("probe_iterations", 1), ("save_total_limit", 1),
                         ("warmup_steps", 0), ("predictor_hidden", 0),
                         ("dataloader_num_workers", 0), ("events", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < lo:
                raise UserError(f"encoder.{name} must be an integer >= {lo}, got {value!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"encoder.ema_decay must be in [0, 1), got {self.ema_decay}")
        for name in ("learning_rate", "temperature"):
            if not getattr(self, name) > 0:
                raise UserError(f"encoder.{name} must be > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "jepa_weight", "property_weight", "contrastive_weight", "probe_l2"):
            if not getattr(self, name) >= 0:
                raise UserError(f"encoder.{name} must be >= 0, got {getattr(self, name)}")
        if not (self.jepa_weight or self.property_weight or self.contrastive_weight):
            raise UserError("encoder.jepa_weight, property_weight and contrastive_weight are all 0: the stage would "
                            "train nothing; set one of them > 0 or drop 'encoder' from stages")
        if self.property_loss not in PROPERTY_LOSSES:
            raise UserError(f"encoder.property_loss '{self.property_loss}' is not one of {', '.join(PROPERTY_LOSSES)}")
        if self.predict not in PREDICT:
            raise UserError(f"encoder.predict '{self.predict}' is not one of {', '.join(PREDICT)}")
