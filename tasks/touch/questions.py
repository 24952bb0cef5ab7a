"""Question templates and gold reasoning for the touch task (Touch-R1 tags, Octopi-style questions).

A question is built from one or more :class:`Reading` s (tactile frames of one press through one sensor,
with the object's true levels) and turned into the row columns of docs/CONTRACTS.md. Five types:

* ``level``: one reading, "what is the object's hardness level?" on a stated scale ``0 = soft ... K-1 = hard``
  (some rows add an agreeing camera photo, so that a photo alone does not give a conflict away);
* ``compare``: two readings (objects A, B), "which object is harder?"; the answer is the letter of the
  option with the higher level;
* ``superlative``: three readings (A, B, C), "which is the hardest?"; the unique top option's letter;
* ``conflict``: one reading plus a camera photo whose look contradicts touch; the answer follows touch;
* ``cross_sensor``: the same press recorded by two sensors (images 1 and 2); the answer is its level.

Completions use ``<perceive>``, optional ``<compare>``, ``<conclude>`` and a final ``<answer>``;
:func:`gold_completion` writes a short templated one from the row's labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LETTERS = "ABC"

#: Display names of the image sources that have no simulated profile (real-data sensors, the camera); a
#: simulated sensor's display name is its profile's ``display_name`` in ``envs.tactile.SENSORS``.
OTHER_SOURCE_NAMES = {"gelsight": "GelSight", "camera": "camera"}

#: Level names per property and K (Octopi's 3-level names for K = 3).
LEVEL_NAMES = {
    "hardness": {
        3: ["soft", "moderately hard", "hard"],
        4: ["soft", "slightly hard", "moderately hard", "hard"],
        5: ["very soft", "soft", "moderately hard", "hard", "very hard"],
    },
    "roughness": {
        3: ["smooth", "slightly rough", "rough"],
        4: ["smooth", "slightly rough", "rough", "very rough"],
        5: ["very smooth", "smooth", "slightly rough", "rough", "very rough"],
    },
    "bumpiness": {
        3: ["no bumps", "small bumps", "big bumps"],
        4: ["no bumps", "a few small bumps", "many small bumps", "big bumps"],
        5: ["no bumps", "very small bumps", "small bumps", "medium bumps", "big bumps"],
    },
}
ADJECTIVE = {"hardness": ("hard", "harder", "hardest"), "roughness": ("rough", "rougher", "roughest"),
             "bumpiness": ("bumpy", "bumpier", "bumpiest")}

#: What a press shows, from the least to the most of each property (5 grades; K levels map onto them).
EVIDENCE = {
    "hardness": [
        "a shallow, very wide imprint with faint edges",
        "a wide imprint with soft edges",
        "a medium imprint with clear edges",
        "a narrow imprint with sharp edges",
        "a small, deep imprint with very sharp edges",
    ],
    "roughness": [
        "smooth, even shading",
        "faint fine texture",
        "visible fine texture",
        "strong texture",
        "coarse, strong texture",
    ],
    "bumpiness": [
        "no separate bumps",
        "a few tiny bumps",
        "several small bumps",
        "many clear bumps",
        "many big bumps",
    ],
}

FORMAT = ("Think before answering: write what the touch shows in <perceive></perceive>, optionally compare in "
          "<compare></compare>, conclude in <conclude></conclude>, then give only {hint} in <answer></answer>.")
LEVEL_QUESTIONS = ["What is the object's {prop} level?", "How {adj} is the object? Give its {prop} level."]
COMPARE_QUESTIONS = ["Which object is {more}: A or B?",
                     "Is object A {more} than object B? Answer with the letter of the {more} object."]
SUPERLATIVE_QUESTIONS = ["Which object is the {most}: A, B or C?", "Select the {most} object: A, B or C."]


@dataclass
class Reading:
    """Tactile frames of one press of one object through one sensor, with the object's true levels.

    Attributes:
        frames: PIL images in order of rising force (the last is the full press).
        sensor: Sensor profile name.
        levels: Property -> true ordinal level.
        object_id: Identifier of the pressed object.
    """

    frames: list
    sensor: str
    levels: dict
    object_id: str = ""
    meta: dict = field(default_factory=dict)


def sensor_name(sensor: str) -> str:
    """Human name of an image source, as prompts and figures show it.

    Args:
        sensor: A sensor profile name (``envs.tactile.SENSORS``), a real-data sensor or ``camera``.

    Returns:
        The profile's ``display_name`` (a table profile's, or a procedural ``random_<hex>`` one's), else the
        name in :data:`OTHER_SOURCE_NAMES`, else the name with spaces for underscores.

    >>> sensor_name("digit"), sensor_name("gelsight"), sensor_name("new_sensor")
    ('DIGIT', 'GelSight', 'new sensor')
    """
    from envs.tactile import SENSORS, is_random_sensor, random_sensor

    if sensor in SENSORS:
        return SENSORS[sensor].display_name
    if is_random_sensor(sensor):
        return random_sensor(sensor).display_name
    return OTHER_SOURCE_NAMES.get(sensor, sensor.replace("_", " "))


def level_names(prop: str, k: int) -> list[str]:
    """Names of the K levels of a property, least first.

    >>> level_names("hardness", 3)
    ['soft', 'moderately hard', 'hard']
    """
    return list(LEVEL_NAMES[prop][k])


def scale_text(prop: str, k: int) -> str:
    """The scale sentence of a level question.

    >>> scale_text("roughness", 3)
    'Scale for roughness: 0 = smooth, 1 = slightly rough, 2 = rough.'
    """
    names = level_names(prop, k)
    return f"Scale for {prop}: " + ", ".join(f"{i} = {n}" for i, n in enumerate(names)) + "."


def evidence(prop: str, level: int, k: int) -> str:
    """What a press of an object at ``level`` shows for ``prop`` (K levels spread over 5 grades).

    >>> evidence("hardness", 0, 3)
    'a shallow, very wide imprint with faint edges'
    """
    grades = EVIDENCE[prop]
    return grades[int(round(level / (k - 1) * (len(grades) - 1)))]


def _span(start: int, n: int) -> str:
    return f"image {start}" if n == 1 else f"images {start}-{start + n - 1}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _user_prompt(n_images: int, text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}] * n_images + [{"type": "text", "text": text}]}]


def _level_question(prop: str, k: int, rng) -> str:
    q = _pick(rng, LEVEL_QUESTIONS).format(prop=prop, adj=ADJECTIVE[prop][0])
    return f"{q} {scale_text(prop, k)} " + FORMAT.format(hint=f"the level number 0-{k - 1}")


def make_row(qtype: str, prop: str, k: int, readings: list[Reading], rng: np.random.Generator,
             visual=None, visual_level: int = -1) -> dict:
    """Turn readings into a touch row (prompt, images and label columns of docs/CONTRACTS.md).

    Args:
        qtype: ``level``, ``compare``, ``superlative``, ``conflict`` or ``cross_sensor``.
        prop: The property asked about.
        k: Number of levels K.
        readings: One reading (level, conflict), the options in order A, B[, C] (compare, superlative), or
            the primary and the partner sensor's reading of the same press (cross_sensor).
        rng: Picks the wording.
        visual: Camera image (PIL) for ``conflict`` (required) or ``level`` (optional context).
        visual_level: The level the camera image suggests (-1 without one).

    Returns:
        The row's columns except ``contact_id``, ``split_tag`` and ``source``.
    """
    first = readings[0]
    nf = len(first.frames)
    sname = sensor_name(first.sensor)
    images = [im for r in readings for im in r.frames]
    modalities = ["tactile"] * len(images)
    sources = [r.sensor for r in readings for _ in r.frames]
    option_levels: list[int] = []
    if qtype == "conflict" and visual is None:
        raise ValueError("a conflict question needs a camera image")
    if qtype in ("level", "conflict"):
        if visual is not None:
            intro = (f"{_cap(_span(1, nf))}: tactile reading from a {sname} sensor; image {nf + 1}: a camera "
                     f"photo of the same object. The photo can be misleading: judge by touch.")
        else:
            intro = f"{_cap(_span(1, nf))}: tactile reading from a {sname} sensor pressed on an object."
        text = f"{intro} {_level_question(prop, k, rng)}"
        answer = str(first.levels[prop])
    elif qtype == "cross_sensor":
        other = readings[1]
        intro = (f"{_cap(_span(1, nf))} ({sname}) and {_span(nf + 1, len(other.frames))} "
                 f"({sensor_name(other.sensor)}) record the same press of one object with two different sensors; "
                 f"the sensors differ in colour, resolution and gel stiffness.")
        text = f"{intro} {_level_question(prop, k, rng)}"
        answer = str(first.levels[prop])
    elif qtype in ("compare", "superlative"):
        n = len(readings)
        spans = [_span(1 + i * nf, nf) for i in range(n)]
        verb = "is" if nf == 1 else "show"
        parts = [f"{s} {verb} object {LETTERS[i]}" for i, s in enumerate(spans)]
        intro = _cap(", ".join(parts[:-1]) + f" and {parts[-1]}") + f", each pressed on a {sname} sensor."
        option_levels = [int(r.levels[prop]) for r in readings]
        top = max(option_levels)
        if option_levels.count(top) != 1:
            raise ValueError(f"{qtype} options need a unique top level, got {option_levels}")
        answer = LETTERS[option_levels.index(top)]
        if qtype == "compare":
            q = _pick(rng, COMPARE_QUESTIONS).format(more=ADJECTIVE[prop][1])
            hint = "the letter A or B"
        else:
            q = _pick(rng, SUPERLATIVE_QUESTIONS).format(most=ADJECTIVE[prop][2])
            hint = "the letter A, B or C"
        text = f"{intro} {q} " + FORMAT.format(hint=hint)
    else:
        raise ValueError(f"unknown question type {qtype!r}")
    if visual is not None and qtype in ("level", "conflict"):
        images.append(visual)
        modalities.append("visual")
        sources.append("camera")
    return {
        "prompt": _user_prompt(len(images), text),
        "images": images,
        "image_modalities": modalities,
        "image_sources": sources,
        "sensor": first.sensor,
        "object_ids": [r.object_id for r in readings],
        "question_type": qtype,
        "property": prop,
        "answer": answer,
        "num_levels": int(k),
        "option_levels": option_levels,
        "visual_level": int(visual_level) if visual is not None else -1,
    }


def gold_completion(row: dict) -> str:
    """A short templated completion for SFT: the evidence each image shows, then the answer.

    Args:
        row: A touch row (uses ``question_type``, ``property``, ``answer``, ``num_levels``,
            ``option_levels``, ``sensor``, ``image_sources``, ``visual_level``, ``image_modalities``).

    Returns:
        ``<perceive>...</perceive><compare>...</compare><conclude>...</conclude><answer>...</answer>``.

    >>> print(gold_completion({"question_type": "level", "property": "hardness", "answer": "2", "num_levels": 3,
    ...                        "sensor": "digit", "option_levels": []}))
    <perceive>DIGIT: a small, deep imprint with very sharp edges.</perceive>
    <compare>Level 2 of 0-2 (hard).</compare>
    <conclude>The object is hard.</conclude>
    <answer>2</answer>
    """
    qtype, prop, k = row["question_type"], row["property"], int(row["num_levels"])
    names = level_names(prop, k)
    if qtype in ("compare", "superlative"):
        levels = [int(x) for x in row["option_levels"]]
        ans = row["answer"]
        seen = "; ".join(f"{LETTERS[i]}: {evidence(prop, lv, k)}" for i, lv in enumerate(levels))
        ranks = ", ".join(f"{LETTERS[i]} {names[lv]}" for i, lv in enumerate(levels))
        word = ADJECTIVE[prop][1] if qtype == "compare" else f"the {ADJECTIVE[prop][2]}"
        return (f"<perceive>{seen}.</perceive>\n<compare>{ranks}.</compare>\n"
                f"<conclude>Object {ans} is {word}.</conclude>\n<answer>{ans}</answer>")
    level = int(row["answer"])
    seen = f"{sensor_name(row.get('sensor') or '')}: {evidence(prop, level, k)}"
    cmp = f"Level {level} of 0-{k - 1} ({names[level]})."
    if qtype == "cross_sensor":
        sources = [s for s in row.get("image_sources") or [] if s != row.get("sensor")]
        seen += f"; {sensor_name(sources[0]) if sources else 'the other sensor'}: the same imprint"
        cmp = f"Both sensors agree: level {level} ({names[level]})."
    elif "visual" in (row.get("image_modalities") or []):
        vis = int(row.get("visual_level", -1))
        if 0 <= vis < k:
            seen += f"; the photo {_looks(prop, names[vis])}"
            cmp = f"Photo and touch agree: level {level}." if vis == level else f"The photo misleads; touch says {level}."
        else:
            cmp = f"Touch decides: level {level} ({names[level]})."
    return (f"<perceive>{seen}.</perceive>\n<compare>{cmp}</compare>\n"
            f"<conclude>The object {_is(prop, names[level])}.</conclude>\n<answer>{level}</answer>")


def _is(prop: str, name: str) -> str:
    """Predicate with its verb: ``is soft``, but ``has small bumps`` for bumpiness."""
    return f"has {name}" if prop == "bumpiness" else f"is {name}"


def _looks(prop: str, name: str) -> str:
    """What a photo suggests: ``looks soft``, but ``shows small bumps`` for bumpiness."""
    return f"shows {name}" if prop == "bumpiness" else f"looks {name}"
