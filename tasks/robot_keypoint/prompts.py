"""Prompt text, gold completions and answer parsing, shared by training data and the closed-loop policy.

The closed-loop runner builds its queries with :func:`build_prompt` and reads the answers with
:func:`parse_keypoint`, exactly as the training rows were built and scored, so a trained policy sees at
control time the prompt it was trained on.
"""

from __future__ import annotations

import numpy as np

from rewards import answer_of, parse_choice, parse_direction, parse_vector
from tasks.robot_keypoint.questions import LETTERS, direction_label

FORMAT_NOTE = "Reason inside <think></think>, then give only the answer inside <answer></answer>."


def fmt_vec(v) -> str:
    """``[x, y, z, g]`` with positions to the millimetre and the gripper as 0/1.

    >>> fmt_vec([0.12, -0.05, 0.9104, 0.9])
    '[0.120, -0.050, 0.910, 1]'
    >>> fmt_vec([0.1, 0.2, 0.3])
    '[0.100, 0.200, 0.300]'
    """
    xs = [f"{float(x):.3f}" for x in list(v)[:3]]
    if len(v) > 3:
        xs.append(str(int(float(v[3]) >= 0.5)))
    return "[" + ", ".join(xs) + "]"


def gripper_word(g: float) -> str:
    return "closed" if float(g) >= 0.5 else "open"


def metadata_text(instruction: str, reference, eef_size, state=None) -> str:
    """The scene metadata every question shows (Robot-R1): task, axes, reference point, scale, state.

    Args:
        instruction: Task instruction.
        reference: Table-centre reference point ``[x, y, z]`` (world frame, m).
        eef_size: ``(open width, finger length)`` of the gripper (m), as a scale reference.
        state: Current ``[x, y, z, g]`` of the end-effector, or None to leave it out.
    """
    lines = [
        "The image shows a Panda robot arm with a parallel gripper, seen by the front camera.",
        f"Task: {instruction}.",
        "World frame, metres: x forward (away from the robot base), y to the robot's left, z up.",
        f"Reference point: the table-top centre is at {fmt_vec(list(reference)[:3])}.",
        f"Scale: the open gripper is {float(eef_size[0]):.2f} m wide; its fingers are {float(eef_size[1]):.2f} m long.",
        "Gripper g: 1 closed, 0 open.",
    ]
    if state is not None:
        lines.append(f"Current end-effector [x, y, z, g]: {fmt_vec(state)} (gripper {gripper_word(state[3])}).")
    return "\n".join(lines)


def question_text(question_type: str, options=None, slight_threshold: float = 0.05) -> str:
    """The question line(s) of a question type (``options``: MCQ keypoints in order A..D)."""
    if question_type == "keypoint":
        return "Question: what is the next keypoint [x, y, z, g] of the end-effector? Answer like [0.100, -0.050, 0.900, 1]."
    if question_type == "current_state":
        return ("Question: what is the current end-effector state [x, y, z, g], as seen in the image? "
                "Answer like [0.100, -0.050, 0.900, 0].")
    if question_type == "mcq":
        opts = "\n".join(f"{LETTERS[i]}. {fmt_vec(o)}" for i, o in enumerate(options or []))
        return f"Question: which option is the next keypoint [x, y, z, g] of the end-effector?\n{opts}\nAnswer with the letter."
    if question_type == "direction":
        return ("Question: which primitive move brings the end-effector towards its next keypoint? Answer "
                "move forward/backward/left/right/up/down, with 'slightly' first if the move along that axis is "
                f"under {slight_threshold:.2f} m.")
    raise ValueError(f"unknown question type '{question_type}'")


def build_prompt(question_type: str, instruction: str, state, reference, eef_size, options=None,
                 slight_threshold: float = 0.05) -> list[dict]:
    """The conversational prompt of one question: the image placeholder, then metadata and question.

    ``current_state`` questions leave the current state out of the metadata (it is what they ask).

    Args:
        question_type: ``keypoint``, ``mcq``, ``current_state`` or ``direction``.
        instruction: Task instruction.
        state: Current ``[x, y, z, g]``.
        reference: Table-centre reference ``[x, y, z]``.
        eef_size: ``(open width, finger length)`` of the gripper (m).
        options: MCQ options (``mcq`` only).
        slight_threshold: Threshold quoted in direction questions.

    Returns:
        ``[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": ...}]}]``.
    """
    meta = metadata_text(instruction, reference, eef_size, None if question_type == "current_state" else state)
    text = f"{meta}\n{question_text(question_type, options, slight_threshold)}\n{FORMAT_NOTE}"
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def answer_text(question_type: str, target=None, letter: str | None = None, direction: str | None = None) -> str:
    """The canonical ``answer`` column of a row."""
    if question_type in ("keypoint", "current_state"):
        return fmt_vec(target)
    if question_type == "mcq":
        return str(letter)
    return str(direction)


def _move_phrase(current, target, slight_threshold: float) -> str:
    d = np.asarray(target[:3], float) - np.asarray(current[:3], float)
    dist = float(np.linalg.norm(d))
    grip = ("close the gripper" if target[3] >= 0.5 > current[3] else
            "open the gripper" if current[3] >= 0.5 > target[3] else f"keep the gripper {gripper_word(target[3])}")
    return (f"the next keypoint is {dist:.3f} m away, offset [{d[0]:+.3f}, {d[1]:+.3f}, {d[2]:+.3f}], "
            f"mostly: {direction_label(d, slight_threshold)}; then {grip}")


def sft_completion(row: dict, slight_threshold: float = 0.05) -> str:
    """A gold completion: templated reasoning from the row's labels, then the canonical answer.

    Args:
        row: A dataset row (``question_type``, ``answer``, ``target``, ``current``, ``options``, ``instruction``).
        slight_threshold: Threshold named in direction reasoning.
    """
    q, cur, tgt = row["question_type"], row.get("current"), row.get("target")
    if q == "current_state":
        think = f"Against the table-centre reference, the gripper in the image is at {fmt_vec(tgt[:3])}, {gripper_word(tgt[3])}."
    elif q == "keypoint":
        think = f"From {fmt_vec(cur)}, {_move_phrase(cur, tgt, slight_threshold)}."
    elif q == "mcq":
        think = (f"From {fmt_vec(cur)}, {_move_phrase(cur, tgt, slight_threshold)}. "
                 f"Option {row['answer']} is {fmt_vec(tgt)}.")
    else:
        d = np.asarray(tgt[:3], float) - np.asarray(cur[:3], float)
        axis = int(np.argmax(np.abs(d)))
        think = (f"The next keypoint is {fmt_vec(tgt)}; the offset is [{d[0]:+.3f}, {d[1]:+.3f}, {d[2]:+.3f}], "
                 f"largest along {'xyz'[axis]} ({abs(d[axis]):.3f} m, threshold {slight_threshold:.2f} m).")
    return f"<think>{think}</think><answer>{row['answer']}</answer>"


def parse_answer(text) -> dict | None:
    """Everything an answer could be: ``{"vector", "choice", "direction"}`` (each None if absent).

    Returns None when there is no ``<answer>`` tag at all.

    >>> parse_answer("<think>x</think><answer>[0.1, 0, 0.9, 1]</answer>")["vector"]
    [0.1, 0.0, 0.9, 1.0]
    >>> parse_answer("no tags") is None
    True
    """
    if answer_of(text) is None:
        return None
    return {"vector": parse_vector(text, 4), "choice": parse_choice(text, "ABCD"),
            "direction": parse_direction(text)}


def parse_keypoint(text) -> list[float] | None:
    """The ``[x, y, z, g]`` keypoint of a completion (gripper rounded to 0/1), or None.

    >>> parse_keypoint("<answer>[0.1, 0.2, 0.9, 0.7]</answer>")
    [0.1, 0.2, 0.9, 1.0]
    """
    v = parse_vector(text, 4)
    if v is None:
        return None
    return [v[0], v[1], v[2], float(min(1.0, max(0.0, v[3])) >= 0.5)]
