import numpy as np
import pytest
from PIL import Image

from embodied_r1.config import ModelConfig
from embodied_r1.counterfactual import CounterfactualReward, make_counterfactual
from embodied_r1.models.factory import make_model
from embodied_r1.rollout.hf import HFEngine
from embodied_r1.task import CounterfactualSpec


def rows():
    prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "q"}]}]
    imgs = [[Image.new("RGB", (32, 32), (200, 10 * i, 0)), Image.new("RGB", (32, 32), (0, 0, 20 * i))] for i in range(4)]
    mods = [["tactile", "visual"]] * 4
    groups = ["a", "a", "b", "b"]
    return [prompt] * 4, imgs, mods, groups


def test_remove_drops_image_and_placeholder():
    p, im, mods, g = rows()
    cp, ci = make_counterfactual(p, im, mods, g, CounterfactualSpec("removed", "tactile", "remove"))
    assert [len(x) for x in ci] == [1, 1, 1, 1]
    assert ci[0][0] is im[0][1]  # the visual image stays
    parts = cp[0][0]["content"]
    assert sum(x["type"] == "image" for x in parts) == 1 and "[tactile image unavailable]" in parts[0]["text"]


def test_swap_takes_another_groups_image():
    p, im, mods, g = rows()
    _, ci = make_counterfactual(p, im, mods, g, CounterfactualSpec("shuffled", "tactile", "swap"), seed=0)
    for i in range(4):
        donor = [r for r in range(4) if ci[i][0] is im[r][0]]
        assert donor and g[donor[0]] != g[i]
        assert ci[i][1] is im[i][1]


def test_noise_keeps_size_and_statistics():
    p, im, mods, g = rows()
    rng = np.random.default_rng(0)
    im = [[Image.fromarray(rng.integers(50, 200, (32, 32, 3), dtype=np.uint8)), x[1]] for x in im]
    _, ci = make_counterfactual(p, im, mods, g, CounterfactualSpec("noise", "tactile", "noise"))
    a, b = np.asarray(im[0][0], float), np.asarray(ci[0][0], float)
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert abs(a.mean() - b.mean()) < 5 and abs(a.std() - b.std()) < 5


def test_bad_mode_rejected():
    with pytest.raises(ValueError):
        CounterfactualSpec("x", "tactile", "blur")


def test_hook_hands_reward_the_answers_on_counterfactual_inputs():
    """The fallback wrapper (runs where TRL generates rollouts itself) asks the engine once per step for each
    distinct row's variant and hands the reward one {variant: answer} per row."""
    model, proc = make_model(ModelConfig(name="tiny"), seed=3)
    real = HFEngine(model, proc)
    calls = []

    class Recording(HFEngine):  # the real engine, recording what it was asked
        def generate(self, requests):
            calls.append(requests)
            return super().generate(requests)

    p, im, mods, g = rows()
    seen = []

    def probe_reward(prompts, completions, counterfactual_completions=None, **kw):
        seen.extend(counterfactual_completions)
        return [1.0] * len(completions)

    spec = CounterfactualSpec("removed", "tactile", "remove")
    hook = CounterfactualReward(probe_reward, [spec], lambda: Recording(model, proc), "group", max_new_tokens=6)
    # TRL repeats each prompt num_generations times; the hook generates once per distinct row
    rep = lambda xs: [x for x in xs for _ in range(2)]
    out = hook(rep(p), ["c"] * 8, images=rep(im), image_modalities=rep(mods), group=rep(g))
    assert out == [1.0] * 8 and hook.__name__ == "probe_reward"
    cp, ci = make_counterfactual(p, im, mods, g, spec)
    (asked,) = calls
    assert len(asked) == 4, "each distinct row is generated once"
    assert all(len(r.images) == 1 and r.images[0] is im[i][1] for i, r in enumerate(asked)), "tactile images removed"
    assert all("[tactile image unavailable]" in str(r.prompt) for r in asked)
    expected = real.answer(cp, ci, max_new_tokens=6)
    assert [row["removed"] for row in seen] == rep(expected)
