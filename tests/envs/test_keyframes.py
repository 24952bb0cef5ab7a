"""ARM/PerAct keyframe heuristic on synthetic trajectories with hand-derived answers."""

from __future__ import annotations

import numpy as np
import pytest

from envs.robosuite.keyframes import extract_keyframes


def traj(t: int, still=(), closed=()):
    """Velocities 1.0 except zero on ``still`` frames; gripper open except on ``closed`` frames."""
    vel = np.ones((t, 7))
    vel[list(still)] = 0.0
    grip_open = np.ones(t, dtype=bool)
    grip_open[list(closed)] = False
    return vel, grip_open


def test_single_stop_gripper_change_and_last_frame():
    vel, grip = traj(10, still=[4], closed=range(7, 10))
    assert extract_keyframes(vel, grip) == [4, 7, 9]


def test_moving_arm_with_constant_gripper_has_only_the_last_frame():
    vel, grip = traj(12)
    assert extract_keyframes(vel, grip) == [11]


def test_stop_buffer_allows_one_stop_every_five_frames_of_rest():
    # Rest over frames 3..12: stop at 3, buffer 4 blocks 4..7, stop again at 8, blocked 9..12.
    vel, grip = traj(20, still=range(3, 13))
    assert extract_keyframes(vel, grip) == [3, 8, 19]


def test_stop_buffer_length_is_a_parameter():
    vel, grip = traj(20, still=range(3, 13))
    assert extract_keyframes(vel, grip, stop_buffer=2) == [3, 6, 9, 12, 19]
    assert extract_keyframes(vel, grip, stop_buffer=0) == list(range(3, 13)) + [19]


def test_buffer_counts_down_while_moving():
    # Stops at 2 and 5 are 3 frames apart: the buffer set at 2 still blocks 5; 8 is free again.
    vel, grip = traj(12, still=[2, 5, 8])
    assert extract_keyframes(vel, grip) == [2, 8, 11]


def test_gripper_change_is_a_keyframe_even_while_moving():
    vel, grip = traj(10, closed=range(4, 10))
    assert extract_keyframes(vel, grip) == [4, 9]


def test_no_stop_next_to_a_gripper_change():
    # Still at 5 but the gripper changes at 6 (inside 3..6): not a stop. Still at 7: window 5..8 has the
    # change: not a stop. Still at 8: window 6..9 all closed: a stop.
    vel, grip = traj(14, still=[5, 7, 8], closed=range(6, 14))
    assert extract_keyframes(vel, grip) == [6, 8, 13]


def test_the_second_to_last_frame_is_never_a_stop():
    vel, grip = traj(10, still=[8])
    assert extract_keyframes(vel, grip) == [9]


def test_adjacent_last_two_keyframes_drop_the_first():
    # Gripper closes on frame 8 of 10: keyframes [8, 9] are adjacent, so 8 is dropped.
    vel, grip = traj(10, closed=[8, 9])
    assert extract_keyframes(vel, grip) == [9]
    # Only the last pair is checked: an earlier adjacent pair (close at 4, reopen at 5) stays.
    vel, grip = traj(12, closed=[4])
    assert extract_keyframes(vel, grip) == [4, 5, 11]


def test_velocity_tolerance_is_inclusive_per_joint():
    vel, grip = traj(10, still=[4])
    vel[4] = 0.1
    assert extract_keyframes(vel, grip) == [4, 9]
    vel[4, 3] = 0.11  # one joint still moving
    assert extract_keyframes(vel, grip) == [9]
    vel[4] = 0.0
    vel[4, 3] = -0.05  # sign does not matter
    assert extract_keyframes(vel, grip, vel_tol=0.06) == [4, 9]
    assert extract_keyframes(vel, grip, vel_tol=0.04) == [9]


def test_frame_zero_is_never_a_keyframe_but_its_stop_sets_the_buffer():
    # Rest on 0..2: frame 0 counts as a stop (not reported), so 1 and 2 are blocked by the buffer.
    vel, grip = traj(10, still=[0, 1, 2])
    assert extract_keyframes(vel, grip) == [9]
    vel, grip = traj(10, still=[0, 5])
    assert extract_keyframes(vel, grip) == [5, 9]


def test_tiny_and_invalid_inputs():
    assert extract_keyframes(np.zeros((1, 7)), np.ones(1, bool)) == []
    assert extract_keyframes(np.zeros((2, 7)), np.ones(2, bool)) == [1]
    with pytest.raises(ValueError):
        extract_keyframes(np.zeros((5, 7)), np.ones(4, bool))
    with pytest.raises(ValueError):
        extract_keyframes(np.zeros(5), np.ones(5, bool))


def test_lift_like_trajectory():
    """approach (stop) -> descend (grasp) -> close -> lift: the expected 4 keyframes."""
    t = 40
    vel = np.full((t, 7), 0.4)
    vel[10] = 0.02  # pause above the cube
    vel[18:26] = 0.01  # at the cube, gripper closing from frame 19
    grip = np.ones(t, dtype=bool)
    grip[19:] = False
    # 18: gripper changes at 19 (inside 16..19) -> no stop; 19: change; 20: window 18..21 has the
    # change; 21: stop (window 19..22 closed, buffer run out); 22..25 blocked by the buffer.
    assert extract_keyframes(vel, grip) == [10, 19, 21, 39]
