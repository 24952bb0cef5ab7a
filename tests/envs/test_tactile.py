"""Behavioural tests of the tactile simulator (envs.tactile): physics, sensors, determinism, helpers."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from envs.tactile import (APPEARANCES, PROPERTIES, SENSORS, Contact, Material, SensorProfile, TactileRender,
                          counterfactual_image, render_press_sequence, render_tactile, render_visual,
                          sample_contact, sample_material, sensor_background, stream_key)
from tests.fixtures.sensors import copied_profile, sensor_added

SENSOR_NAMES = ("gelsight_mini", "digit", "gelsight_r15", "marker_gel", "tac3d", "dm_tac")
MARKER_SENSORS = {"marker_gel", "tac3d", "dm_tac"}


def controlled_render(seed: int, sensor: str, levels: dict, shape: str = "sphere", num_levels: int = 3,
                      force: float = 2.5, shear=(0.0, 0.0), render_seed: int | None = None) -> TactileRender:
    """One centred press where only ``levels`` change between calls with the same seed."""
    mat = sample_material(np.random.default_rng(seed), levels, num_levels, shape=shape)
    contact = dataclasses.replace(sample_contact(np.random.default_rng(seed + 1000), mat, force=force),
                                  position_mm=(0.0, 0.0), shear_mm=shear)
    return render_tactile(contact, SENSORS[sensor], np.random.default_rng(seed if render_seed is None else render_seed))


def imprint_depth_and_width(tac: TactileRender) -> tuple[float, float]:
    """Depth (mm) and equivalent-circle width (mm) of the imprint, measured on the returned compression map."""
    comp = tac.compression
    area = float((comp > 0).sum()) * tac.mm_per_px**2
    return float(comp.max()), 2.0 * np.sqrt(area / np.pi)


def gel_width(tac: TactileRender, frac: float = 0.1) -> float:
    """Equivalent-circle width (mm) of the gel region indented by more than ``frac`` of its peak."""
    area = float((tac.deformation > frac * tac.deformation.max()).sum()) * tac.mm_per_px**2
    return 2.0 * np.sqrt(area / np.pi)


def hf_fraction(img: np.ndarray, cutoff: float = 0.1) -> float:
    """Fraction of the (non-DC) spectral energy, summed over colour channels, above ``cutoff`` cycles/px.

    Channels are kept apart on purpose: lights at symmetric azimuths cancel in a grey image's first-order shading.
    """
    a = img.astype(np.float64)
    a = a - a.mean(axis=(0, 1))
    spec = (np.abs(np.fft.fft2(a, axes=(0, 1))) ** 2).sum(axis=2)
    fy = np.fft.fftfreq(a.shape[0])[:, None]
    fx = np.fft.fftfreq(a.shape[1])[None, :]
    return float(spec[np.hypot(fx, fy) > cutoff].sum() / spec.sum())


def macro_relief(tac: TactileRender) -> float:
    """Band-pass (0.4-1.5 mm) RMS of the gel indentation in the central 8x8 mm: bump-scale relief."""
    s = 1.0 / tac.mm_per_px
    d = tac.deformation.astype(np.float64)
    band = gaussian_filter(d, 0.4 * s) - gaussian_filter(d, 1.5 * s)
    h, w = d.shape
    r = int(4.0 * s)
    return float(np.sqrt(np.mean(band[h // 2 - r:h // 2 + r, w // 2 - r:w // 2 + r] ** 2)))


# ---------------------------------------------------------------- materials


@pytest.mark.parametrize("num_levels", [3, 4, 5])
def test_sample_material_levels_and_monotone_parameters(num_levels):
    params = {p: [] for p in PROPERTIES}
    for lvl in range(num_levels):
        m = sample_material(np.random.default_rng(3), {p: lvl for p in PROPERTIES}, num_levels)
        assert m.levels == {p: lvl for p in PROPERTIES} and m.num_levels == num_levels
        params["hardness"].append(m.k_obj)
        params["roughness"].append(m.rough_amp_mm * m.rough_freq)
        params["bumpiness"].append(m.bump_amp_mm * (m.bump_count + 1))
    for p, v in params.items():
        assert np.all(np.diff(v) > 0), (p, v)
    drawn = [sample_material(np.random.default_rng(s), num_levels=num_levels).levels for s in range(60)]
    for p in PROPERTIES:
        assert {d[p] for d in drawn} == set(range(num_levels))


def test_material_validation():
    with pytest.raises(ValueError, match="level hardness"):
        sample_material(np.random.default_rng(0), {"hardness": 3}, num_levels=3)
    with pytest.raises(ValueError, match="unknown properties"):
        sample_material(np.random.default_rng(0), {"softness": 1})
    with pytest.raises(ValueError, match="shape"):
        sample_material(np.random.default_rng(0), shape="torus")
    with pytest.raises(ValueError, match="force"):
        Contact(sample_material(np.random.default_rng(0)), force=0.0)


# ---------------------------------------------------------------- physics


@pytest.mark.parametrize("sensor", SENSOR_NAMES)
@pytest.mark.parametrize("num_levels", [3, 5])
def test_harder_material_gives_shallower_narrower_imprint(sensor, num_levels):
    """Same shape, same force: the imprint (returned compression map) is shallower and narrower when harder.

    The gel's own map (what the camera sees) must show the REFERENCES cue too: a softer object spreads a wider
    gel imprint with weaker slopes relative to its depth.
    """
    for seed in (0, 1):
        base = {"roughness": 0, "bumpiness": 0}
        tacs = [controlled_render(seed, sensor, {**base, "hardness": h}, num_levels=num_levels)
                for h in range(num_levels)]
        depth, width = zip(*(imprint_depth_and_width(t) for t in tacs))
        assert np.all(np.diff(depth) < 0), depth
        assert np.all(np.diff(width) < 0), width
        # What the camera sees: the soft object's gel imprint is wider, with weaker slopes per unit depth.
        gel_w = [gel_width(t) for t in tacs]
        assert gel_w[0] > gel_w[-1], gel_w
        steep = [np.hypot(*np.gradient(t.deformation, t.mm_per_px)).max() / t.gel_depth_mm for t in tacs]
        assert steep[-1] > 1.2 * steep[0], steep


def test_depth_follows_springs_in_series():
    tac = controlled_render(4, "digit", {"hardness": 1, "roughness": 0, "bumpiness": 0}, force=2.0)
    mat = sample_material(np.random.default_rng(4), {"hardness": 1, "roughness": 0, "bumpiness": 0}, shape="sphere")
    expected = 2.0 / SENSORS["digit"].k_gel + 2.0 / mat.k_obj
    assert tac.depth_mm == pytest.approx(expected, rel=1e-5)
    assert 0 < tac.gel_depth_mm <= tac.depth_mm
    assert (tac.height_map <= 0).all() and tac.height_map.min() == -tac.deformation.max()


def wide_flat_render(seed: int, sensor, levels: dict) -> TactileRender:
    """A flat face wider than the view: the whole frame is contact interior, so only the face's detail shows."""
    mat = dataclasses.replace(sample_material(np.random.default_rng(seed), levels, shape="flat"), size_mm=9.0)
    contact = dataclasses.replace(sample_contact(np.random.default_rng(seed + 1000), mat, force=2.5),
                                  position_mm=(0.0, 0.0), shear_mm=(0.0, 0.0))
    return render_tactile(contact, SENSORS[sensor] if isinstance(sensor, str) else sensor,
                          np.random.default_rng(seed))


@pytest.mark.parametrize("sensor", SENSOR_NAMES)
def test_rougher_gives_more_high_frequency_energy(sensor):
    # Dense marker grids (tac3d, dm_tac: 4-6 px pitch) put most of an image's high-frequency energy at the marker
    # pitch; the gel's shading beneath them is what carries roughness, so it is measured without the markers.
    dense = sensor in ("tac3d", "dm_tac")
    profile = dataclasses.replace(SENSORS[sensor], markers=None) if dense else SENSORS[sensor]
    k = 3
    frac = np.zeros(k)
    for seed in range(3):
        for lvl in range(k):
            tac = wide_flat_render(seed, profile, {"hardness": 2, "bumpiness": 0, "roughness": lvl})
            frac[lvl] += hf_fraction(tac.image) / 3
    assert frac[0] < frac[1] < frac[2] and frac[2] > frac[0] + 0.03, frac


@pytest.mark.parametrize("sensor", SENSOR_NAMES)
def test_bumpier_gives_more_macro_relief(sensor):
    k = 3
    relief = np.zeros(k)
    for seed in range(4):
        for lvl in range(k):
            tac = wide_flat_render(seed, sensor, {"hardness": 2, "roughness": 0, "bumpiness": lvl})
            relief[lvl] += macro_relief(tac)
    assert relief[0] < relief[1] < relief[2] and relief[2] > 3 * relief[0], relief


def test_press_sequence_depth_increases():
    rng = np.random.default_rng(5)
    contact = sample_contact(rng, sample_material(rng))
    renders = render_press_sequence(contact, SENSORS["gelsight_mini"], rng, n_frames=5, return_renders=True)
    assert len(renders) == 5
    assert np.all(np.diff([r.depth_mm for r in renders]) > 0)
    assert np.all(np.diff([r.gel_depth_mm for r in renders]) > 0)
    assert np.all(np.diff([r.contact_area_mm2 for r in renders]) >= 0)
    assert renders[-1].force == pytest.approx(contact.force)
    frames = render_press_sequence(contact, SENSORS["digit"], np.random.default_rng(9), n_frames=3)
    assert len(frames) == 3 and all(f.dtype == np.uint8 and f.shape == (80, 60, 3) for f in frames)
    # The default is a single frame: the press itself.
    (only,) = render_press_sequence(contact, SENSORS["digit"], np.random.default_rng(9))
    assert np.array_equal(only, render_tactile(contact, SENSORS["digit"], np.random.default_rng(9)).image)
    with pytest.raises(ValueError):
        render_press_sequence(contact, SENSORS["digit"], rng, n_frames=0)


# ---------------------------------------------------------------- sensors


def test_sensor_profiles_shape_and_override():
    assert tuple(SENSORS) == SENSOR_NAMES
    with pytest.raises(KeyError, match="known"):
        render_tactile(sample_contact(np.random.default_rng(0), sample_material(np.random.default_rng(0))),
                       "gelsight_max", np.random.default_rng(0))
    rng = np.random.default_rng(6)
    contact = sample_contact(rng, sample_material(rng))
    for name, sensor in SENSORS.items():
        assert isinstance(sensor, SensorProfile) and sensor.name == name
        tac = render_tactile(contact, sensor, rng)
        assert tac.image.shape == (*sensor.image_size, 3) and tac.image.dtype == np.uint8
        assert max(sensor.image_size) <= 96
        assert (tac.markers is not None) == (name in MARKER_SENSORS)
        by_name = render_tactile(contact, name, np.random.default_rng(1)).image
        assert np.array_equal(by_name, render_tactile(contact, sensor, np.random.default_rng(1)).image)
        big = render_tactile(contact, sensor, rng, image_size=(120, 100))
        assert big.image.shape == (120, 100, 3) and big.deformation.shape == (120, 100)
        # Same physical contact: the imprint depth does not depend on the pixel grid.
        assert big.depth_mm == pytest.approx(tac.depth_mm, rel=0.05)


def test_each_profile_carries_its_display_name():
    names = {name: sensor.display_name for name, sensor in SENSORS.items()}
    assert names == {"gelsight_mini": "GelSight Mini", "digit": "DIGIT", "gelsight_r15": "GelSight R1.5",
                     "marker_gel": "marker gel", "tac3d": "Tac3D-like", "dm_tac": "DM-Tac-like"}
    with pytest.raises(ValueError, match="display_name"):
        dataclasses.replace(SENSORS["digit"], display_name="")


def test_stream_key_is_a_stable_digest_of_the_name():
    """Pinned values: Python's ``hash()`` of a str changes with every process (PYTHONHASHSEED), a digest does not."""
    assert stream_key("digit") == 6801004138980631663 == SENSORS["digit"].stream_key
    assert len({stream_key(n) for n in SENSORS}) == len(SENSORS)
    assert all(0 <= stream_key(n) < 2**64 for n in SENSORS)


def test_inserting_a_sensor_leaves_the_other_sensors_images_unchanged():
    """A new profile at the front of the table shifts every other sensor's position; their images must not move."""
    rng = np.random.default_rng(21)
    contact = sample_contact(rng, sample_material(rng, num_levels=3))

    def images():
        return {name: render_tactile(contact, name, np.random.default_rng(5)).image for name in SENSOR_NAMES}

    before = images()
    backgrounds = {name: sensor_background(SENSORS[name]).copy() for name in SENSOR_NAMES}
    with sensor_added(copied_profile("digit", "digit_v2", "DIGIT v2")) as new:
        assert next(iter(SENSORS)) == "digit_v2"
        after = images()
        for name in SENSOR_NAMES:
            assert np.array_equal(before[name], after[name]), name
            assert np.array_equal(backgrounds[name], sensor_background(SENSORS[name])), name
        # Same optics, other name: the gel's fixed blotches come from the new name's own stream.
        copy = render_tactile(contact, new, np.random.default_rng(5)).image
        assert copy.shape == before["digit"].shape and not np.array_equal(copy, before["digit"])
        assert not np.array_equal(sensor_background(new), backgrounds["digit"])
    assert tuple(SENSORS) == SENSOR_NAMES


def test_named_sensors_images_differ():
    rng = np.random.default_rng(7)
    mat = sample_material(rng, {"hardness": 2, "roughness": 1, "bumpiness": 1}, shape="sphere")
    contact = dataclasses.replace(sample_contact(rng, mat, force=3.0), position_mm=(0.0, 0.0))
    imgs = {}
    for name, sensor in SENSORS.items():
        img = render_tactile(contact, sensor, np.random.default_rng(0)).image
        imgs[name] = np.asarray(Image.fromarray(img).resize((64, 64), Image.BILINEAR), dtype=np.float32)
    for a, b in itertools.combinations(SENSOR_NAMES, 2):
        diff = np.abs(imgs[a] - imgs[b]).mean()
        assert diff > 10.0, (a, b, diff)


def test_markers_move_with_shear():
    def mean_shift(shear):
        tac = controlled_render(8, "marker_gel", {"hardness": 2, "roughness": 0, "bumpiness": 0}, force=3.0,
                                shear=shear)
        rest = tac.marker_rest
        ix, iy = np.rint(rest[:, 0]).astype(int), np.rint(rest[:, 1]).astype(int)
        inside = tac.contact_mask[iy, ix]
        assert inside.sum() >= 3
        return (tac.markers - rest)[inside].mean(axis=0), tac.image

    (dx0, dy0), img0 = mean_shift((0.0, 0.0))
    (dxp, dyp), imgp = mean_shift((0.4, 0.0))
    (dxn, _), _ = mean_shift((-0.4, 0.0))
    (_, dyd), _ = mean_shift((0.0, 0.4))
    px = 0.4 / SENSORS["marker_gel"].mm_per_px
    assert abs(dx0) < 0.3 and abs(dy0) < 0.3
    assert dxp > 0.6 * px and dxn < -0.6 * px and dyd > 0.6 * px
    assert abs(dyp) < 0.3
    assert np.abs(imgp.astype(int) - img0.astype(int)).max() > 60  # the markers visibly moved in the image


# ---------------------------------------------------------------- determinism


def _pipeline(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    mat = sample_material(rng, num_levels=4)
    contact = sample_contact(rng, mat)
    parts = [render_tactile(contact, s, rng).image.tobytes() for s in SENSORS.values()]
    parts.append(render_visual(mat, rng).tobytes())
    parts.append(render_visual(mat, rng, conflict=True).tobytes())
    parts += [f.tobytes() for f in render_press_sequence(contact, SENSORS["digit"], rng, n_frames=3)]
    return b"".join(parts)


def test_same_seed_same_bytes_different_seed_different():
    assert _pipeline(11) == _pipeline(11)
    assert _pipeline(11) != _pipeline(12)


# ---------------------------------------------------------------- visual


def _saturation(img: np.ndarray) -> float:
    c = img[16:48, 16:48].astype(np.float64)
    mx, mn = c.max(axis=2), c.min(axis=2)
    return float(np.mean((mx - mn) / np.maximum(mx, 1.0)))


def _band_rms(img: np.ndarray, lo: float, hi: float) -> float:
    g = img[12:52, 12:52].astype(np.float64).mean(axis=2)
    return float((gaussian_filter(g, lo) - gaussian_filter(g, hi)).std())


def _visual_pair(seed: int, levels: dict, prop: str):
    mat = sample_material(np.random.default_rng(seed), levels, shape="flat")
    agree, info = render_visual(mat, np.random.default_rng(seed), return_info=True)
    conf, cinfo = render_visual(mat, np.random.default_rng(seed), conflict=prop, return_info=True)
    assert agree.shape == conf.shape == (64, 64, 3) and agree.dtype == conf.dtype == np.uint8
    assert np.abs(agree.astype(int) - conf.astype(int)).mean() > 1.0
    return agree, info, conf, cinfo


@pytest.mark.parametrize("prop", PROPERTIES)
def test_visual_agrees_or_conflicts_in_the_expected_cue(prop):
    cue = {"hardness": _saturation,  # soft things look colourful (foam, fabric), hard ones grey (stone, metal)
           "roughness": lambda im: _band_rms(im, 0.0, 1.0),  # fine grain
           "bumpiness": lambda im: _band_rms(im, 1.0, 4.0)}[prop]  # shaded macro bumps
    low, high = {p: 1 for p in PROPERTIES}, {p: 1 for p in PROPERTIES}  # only `prop` differs
    low[prop], high[prop] = 0, 2
    scores = {k: [] for k in ("low", "low_c", "high", "high_c")}
    for seed in range(6):
        for key, levels in (("low", low), ("high", high)):
            agree, info, conf, cinfo = _visual_pair(seed, levels, prop)
            scores[key].append(cue(agree))
            scores[key + "_c"].append(cue(conf))
            assert info["apparent"][prop] == pytest.approx(sample_material(
                np.random.default_rng(seed), levels, shape="flat").units[prop])
            assert round(cinfo["apparent"][prop] * 2) == 2 - levels[prop]
            others = [p for p in PROPERTIES if p != prop]
            assert all(cinfo["apparent"][p] == info["apparent"][p] for p in others)
            if prop == "hardness":
                assert round(APPEARANCES[info["category"]].hardness * 2) == levels["hardness"]
                assert round(APPEARANCES[cinfo["category"]].hardness * 2) == 2 - levels["hardness"]
            else:
                assert cinfo["category"] == info["category"]
    m = {k: float(np.mean(v)) for k, v in scores.items()}
    sign = -1.0 if prop == "hardness" else 1.0  # saturation falls with hardness; grain and bumps rise
    assert sign * (m["high"] - m["low"]) > 0 and sign * (m["low_c"] - m["high_c"]) > 0, m
    assert sign * (m["low_c"] - m["low"]) > 0 and sign * (m["high"] - m["high_c"]) > 0, m


def test_visual_conflict_flag_forms():
    mat = sample_material(np.random.default_rng(0), {"hardness": 0, "roughness": 0, "bumpiness": 0})
    _, info = render_visual(mat, np.random.default_rng(0), conflict=True, return_info=True)
    assert all(v > 0.5 for v in info["apparent"].values())
    _, info = render_visual(mat, np.random.default_rng(0), conflict=("roughness", "bumpiness"), return_info=True)
    assert info["apparent"]["hardness"] < 0.3 and info["apparent"]["roughness"] > 0.5
    with pytest.raises(ValueError):
        render_visual(mat, np.random.default_rng(0), conflict="colour")


# ---------------------------------------------------------------- counterfactuals


def test_counterfactual_helpers():
    rng = np.random.default_rng(13)
    c1 = sample_contact(rng, sample_material(rng))
    c2 = sample_contact(rng, sample_material(rng))
    t1 = render_tactile(c1, SENSORS["gelsight_mini"], rng)
    t2 = render_tactile(c2, SENSORS["digit"], rng)
    img = t1.image

    assert counterfactual_image(img, "removed") is None
    blank = counterfactual_image(img, "remove", background=t1.background)
    assert np.array_equal(blank, t1.background) and blank is not t1.background

    swapped = counterfactual_image(img, "shuffled", other=t2.image)
    assert swapped.shape == img.shape and swapped.dtype == np.uint8
    assert np.abs(swapped.astype(int) - img.astype(int)).mean() > 5
    same = render_tactile(c2, SENSORS["gelsight_mini"], rng).image
    assert np.array_equal(counterfactual_image(img, "swap", other=same), same)

    noise = counterfactual_image(img, "noise_masked", np.random.default_rng(0))
    assert noise.shape == img.shape and noise.dtype == np.uint8
    np.testing.assert_allclose(noise.reshape(-1, 3).mean(0), img.reshape(-1, 3).mean(0), atol=2.0)
    np.testing.assert_allclose(noise.reshape(-1, 3).std(0), img.reshape(-1, 3).std(0), rtol=0.15, atol=1.0)
    assert np.abs(noise.astype(int) - img.astype(int)).mean() > 2  # not the image itself
    with pytest.raises(ValueError):
        counterfactual_image(img, "blur")
    with pytest.raises(ValueError):
        counterfactual_image(img, "noise")
    with pytest.raises(ValueError):
        counterfactual_image(img, "shuffled")


def test_material_is_a_dataclass_with_levels():
    m = sample_material(np.random.default_rng(0), num_levels=5)
    assert isinstance(m, Material) and set(m.levels) == set(PROPERTIES)
    assert all(0 <= v < 5 for v in m.levels.values())


# ---------------------------------------------------------------- sensor randomisation


def test_random_sensor_is_a_pure_function_of_its_name():
    from envs.tactile import is_random_sensor, random_sensor, random_sensor_name, resolve_sensor

    name = random_sensor_name(0, "train", 3, 1)
    assert is_random_sensor(name) and not is_random_sensor("digit") and not is_random_sensor("random_")
    assert name == random_sensor_name(0, "train", 3, 1) != random_sensor_name(0, "train", 3, 2)
    random_sensor.cache_clear()
    a = random_sensor(name)
    random_sensor.cache_clear()
    assert random_sensor(name) == a and resolve_sensor(name) == a and a.name == name
    rng = np.random.default_rng(2)
    contact = sample_contact(rng, sample_material(rng))
    one = render_tactile(contact, name, np.random.default_rng(9)).image
    assert np.array_equal(one, render_tactile(contact, a, np.random.default_rng(9)).image)
    with pytest.raises(ValueError, match="not a random sensor name"):
        random_sensor("digit")
    with pytest.raises(KeyError, match="random_<hex>"):
        resolve_sensor("random_not-hex")


def test_random_sensors_vary_every_randomised_setting_within_the_ranges():
    """Lights (count, colour, angle), gel, resolution and crop, markers, background and noise all vary."""
    from envs.tactile import RANDOM_RANGES, random_sensor, random_sensor_name

    profiles = [random_sensor(random_sensor_name("ranges", k)) for k in range(120)]
    assert len({len(p.lights) for p in profiles}) >= 4
    assert len({p.image_size for p in profiles}) > 60 and len({round(p.mm_per_px, 3) for p in profiles}) > 60
    assert 0.3 < np.mean([p.markers is not None for p in profiles]) < 0.7
    assert {p.marker_rgb[0] > 128 for p in profiles if p.markers} == {True, False}  # dark and bright ink
    for key, attr in (("gel_thickness_mm", "gel_thickness_mm"), ("noise_std", "noise_std"), ("vignette", "vignette")):
        values = [getattr(p, attr) for p in profiles]
        lo, hi = RANDOM_RANGES[key]
        assert lo <= min(values) and max(values) <= hi and max(values) - min(values) > 0.6 * (hi - lo), key
    k = [p.k_gel for p in profiles]
    assert RANDOM_RANGES["k_gel"][0] <= min(k) < 4 and 8 < max(k) <= RANDOM_RANGES["k_gel"][1]
    hues = {round(c, -1) for p in profiles for light in p.lights for c in light.color}
    assert len(hues) > 15
    for p in profiles:
        lo, hi = RANDOM_RANGES["longest_side_px"]
        assert lo <= max(p.image_size) <= hi
        fov = max(p.fov_mm)
        assert RANDOM_RANGES["fov_longest_mm"][0] - 0.01 <= fov <= RANDOM_RANGES["fov_longest_mm"][1] + 0.01


def test_random_sensor_renders_the_same_physics():
    """Through a procedural sensor, a harder object still gives a shallower imprint and depth follows the springs."""
    from envs.tactile import compression_split, random_sensor, random_sensor_name

    for k in range(4):
        sensor = random_sensor(random_sensor_name("physics", k))
        depths = []
        for h in range(3):
            mat = sample_material(np.random.default_rng(k), {"hardness": h, "roughness": 0, "bumpiness": 0}, 3,
                                  shape="sphere")
            contact = dataclasses.replace(sample_contact(np.random.default_rng(50 + k), mat, force=2.5),
                                          position_mm=(0.0, 0.0))
            tac = render_tactile(contact, sensor, np.random.default_rng(0))
            assert tac.image.shape == (*sensor.image_size, 3)
            assert tac.depth_mm == pytest.approx(compression_split(2.5, sensor.k_gel, mat.k_obj)[0], rel=0.02)
            depths.append(tac.depth_mm)
        assert depths[0] > depths[1] > depths[2]


def test_random_sensors_docstring_examples():
    import doctest

    import envs.tactile.random_sensors as module

    res = doctest.testmod(module)
    assert res.failed == 0 and res.attempted > 0


def test_tactile_views_remove_what_carries_no_contact():
    """``difference`` removes the sensor's background (a blank press is flat grey) and ``standardized`` its gain:
    the same press through a copy of a sensor with another background colour and shading gain gives nearly the
    same view, while the raw images differ. The examples in the module's docstring run as written."""
    import doctest

    import envs.tactile.views as views
    from envs.tactile import render_tactile, sample_contact, sample_material
    from envs.tactile.views import tactile_view

    assert doctest.testmod(views).failed == 0
    rng = np.random.default_rng(3)
    contact = sample_contact(rng, sample_material(rng, levels={"hardness": 0}))
    base = dataclasses.replace(SENSORS["gelsight_mini"], noise_std=0.0)
    other = dataclasses.replace(base, background_rgb=tuple(b * 0.6 for b in base.background_rgb))
    a, b = (render_tactile(contact, s, np.random.default_rng(0)) for s in (base, other))
    raw_gap = np.abs(a.image.astype(float) - b.image.astype(float)).mean()
    diff_gap = np.abs(tactile_view(a.image, a.background, "difference").astype(float)
                      - tactile_view(b.image, b.background, "difference").astype(float)).mean()
    assert raw_gap > 20 and diff_gap < 0.2 * raw_gap, (raw_gap, diff_gap)
    blank = tactile_view(a.background, a.background, "difference")
    assert blank.min() == blank.max() == 128
    with pytest.raises(ValueError, match="background"):
        tactile_view(a.image, None, "difference")
