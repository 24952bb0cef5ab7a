"""The labels of one sample: frame/keyframe pairing, movement direction, and MCQ distractors.

Pure functions (numpy only), so they are tested without a simulator.

MCQ distractors (why these numbers): each of the 3 wrong options is a plausible *alternative next move*: the
current end-effector position displaced in a uniformly random direction by about as far as the true next
keypoint is (``|truth - current|`` times a factor drawn from [0.6, 1.4], at least ``min_dist``). Options
scattered around the truth instead would leave a shortcut that needs no image: "pick the option nearest the
current state" then answers most rows right (measured on Lift/Stack demo frames: 75% with truth-centred
distractors, 41% with these; the rest of the gap to 25% is the gripper-only steps below). Each distractor must also be between ``min_dist`` and ``max_dist`` (default 0.05-0.25 m) from
the truth: below 5 cm an option would be ambiguous (the keypoint reward gives it most of its credit and the
image cannot tell it apart at 224 px), above 25 cm trivially wrong (about a third of the table). Every
option lies inside the task's workspace box (``envs.robosuite.workspace_bounds``), so none is ruled out for
being off the table or under it, and every two options are at least ``min_separation`` (default 4 cm) apart,
so none are near-duplicates. Distractors keep the true gripper value: the question is about where the
end-effector goes next. For gripper-only steps (the truth within a few mm of the current state) the truth
stays the option nearest the current state; the ``stay`` baseline's ``mcq_acc`` measures what is left.
"""

from __future__ import annotations

import numpy as np

AXES = (("forward", "backward"), ("left", "right"), ("up", "down"))  # +/- x, +/- y, +/- z (CONTRACTS)
LETTERS = "ABCD"


def pair_samples(n_frames: int, keyframes: list[int], every: int) -> list[tuple[int, int]]:
    """Sample frames ``0, every, 2*every, ...`` and pair each with the first keyframe strictly after it.

    Frames at or after the last keyframe have nothing left to reach and are dropped.

    Args:
        n_frames: Length of the demo.
        keyframes: Sorted keyframe indices.
        every: Sampling stride (frames).

    Returns:
        ``[(frame, next_keyframe), ...]``.

    >>> pair_samples(35, [12, 20, 34], 10)
    [(0, 12), (10, 12), (20, 34), (30, 34)]
    """
    keys = sorted(int(k) for k in keyframes)
    out = []
    for i in range(0, int(n_frames), int(every)):
        nxt = next((k for k in keys if k > i), None)
        if nxt is not None:
            out.append((i, nxt))
    return out


def direction_label(delta, slight_threshold: float = 0.05) -> str:
    """Primitive movement of a displacement: the dominant axis and its sign, "slightly" if it is small.

    World frame (docs/CONTRACTS.md): +x forward, +y left, +z up.

    Args:
        delta: ``next - current`` position (m), 3 numbers.
        slight_threshold: Dominant-axis displacement (m) under which the move is "slightly ...".

    Returns:
        E.g. ``"move up"`` or ``"slightly move backward"``.

    >>> direction_label([0.01, -0.2, 0.05]), direction_label([-0.03, 0.0, 0.01])
    ('move right', 'slightly move backward')
    """
    d = np.asarray(delta, dtype=float)[:3]
    axis = int(np.argmax(np.abs(d)))
    word = AXES[axis][0 if d[axis] >= 0 else 1]
    return f"slightly move {word}" if abs(d[axis]) < slight_threshold else f"move {word}"


def all_directions() -> list[str]:
    """The 12 direction phrases (6 directions, with and without "slightly")."""
    words = [w for pair in AXES for w in pair]
    return [f"move {w}" for w in words] + [f"slightly move {w}" for w in words]


def sample_distractors(truth, rng: np.random.Generator, bounds, current=None, min_dist: float = 0.05,
                       max_dist: float = 0.25, min_separation: float = 0.04, n: int = 3, tries: int = 1000):
    """Wrong MCQ options (see the module docstring for the constraints).

    Args:
        truth: True ``[x, y, z, g]``.
        rng: Random generator.
        bounds: ``(lo, hi)`` workspace box.
        current: Current ``[x, y, z, ...]``; distractors are moves from here as long as the true move. None:
            displacements of the truth itself.
        min_dist, max_dist: Distance band (m) from the truth's position.
        min_separation: Minimum distance (m) between any two options (truth included).
        n: Number of distractors.
        tries: Rejection-sampling budget.

    Returns:
        ``n`` keypoints ``[x, y, z, g]``, or None if the budget ran out (the caller drops the question).
    """
    t = np.asarray(truth, dtype=float)
    lo, hi = (np.asarray(b, dtype=float) for b in bounds)
    if current is None:
        centre, radius = t[:3], None
    else:
        centre = np.asarray(current, dtype=float)[:3]
        radius = max(float(np.linalg.norm(t[:3] - centre)), min_dist)
    chosen: list[np.ndarray] = []
    for _ in range(tries):
        u = rng.normal(size=3)
        u /= np.linalg.norm(u) + 1e-12
        r = rng.uniform(min_dist, max_dist) if radius is None else radius * rng.uniform(0.6, 1.4)
        p = centre + u * r
        if np.any(p < lo) or np.any(p > hi):
            continue
        if not min_dist <= np.linalg.norm(p - t[:3]) <= max_dist:
            continue
        if any(np.linalg.norm(p - q) < min_separation for q in [t[:3], *chosen]):
            continue
        chosen.append(p)
        if len(chosen) == n:
            return [[*map(float, p), float(t[3])] for p in chosen]
    return None


def make_mcq(truth, rng: np.random.Generator, bounds, **kw):
    """A 4-option question: the truth at a random letter among 3 distractors.

    Returns:
        ``(options, letter)`` with options as ``[x, y, z, g]`` lists in order A..D, or None (see
        :func:`sample_distractors`).
    """
    wrong = sample_distractors(truth, rng, bounds, **kw)
    if wrong is None:
        return None
    k = int(rng.integers(0, 4))
    options = wrong[:k] + [[float(v) for v in truth]] + wrong[k:]
    return options, LETTERS[k]
