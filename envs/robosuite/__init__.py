"""robosuite worlds: envs, scripted experts, demo recording, keyframes, keypoint execution.

Importing this package does not import robosuite (nor MuJoCo): the modules that need it import it
inside their functions. Inside this package ``import robosuite`` always means the real library,
since this package is ``envs.robosuite`` and every import here is absolute.

Public API::

    make_env(task_name, seed, camera_size=224, wrist=False, control="absolute", horizon=1000) -> TaskEnv
    run_expert(env) -> ExpertResult
    record_demo(task_name, seed, ...) -> Demo
    record_demos(task_name, n_episodes, seed0=0, progress=True) -> (list[Demo], stats)
    to_hf_dataset(demos) -> datasets.Dataset; save_demos(demos, path, stats); load_demos(path)
    extract_keyframes(joint_velocities, gripper_open, vel_tol=0.1, stop_buffer=4) -> list[int]
    KeypointExecutor(env).execute([x, y, z, g]) -> ExecutionResult
    oracle_keyframes(task_name, seed) -> list[[x, y, z, g]]; run_oracle(task_name, seed) -> OracleResult
    KeypointControlEnv (gymnasium); register_envs(); control_env_id(task_name) -> gymnasium id
    SimulatorFault (raised by TaskEnv.step: MuJoCo error, NaN state, unstable simulation; see envs.robosuite.faults)
    task_instruction(task_name), task_metadata(task_name), reference_point(task_name),
    workspace_bounds(task_name), TABLE_CENTRE, PANDA_EEF_SIZE, SUPPORTED_TASKS
    TASKS: task name -> TaskSpec (instruction, workspace, camera, expert, object poses), one module per task
    in envs/robosuite/tasks/ (README, "Add a robosuite task")
"""

from envs.robosuite.keyframes import extract_keyframes
from envs.robosuite.tasks import (
    PANDA_EEF_SIZE,
    SUPPORTED_TASKS,
    TABLE_CENTRE,
    TASKS,
    get_task,
    reference_point,
    task_instruction,
    task_metadata,
    workspace_bounds,
)

_LAZY = {
    "make_env": "envs.robosuite.make",
    "TaskEnv": "envs.robosuite.make",
    "controller_config": "envs.robosuite.make",
    "run_expert": "envs.robosuite.experts",
    "get_expert": "envs.robosuite.experts",
    "Demo": "envs.robosuite.recorder",
    "record_demo": "envs.robosuite.recorder",
    "record_demos": "envs.robosuite.recorder",
    "to_hf_dataset": "envs.robosuite.dataset",
    "save_demos": "envs.robosuite.dataset",
    "load_demos": "envs.robosuite.dataset",
    "load_demo_dataset": "envs.robosuite.dataset",
    "KeypointExecutor": "envs.robosuite.executor",
    "ExecutionResult": "envs.robosuite.executor",
    "oracle_keyframes": "envs.robosuite.executor",
    "run_oracle": "envs.robosuite.executor",
    "KeypointControlEnv": "envs.robosuite.control_env",
    "register_envs": "envs.robosuite.control_env",
    "ENV_ID": "envs.robosuite.control_env",
    "control_env_id": "envs.robosuite.control_env",
    "SimulatorFault": "envs.robosuite.faults",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envs.robosuite' has no attribute {name!r}")


__all__ = [
    "PANDA_EEF_SIZE",
    "SUPPORTED_TASKS",
    "TABLE_CENTRE",
    "TASKS",
    "extract_keyframes",
    "get_task",
    "reference_point",
    "task_instruction",
    "task_metadata",
    "workspace_bounds",
    *_LAZY,
]
