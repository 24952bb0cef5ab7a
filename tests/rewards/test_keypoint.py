"""keypoint_reward, mcq_reward, direction_reward: exact values."""

import pytest

from rewards.keypoint import make_direction_reward, make_keypoint_reward, mcq_reward


def A(x):
    return f"<think>t</think><answer>{x}</answer>"


def test_names():
    assert make_keypoint_reward().__name__ == "keypoint_reward"
    assert make_direction_reward().__name__ == "direction_reward"
    assert mcq_reward.__name__ == "mcq_reward"


def test_keypoint_formula():
    tau, w = 0.10, 0.25
    kp = make_keypoint_reward(tau=tau, gripper_weight=w)
    target = [0.1, -0.05, 0.9, 1.0]
    comps = [
        A("[0.1, -0.05, 0.9, 1]"),    # exact -> 1
        A("[0.15, -0.05, 0.9, 1]"),   # distance tau/2, gripper right -> 0.75*0.5 + 0.25
        A("[0.15, -0.05, 0.9, 0]"),   # distance tau/2, gripper wrong -> 0.375
        A("[0.1, 0.05, 0.9, 1]"),     # distance tau -> 0 + 0.25
        A("[0.1, -0.05, 0.9, 0.7]"),  # g rounds to 1 -> 1
        A("[0.1, -0.05, 0.9, 7]"),    # g clips to 1 -> 1
        A("[0.1, -0.05, 0.9, -3]"),   # g clips to 0 -> 0.75
        A("[0.1, -0.05, 0.9]"),       # 3 numbers -> 0
        A("[0.1, nan, 0.9, 1]"),      # NaN -> 0
    ]
    n = len(comps)
    out = kp(None, comps, question_type=["keypoint"] * n, target=[target] * n, answer=[None] * n)
    assert out == pytest.approx([1.0, (1 - w) * 0.5 + w, 0.375, 0.25, 1.0, 1.0, 0.75, 0.0, 0.0])


def test_keypoint_target_fallback_and_none_rows():
    kp = make_keypoint_reward()
    comps = [A("[0, 0, 0, 0]")] * 4
    out = kp(None, comps, question_type=["current_state", "keypoint", "mcq", "direction"],
             target=[None, "garbage", [0, 0, 0, 0], []], answer=["[0, 0, 0, 0]", "junk", "A", "move up"])
    assert out == [1.0, 0.0, None, None]


def test_keypoint_factory_validates():
    for bad in (dict(tau=0), dict(tau=float("inf")), dict(gripper_weight=1.5), dict(gripper_weight=-0.1)):
        with pytest.raises(ValueError):
            make_keypoint_reward(**bad)


def test_mcq():
    comps = [A("C"), A("(c) the third"), A("B"), A("none"), A("C")]
    out = mcq_reward(None, comps, question_type=["mcq"] * 4 + ["keypoint"], answer=["C"] * 4 + ["[0,0,0,0]"])
    assert out == [1.0, 1.0, 0.0, 0.0, None]
    assert mcq_reward(None, [A("A")], question_type=["mcq"], answer=[None]) == [0.0]


def test_direction_partial():
    d = make_direction_reward(partial=0.5)
    comps = [A("slightly move up"), A("move up"), A("move down"), A("slightly move down"), A("hold"),
             A("Slightly move UPWARDS.")]
    n = len(comps)
    out = d(None, comps, question_type=["direction"] * n, answer=["slightly move up"] * n)
    assert out == [1.0, 0.5, 0.0, 0.0, 0.0, 1.0]
    assert make_direction_reward(partial=0.2)(None, [A("move left")], question_type=["direction"],
                                              answer=["slightly move left"]) == [0.2]
    assert d(None, [A("move up")], question_type=["mcq"], answer=["move up"]) == [None]
    with pytest.raises(ValueError):
        make_direction_reward(partial=2)
