"""The touch task: Touch-R1-style ordinal tactile reasoning on simulated (and real) optical tactile images.

``TouchTask`` is registered as ``touch`` through the ``embodied_r1.tasks`` entry point. Importing this package
imports only the task class and its config (no ``datasets``, simulator or plotting).
"""

from tasks.touch.config import TouchConfig
from tasks.touch.task import TouchTask

__all__ = ["TouchConfig", "TouchTask"]
