"""``embodied-r1 eval-control``: hand closed-loop evaluation to the task that implements it.

The core does not know any simulator: it finds the registered task with ``supports_control`` and gives it a
policy factory that turns a checkpoint, folder or preset into a :class:`embodied_r1.rollout.Generator`.
"""

from __future__ import annotations

from embodied_r1.errors import UserError
from embodied_r1.registry import REGISTRY


def control_task_names() -> list[str]:
    """Registered tasks that implement closed-loop control."""
    names = []
    for n in REGISTRY.names():
        try:
            if REGISTRY.get_class(n).supports_control:
                names.append(n)
        except UserError:
            continue
    return names


def run_control(task: str | None, options: dict, log=print) -> dict:
    """Run the task's closed-loop evaluation with ``options`` (its own schema)."""
    names = control_task_names()
    if task is None:
        if len(names) != 1:
            raise UserError(f"pass --task: tasks with closed-loop control: {', '.join(names) or 'none'}")
        task = names[0]
    if task not in names:
        raise UserError(f"task '{task}' has no closed-loop control; tasks that do: {', '.join(names) or 'none'}")

    def policy_factory(spec: str, batch_size: int = 16):
        from embodied_r1.evaluate import load_generator

        return load_generator(spec, batch_size=batch_size)

    return REGISTRY.make(task).run_control(options, policy_factory, log=log)
