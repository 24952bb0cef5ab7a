"""embodied_r1.flags: a task's settings as ``--name value`` flags, checked against its dataclass."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from embodied_r1.errors import UserError
from embodied_r1.flags import describe_fields, field_docs, flag_values, split_flags


@dataclass
class Options:
    """Settings.

    Args:
        episodes: Episodes per task. More text.
        max_calls: Calls per episode.
        low, high: A range,
            over two lines.
        progress: Show a bar.

    Returns:
        nothing documented as a field.
    """

    episodes: int = 10
    max_calls: int = 3
    low: float = 0.0
    high: float = 1.0
    progress: bool = True


def test_flags_and_overrides_are_told_apart_in_order():
    flags, rest = split_flags(["--episodes", "3", "a.b=1", "--max-calls=4", "--progress", "--low", "-0.5", "x=2"])
    assert flags == [("episodes", "3"), ("max-calls", "4"), ("progress", None), ("low", "-0.5")]
    assert rest == ["a.b=1", "x=2"]
    assert split_flags(["--progress", "k=v"]) == ([("progress", None)], ["k=v"])  # a switch before an override


def test_flag_values_are_yaml_and_unknown_names_are_one_line():
    values = flag_values([("episodes", "3"), ("max-calls", "4"), ("progress", "false"), ("low", "-0.5")], Options, "x")
    assert values == {"episodes": 3, "max_calls": 4, "progress": False, "low": -0.5}
    assert flag_values([("progress", None)], Options, "x") == {"progress": True}
    with pytest.raises(UserError) as err:
        flag_values([("episode", "3")], Options, "task 'demo'")
    msg = str(err.value)
    assert msg == ("--episode is not a setting of task 'demo' (did you mean --episodes?); its settings: --episodes, "
                   "--max-calls, --low, --high, --progress")


def test_help_lines_come_from_the_args_section():
    assert field_docs(Options) == {"episodes": "Episodes per task", "max_calls": "Calls per episode",
                                   "low": "A range,", "high": "A range,", "progress": "Show a bar"}
    lines = describe_fields(Options)
    assert lines[0].startswith("  --episodes (10)") and lines[0].endswith("Episodes per task")
    assert lines[1].startswith("  --max-calls (3)") and len(lines) == 5
