"""Figure of touch rows as the model sees them (images, question, answer), for docs/images/touch_example.png.

Regenerate with::

    MPLBACKEND=Agg python -m tasks.touch.figures --out docs/images/touch_example.png
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from tasks.touch.questions import sensor_name

WANTED = [("level", "train", 1), ("conflict", "train", 2), ("compare", "train", 2), ("superlative", "train", 3),
          ("cross_sensor", "train", 2), ("level", "heldout_sensor", 1)]


def pick_examples(rows: list[dict], wanted=WANTED) -> list[dict]:
    """One row per ``(question_type, split_tag, number of images)`` in ``wanted``, in that order (if present)."""
    out = []
    for qtype, tag, n in wanted:
        r = next((r for r in rows if r["question_type"] == qtype and r["split_tag"] == tag
                  and len(r["images"]) == n and r not in out), None)
        if r is not None:
            out.append(r)
    return out


def draw_examples(rows: list[dict], path: Path, gold=None) -> Path:
    """Draw one figure row per dataset row: its images with their sources, then question and answer text.

    Args:
        rows: Touch rows (with PIL ``images``).
        path: PNG to write.
        gold: Optional ``fn(row) -> str`` gold completion shown under the answer.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_img = max(len(r["images"]) for r in rows)
    fig, axes = plt.subplots(len(rows), n_img + 1, figsize=(2.0 * n_img + 9.5, 2.35 * len(rows)),
                             gridspec_kw={"width_ratios": [1] * n_img + [4.6]}, squeeze=False)
    for ax_row, r in zip(axes, rows):
        for j, ax in enumerate(ax_row[:-1]):
            ax.axis("off")
            if j < len(r["images"]):
                ax.imshow(r["images"][j])
                src = r["image_sources"][j]
                label = "camera photo" if src == "camera" else f"tactile: {sensor_name(src)}"
                ax.set_title(f"image {j + 1}\n{label}", fontsize=8)
        ax = ax_row[-1]
        ax.axis("off")
        question = r["prompt"][0]["content"][-1]["text"].split(" Think before answering")[0]
        head = f"{r['question_type']} · {r['property']} · {r['split_tag']} · contact {r['contact_id']}"
        body = "\n".join(textwrap.wrap(question, 95))
        tail = f"answer: {r['answer']}"
        if r["option_levels"]:
            tail += f"   (option levels {r['option_levels']})"
        if r["question_type"] == "conflict":
            tail += f"   (the photo suggests level {r['visual_level']}; touch decides)"
        ax.text(0.0, 1.0, head, fontsize=9, fontweight="bold", va="top", transform=ax.transAxes)
        ax.text(0.0, 0.84, body, fontsize=8, va="top", transform=ax.transAxes, family="DejaVu Sans")
        ax.text(0.0, 0.06 if gold is None else 0.30, tail, fontsize=9, color="darkgreen", va="bottom",
                transform=ax.transAxes)
        if gold is not None:
            g = gold(r).replace("\n", " ")
            ax.text(0.0, 0.0, "\n".join(textwrap.wrap("gold: " + g, 110)[:3]), fontsize=7, color="dimgray",
                    va="bottom", transform=ax.transAxes, family="monospace")
    fig.suptitle("touch rows as the model sees them (prompt images, question; format instruction omitted)", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images/touch_example.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from tasks.touch import TouchConfig, TouchTask

    task = TouchTask()
    ds = task.build_dataset(TouchConfig(num_materials=24, train_contacts=40, test_contacts=8), args.seed)
    rows = [ds["train"][i] for i in range(len(ds["train"]))] + [ds["test"][i] for i in range(len(ds["test"]))]
    print(draw_examples(pick_examples(rows), Path(args.out), gold=task.sft_target))


if __name__ == "__main__":
    main()
