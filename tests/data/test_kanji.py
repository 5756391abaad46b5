"""KanjiVG rendering (hebbref/data/kanji.py): stroke data, the rasteriser against a brute-force
per-pixel distance, determinism, the drawers being variants of their character, and the cache."""
import os
import importlib.metadata

import numpy as np
import pytest

from hebbref.data import kanji
from hebbref.data.images import ImageDataset, train_test_split
from hebbref.data.kanji import available_kanji, load_strokes, rasterise, render_kanji_dataset


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test caches into its own empty folder, never the user's."""
    monkeypatch.setenv("HEBBREF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_only_standard_ideographs_are_listed():
    code_points = available_kanji()
    assert len(code_points) > 6000
    assert code_points == sorted(code_points)
    assert 0x4E00 in code_points and 0x6C34 in code_points  # 一, 水
    assert 0x3042 not in code_points and 0x41 not in code_points  # あ and "A" are not kanji
    assert all(0x3400 <= c <= 0x9FFF or 0xF900 <= c <= 0xFAFF or c >= 0x20000
               for c in code_points)


@pytest.mark.parametrize("character, strokes", [("一", 1), ("人", 2), ("三", 3), ("木", 4),
                                                ("水", 4), ("日", 4), ("林", 8)])
def test_stroke_counts_match_the_dictionary(character, strokes):
    assert len(load_strokes(ord(character))) == strokes


def test_strokes_of_one_follow_the_svg_file():
    (stroke,) = load_strokes(0x4E00)
    np.testing.assert_allclose(stroke[0, 0], [11, 54.25])
    np.testing.assert_allclose(stroke[-1, 3], [96.88, 50.0])  # 11 + 9.73 + 68.58 + 7.57, ...


def test_missing_kanjivg_is_a_clear_error(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    kanji._kanjivg_files.cache_clear()
    monkeypatch.setattr(kanji.importlib.metadata, "distribution", not_installed)
    try:
        with pytest.raises(ModuleNotFoundError, match="pip install kanjivg"):
            available_kanji()
    finally:
        kanji._kanjivg_files.cache_clear()


def brute_force_coverage(starts, ends, half_width, image_index, num_images, size):
    """Gold rasteriser: every pixel against every segment, straight from the definition."""
    images = np.zeros((num_images, size, size))
    for a, b, w, i in zip(starts, ends, half_width, image_index):
        for row in range(size):
            for col in range(size):
                p = np.array([col + 0.5, row + 0.5])
                direction = b - a
                t = 0.0 if not direction.any() else np.clip(
                    (p - a) @ direction / (direction @ direction), 0, 1)
                distance = np.linalg.norm(p - (a + t * direction))
                images[i, row, col] = max(images[i, row, col], np.clip(w + 0.5 - distance, 0, 1))
    return images


def test_rasterise_matches_a_brute_force_distance_per_pixel():
    rng = np.random.default_rng(0)
    size, count = 9, 40
    starts = rng.uniform(-1, size + 1, size=(count, 2)).astype(np.float32)  # some off-image
    ends = (starts + rng.uniform(-1, 1, size=(count, 2))).astype(np.float32)
    ends[0] = starts[0]  # a zero-length segment draws a round dot
    half_width = rng.uniform(0.2, 1.5, size=count).astype(np.float32)
    image_index = rng.integers(0, 3, size=count)
    fast = rasterise(starts, ends, half_width, image_index, 3, size)
    gold = brute_force_coverage(starts.astype(float), ends.astype(float),
                                half_width.astype(float), image_index, 3, size)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, gold, atol=1e-5)


def test_rasterise_horizontal_bar_by_hand():
    # Bar from x=2 to x=8 along y=5, half width 1: rows 4 and 5 (centres 4.5, 5.5) are 0.5 away
    # -> coverage 1 over columns 2..7; rows 3 and 6 are 1.5 away -> 0.
    image = rasterise(np.array([[2.0, 5.0]], np.float32), np.array([[8.0, 5.0]], np.float32),
                      np.array([1.0], np.float32), np.array([0]), 1, 10)[0]
    assert np.all(image[4:6, 2:8] == 1) and np.all(image[:4] == 0) and np.all(image[6:] == 0)
    # Column 1's centre (1.5, 4.5) is sqrt(0.5) from the bar's end: 1.5 - 0.7071 = 0.7929.
    np.testing.assert_allclose(image[4, 1], 1.5 - np.sqrt(0.5), rtol=1e-6)


def test_rendering_is_deterministic_and_seeded():
    first = render_kanji_dataset(4, drawers=6, size=20, seed=1, cache=False)
    again = render_kanji_dataset(4, drawers=6, size=20, seed=1, cache=False)
    other = render_kanji_dataset(4, drawers=6, size=20, seed=2, cache=False)
    np.testing.assert_array_equal(first.X, again.X)
    assert first.class_names == again.class_names
    assert first.class_names != other.class_names


def test_images_are_grey_strokes_in_range_with_labels_by_class_then_drawer():
    dataset = render_kanji_dataset(5, drawers=7, size=24, seed=0, cache=False)
    assert isinstance(dataset, ImageDataset)
    assert dataset.X.shape == (35, 24, 24) and dataset.X.dtype == np.float32
    assert dataset.X.min() >= 0 and dataset.X.max() <= 1
    np.testing.assert_array_equal(dataset.y, np.repeat(np.arange(5), 7))
    np.testing.assert_array_equal(dataset.drawer, np.tile(np.arange(7), 5))
    assert [ord(c) for c in dataset.class_names] == sorted(ord(c) for c in dataset.class_names)
    ink = dataset.X.reshape(35, -1)
    assert np.all(ink.max(axis=1) > 0.9)               # every image has solid strokes...
    assert np.all((ink > 0.5).mean(axis=1) > 0.05)      # ...covering a fair part of it
    assert np.all((ink > 0.5).mean(axis=1) < 0.7)       # ...without filling it
    first_class = dataset.X[:7].reshape(7, -1)
    assert len({image.tobytes() for image in first_class}) == 7  # drawers differ


def test_a_class_renders_the_same_whatever_else_is_chosen():
    """Drawer streams are seeded by (seed, code point, drawer) and the class choice only grows
    with num_classes, so a smaller dataset's classes reappear unchanged in a larger one."""
    small = render_kanji_dataset(3, drawers=4, size=16, seed=5, cache=False)
    large = render_kanji_dataset(8, drawers=4, size=16, seed=5, cache=False)
    assert set(small.class_names) <= set(large.class_names)
    for label, name in enumerate(small.class_names):
        np.testing.assert_array_equal(small.X[small.y == label],
                                      large.X[large.y == large.class_names.index(name)])


def test_drawers_are_recognisable_variants_of_their_character():
    """A nearest-class-mean classifier trained on drawers 5..19 must recognise most held-out
    drawers 0..4 of 10 classes (chance is 10%): the perturbations keep the character."""
    train, test = train_test_split(render_kanji_dataset(10, size=28, seed=4, cache=False))
    means = np.stack([train.X[train.y == c].mean(axis=0) for c in range(10)]).reshape(10, -1)
    distance = ((test.X.reshape(len(test), 1, -1) - means[None]) ** 2).sum(axis=2)
    assert (distance.argmin(axis=1) == test.y).mean() > 0.6


def test_max_strokes_limits_the_characters(monkeypatch):
    dataset = render_kanji_dataset(6, drawers=2, size=16, max_strokes=4, cache=False)
    assert all(len(load_strokes(ord(name))) <= 4 for name in dataset.class_names)
    # Searching all 6,431 files for 50 one-stroke kanji takes seconds; 300 show the error.
    first = available_kanji()[:300]
    monkeypatch.setattr(kanji, "available_kanji", lambda: first)
    with pytest.raises(ValueError, match="max_strokes=1"):
        render_kanji_dataset(50, drawers=2, size=16, max_strokes=1, cache=False)


def test_supersampling_keeps_shape_and_range():
    dataset = render_kanji_dataset(2, drawers=3, size=16, supersample=3, cache=False)
    assert dataset.X.shape == (6, 16, 16) and dataset.X.dtype == np.float32
    assert 0 <= dataset.X.min() and dataset.X.max() <= 1 and dataset.X.max() > 0.9


def test_cache_hit_returns_the_same_arrays_without_rendering(private_cache, monkeypatch):
    rendered = render_kanji_dataset(3, drawers=5, size=16, seed=2)
    files = sorted(p.name for p in private_cache.iterdir())
    assert len(files) == 1 and files[0].endswith(".npz")  # no temporary file left behind

    def must_not_render(*args, **kwargs):
        raise AssertionError("rendered despite a cached copy")

    monkeypatch.setattr(kanji, "_render_class", must_not_render)
    cached = render_kanji_dataset(3, drawers=5, size=16, seed=2)
    np.testing.assert_array_equal(cached.X, rendered.X)
    np.testing.assert_array_equal(cached.y, rendered.y)
    np.testing.assert_array_equal(cached.drawer, rendered.drawer)
    assert cached.class_names == rendered.class_names
    with pytest.raises(AssertionError, match="despite"):  # any other parameter misses
        render_kanji_dataset(3, drawers=5, size=16, seed=2, jitter=0.5)


def test_a_corrupt_cache_file_is_rebuilt(private_cache):
    rendered = render_kanji_dataset(2, drawers=3, size=12)
    (path,) = private_cache.iterdir()
    path.write_bytes(b"not a zip archive")
    again = render_kanji_dataset(2, drawers=3, size=12)
    np.testing.assert_array_equal(again.X, rendered.X)
    assert [p.name for p in private_cache.iterdir()] == [path.name]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_classes": 0}, ValueError, "num_classes must be >= 1"),
    ({"num_classes": 2.0}, TypeError, "num_classes must be an int"),
    ({"num_classes": 2, "size": 0}, ValueError, "size must be >= 1"),
    ({"num_classes": 2, "drawers": 0}, ValueError, "drawers must be >= 1"),
    ({"num_classes": 2, "jitter": -1.0}, ValueError, "jitter must lie in"),
    ({"num_classes": 2, "stroke_width": float("nan")}, ValueError, "stroke_width"),
    ({"num_classes": 10**6}, ValueError, "more than the"),
])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        render_kanji_dataset(cache=False, **kwargs)


def test_perturbed_strokes_stay_continuous():
    """A pen stroke is one unbroken line: after a drawer's jitter and warp, every segment of a
    stroke still starts exactly where the previous one ended."""
    strokes = load_strokes(ord("永"))
    assert sum(len(s) > 1 for s in strokes) >= 3  # several multi-segment strokes to check
    geometry = kanji._class_geometry(strokes)
    style = dict(stroke_width=6.0, width_jitter=0.15, jitter=2.0, stroke_shift=1.5,
                 rotation=5.0, scale=0.06, aspect=0.06, shear=0.1, translate=3.0)
    control, _ = kanji._drawer_segments(geometry, np.random.default_rng(0), 28, style)
    offset = 0
    for stroke in strokes:
        block = control[offset:offset + len(stroke)]
        np.testing.assert_allclose(block[1:, 0], block[:-1, 3], atol=1e-9)
        offset += len(stroke)
    assert not np.allclose(control[:, 0] * 109 / 28, geometry[0][:, 0], atol=0.5)  # it moved


@pytest.mark.parametrize("damage", [lambda data: b"", lambda data: data[: len(data) // 2]],
                         ids=["zero-byte", "truncated"])
def test_an_empty_or_truncated_cache_file_is_rebuilt(private_cache, damage):
    """A zero-byte cache (a killed write, a full disk) must not raise EOFError on every
    run."""
    rendered = render_kanji_dataset(2, drawers=3, size=12)
    (path,) = private_cache.iterdir()
    path.write_bytes(damage(path.read_bytes()))
    again = render_kanji_dataset(2, drawers=3, size=12)
    np.testing.assert_array_equal(again.X, rendered.X)
    assert render_kanji_dataset(2, drawers=3, size=12, cache=False).X.shape == rendered.X.shape
    assert os.path.getsize(path) > 0


def test_a_cache_of_other_images_under_this_key_is_rebuilt(private_cache):
    """14 × 14 images stored under the key of 16 × 16 ones were used as they were."""
    rendered = render_kanji_dataset(2, drawers=3, size=16, seed=1)
    (path,) = private_cache.iterdir()
    small = render_kanji_dataset(2, drawers=3, size=14, seed=1, cache=False)
    np.savez(path, X=small.X, y=small.y, drawer=small.drawer,
             class_names=np.array(small.class_names))
    again = render_kanji_dataset(2, drawers=3, size=16, seed=1)
    np.testing.assert_array_equal(again.X, rendered.X)
