"""Training stages (``encoder``, ``sft``, ``grpo``): each declares its config section, preflight, trainer and save.

See :mod:`embodied_r1.stages.base` for the API and :mod:`embodied_r1.stages.registry` for the names.
"""

from embodied_r1.stages.base import Stage, StageContext, StageError
from embodied_r1.stages.registry import get_stage, register_stage, stage_names

__all__ = ["Stage", "StageContext", "StageError", "get_stage", "register_stage", "stage_names"]
