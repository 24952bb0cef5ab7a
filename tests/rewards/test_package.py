"""The package boundary: re-exports, and no imports beyond stdlib + numpy."""

import subprocess
import sys

import rewards


def test_reexports():
    for name in rewards.__all__:
        assert callable(getattr(rewards, name)), name


def test_imports_nothing_of_the_project_nor_torch():
    code = ("import sys, rewards; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'transformers', 'trl', 'embodied_r1', 'tasks', 'envs')]; print(bad); assert not bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
