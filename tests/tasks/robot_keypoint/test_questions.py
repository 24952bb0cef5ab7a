"""robot-keypoint labels: frame/keyframe pairing, direction phrases, MCQ distractors (no simulator)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.robot_keypoint.questions import all_directions, direction_label, make_mcq, pair_samples, sample_distractors

BOUNDS = (np.array([-0.25, -0.3, 0.80]), np.array([0.25, 0.3, 1.20]))


def test_pairing_takes_the_next_keyframe_not_yet_reached():
    keys = [12, 20, 34]
    pairs = pair_samples(40, keys, 5)
    assert pairs == [(0, 12), (5, 12), (10, 12), (15, 20), (20, 34), (25, 34), (30, 34)]
    for i, k in pairs:
        assert k > i and not any(i < kk < k for kk in keys)
    # a sampled frame that is itself a keyframe goes on to the next one; frames past the last are dropped
    assert pair_samples(21, [10, 20], 10) == [(0, 10), (10, 20)]
    assert pair_samples(10, [], 2) == []


def test_pairing_on_a_synthetic_demo_with_extracted_keyframes():
    from envs.robosuite.keyframes import extract_keyframes

    t = 60
    vel = np.ones((t, 7))
    vel[25:27] = 0.0  # the arm stops around frame 25
    grip = np.ones(t, dtype=bool)
    grip[40:] = False  # closes at 40
    keys = extract_keyframes(vel, grip)
    assert 25 in keys and 40 in keys and keys[-1] == t - 1
    pairs = dict(pair_samples(t, keys, 10))
    assert pairs[0] == pairs[10] == pairs[20] == 25 and pairs[30] == 40 and pairs[40] == pairs[50] == t - 1


@pytest.mark.parametrize("delta,label", [
    ([0.0, 0.0, 0.12], "move up"), ([0.0, 0.0, -0.3], "move down"),
    ([0.2, 0.05, 0.0], "move forward"), ([-0.2, 0.0, 0.1], "move backward"),
    ([0.0, 0.1, 0.0], "move left"), ([0.01, -0.08, 0.0], "move right"),
    ([0.0, 0.0, 0.03], "slightly move up"), ([-0.049, 0.01, 0.0], "slightly move backward"),
    ([0.0, -0.02, 0.01], "slightly move right"), ([0.05, 0.0, 0.0], "move forward"),  # threshold itself: not slight
])
def test_direction_labels_follow_the_world_frame(delta, label):
    assert direction_label(delta, 0.05) == label
    assert label in all_directions()


def test_direction_label_threshold_is_configurable():
    assert direction_label([0.0, 0.0, 0.08], 0.1) == "slightly move up"


def test_mcq_distractors_are_in_band_separated_and_inside_the_workspace():
    rng = np.random.default_rng(0)
    for truth in ([0.0, 0.0, 0.9, 0.0], [0.2, 0.25, 0.82, 1.0], [-0.24, -0.29, 1.19, 1.0]):
        for _ in range(20):
            options, letter = make_mcq(truth, rng, BOUNDS)
            assert len(options) == 4 and options["ABCD".index(letter)] == truth
            pos = np.array(options)[:, :3]
            for i in range(4):
                assert np.all(pos[i] >= BOUNDS[0] - 1e-9) and np.all(pos[i] <= BOUNDS[1] + 1e-9)
                if i != "ABCD".index(letter):
                    d = np.linalg.norm(pos[i] - np.array(truth[:3]))
                    assert 0.05 - 1e-9 <= d <= 0.25 + 1e-9
                    assert options[i][3] == truth[3]
                for j in range(i):
                    assert np.linalg.norm(pos[i] - pos[j]) >= 0.04
    letters = {make_mcq([0, 0, 0.9, 0], rng, BOUNDS)[1] for _ in range(60)}
    assert letters == set("ABCD")


def test_mcq_distractors_leave_no_nearest_to_current_shortcut():
    rng = np.random.default_rng(1)
    hits = total = 0
    for _ in range(300):
        cur = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(0.85, 1.1)])
        u = rng.normal(size=3)
        truth = [*(cur + u / np.linalg.norm(u) * rng.uniform(0.05, 0.2)), 1.0]
        made = make_mcq(truth, rng, BOUNDS, current=[*cur, 0.0])
        if made is None:
            continue
        options, letter = made
        for i, o in enumerate(options):
            if i != "ABCD".index(letter):
                assert 0.05 <= np.linalg.norm(np.array(o[:3]) - truth[:3]) <= 0.25
        d = np.linalg.norm(np.array(options)[:, :3] - cur, axis=1)
        hits += int(np.argmin(d) == "ABCD".index(letter))
        total += 1
    assert total > 250 and hits / total < 0.4  # chance is 0.25; truth-centred distractors give ~0.75


def test_mcq_gives_up_when_constraints_cannot_hold():
    tiny = (np.array([0, 0, 0.8]), np.array([0.01, 0.01, 0.81]))
    assert sample_distractors([0.005, 0.005, 0.805, 0], np.random.default_rng(0), tiny, tries=50) is None
