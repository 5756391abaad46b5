"""ImageDataset, the held-out-drawer split, and the omniglot/npz loaders (hebbref/data/images.py),
on tiny fixtures written by the tests in the official layouts."""
import io
import os
import zipfile

import matplotlib.image
import numpy as np
import pytest

from hebbref.data.images import (ImageDataset, load_dataset, load_npz, load_omniglot,
                                 resize_area, to_grey, train_test_split)


def make_dataset(num_classes=3, drawers=8, shuffle_seed=None):
    y = np.repeat(np.arange(num_classes), drawers)
    drawer = np.tile(np.arange(drawers), num_classes)
    X = (np.arange(len(y))[:, None, None] * np.ones((1, 4, 4)) / len(y)).astype(np.float32)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(y))
        X, y, drawer = X[order], y[order], drawer[order]
    return ImageDataset(X=X, y=y, drawer=drawer, class_names=[f"c{i}" for i in range(num_classes)])


# ImageDataset and train_test_split -----------------------------------------------------------

def test_split_holds_out_the_first_five_drawers_of_every_class():
    dataset = make_dataset(num_classes=4, drawers=20, shuffle_seed=0)
    train, test = train_test_split(dataset)
    assert len(test) == 4 * 5 and len(train) == 4 * 15
    assert set(test.drawer.tolist()) == {0, 1, 2, 3, 4}
    assert train.drawer.min() == 5
    for c in range(4):
        assert sorted(test.drawer[test.y == c].tolist()) == [0, 1, 2, 3, 4]
    # Examples keep their pixels and their original relative order.
    is_test = dataset.drawer < 5
    np.testing.assert_array_equal(test.X, dataset.X[is_test])
    np.testing.assert_array_equal(train.X, dataset.X[~is_test])
    assert train.class_names == test.class_names == dataset.class_names


def test_split_uses_the_lowest_drawer_numbers_when_they_do_not_start_at_zero():
    dataset = ImageDataset(X=np.zeros((5, 2, 2), np.float32), y=np.array([0, 0, 0, 1, 1]),
                           drawer=np.array([9, 4, 7, 30, 10]), class_names=["a", "b"])
    train, test = train_test_split(dataset, test_drawers=1)
    assert sorted(zip(test.y.tolist(), test.drawer.tolist())) == [(0, 4), (1, 10)]
    assert sorted(zip(train.y.tolist(), train.drawer.tolist())) == [(0, 7), (0, 9), (1, 30)]


def test_split_rejects_classes_too_small_to_train_on():
    with pytest.raises(ValueError, match="at least 6 examples per class; class 'c0' has 5"):
        train_test_split(make_dataset(drawers=5))
    with pytest.raises(ValueError, match="test_drawers must be >= 0"):
        train_test_split(make_dataset(), test_drawers=-1)
    with pytest.raises(TypeError, match="dataset must be an ImageDataset"):
        train_test_split({"X": None})


@pytest.mark.parametrize("change, error, message", [
    ({"X": np.zeros((6, 2, 2))}, TypeError, "X must be float32"),
    ({"X": np.full((6, 2, 2), 1.5, np.float32)}, ValueError, r"X must lie in \[0, 1\]"),
    ({"X": np.zeros((6, 4), np.float32)}, ValueError, "X must have 3 dimensions"),
    ({"y": np.array([0, 0, 0, 1, 1])}, ValueError, r"y must have shape \(6,\)"),
    ({"y": np.array([0, 0, 0, 1, 1, 2])}, ValueError, r"y must lie in \[0, 2\)"),
    ({"y": np.zeros(6, np.int64)}, ValueError, "class 'b' \\(label 1\\) has none"),
    ({"drawer": np.array([0, 1, 1, 0, 1, 2])}, ValueError, r"\(y, drawer\) pairs must be unique"),
    ({"drawer": np.array([0, 1, 2, 0, 1, -2])}, ValueError, "drawer must be >= 0"),
    ({"class_names": ["a", "a"]}, ValueError, "class_names must be unique"),
])
def test_dataset_rejects_inconsistent_arrays(change, error, message):
    fields = dict(X=np.zeros((6, 2, 2), np.float32), y=np.array([0, 0, 0, 1, 1, 1]),
                  drawer=np.array([0, 1, 2, 0, 1, 2]), class_names=["a", "b"])
    fields.update(change)
    with pytest.raises(error, match=message):
        ImageDataset(**fields)


# Resizing and grey conversion ----------------------------------------------------------------

def test_resize_area_averages_blocks_exactly():
    rng = np.random.default_rng(1)
    images = rng.random((3, 12, 12)).astype(np.float32)
    expected = images.reshape(3, 4, 3, 4, 3).mean(axis=(2, 4))
    resized = resize_area(images, 4)
    assert resized.dtype == np.float32
    np.testing.assert_allclose(resized, expected, rtol=1e-5)


def test_resize_area_keeps_mean_and_constants_for_any_ratio():
    """Every target pixel averages the source over its footprint and the footprints tile the
    image, so a constant stays constant and the mean is kept when sizes do not divide."""
    rng = np.random.default_rng(2)
    images = rng.random((2, 105, 105)).astype(np.float32)
    resized = resize_area(images, 28)
    np.testing.assert_allclose(resized.mean(axis=(1, 2)), images.mean(axis=(1, 2)), rtol=1e-4)
    np.testing.assert_allclose(resize_area(np.full((1, 105, 105), 0.25, np.float32), 28), 0.25,
                               rtol=1e-5)
    np.testing.assert_array_equal(resize_area(images[:, :3, :3], 6),
                                  images[:, :3, :3].repeat(2, axis=1).repeat(2, axis=2))


def test_to_grey_uses_luma_and_composites_alpha_over_white():
    rgba = np.array([[[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]])
    np.testing.assert_allclose(to_grey(rgba), [[0.299, 1.0]])
    np.testing.assert_allclose(to_grey(rgba[..., :3]), [[0.299, 0.0]])


# Omniglot ------------------------------------------------------------------------------------

def write_omniglot(root, layout, side=30):
    """Official layout: root/split/alphabet/character/<id>_<drawer>.png, black ink on white.

    layout: {split: {alphabet: {character: drawers}}}. Drawer d of every character has a black
    square of 5x5 pixels at row 0, column 5·d, so the drawer order can be read off the image.
    """
    for split, alphabets in layout.items():
        for alphabet, characters in alphabets.items():
            for character, drawers in characters.items():
                folder = root / split / alphabet / character
                folder.mkdir(parents=True)
                for d in range(drawers):
                    image = np.ones((side, side))
                    image[0:5, 5 * d:5 * d + 5] = 0.0
                    matplotlib.image.imsave(folder / f"0{d:03d}_{d + 1:02d}.png", image,
                                            cmap="gray", vmin=0, vmax=1)


LAYOUT = {"images_background": {"Beta": {"character02": 6, "character01": 6},
                                 "Alpha": {"character01": 6}},
          "images_evaluation": {"Gamma": {"character01": 6}}}
NAMES = ["images_background/Alpha/character01", "images_background/Beta/character01",
         "images_background/Beta/character02", "images_evaluation/Gamma/character01"]


def test_omniglot_reads_sorted_characters_with_drawers_in_file_order(tmp_path):
    write_omniglot(tmp_path, LAYOUT)
    dataset = load_dataset(f"omniglot:{tmp_path}", num_classes=None, size=6)
    assert dataset.class_names == NAMES
    np.testing.assert_array_equal(dataset.y, np.repeat(np.arange(4), 6))
    np.testing.assert_array_equal(dataset.drawer, np.tile(np.arange(6), 4))
    assert dataset.X.shape == (24, 6, 6) and dataset.X.dtype == np.float32
    # 30 -> 6 pixels: each output pixel averages a 5x5 block, so drawer d's black square
    # becomes exactly one bright pixel at (0, d) after inverting; everything else is dark.
    for image, drawer in zip(dataset.X, dataset.drawer):
        expected = np.zeros((6, 6))
        expected[0, drawer] = 1.0
        np.testing.assert_allclose(image, expected, atol=1e-5)


def test_omniglot_chooses_classes_by_seed(tmp_path):
    write_omniglot(tmp_path, LAYOUT)
    picks = {tuple(load_omniglot(tmp_path, num_classes=2, size=6, seed=s).class_names)
             for s in range(8)}
    assert all(set(p) <= set(NAMES) and list(p) == sorted(p) and len(p) == 2 for p in picks)
    assert len(picks) > 1
    again = load_omniglot(tmp_path, num_classes=2, size=6, seed=3)
    assert again.class_names == load_omniglot(tmp_path, num_classes=2, size=6, seed=3).class_names
    with pytest.raises(ValueError, match="num_classes=5 is more than the 4 classes"):
        load_omniglot(tmp_path, num_classes=5, size=6)


def test_omniglot_ignores_hidden_files(tmp_path):
    write_omniglot(tmp_path, {"images_background": {"Alpha": {"character01": 6}}})
    (tmp_path / "images_background" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "images_background" / "Alpha" / "character01" / ".hidden").write_text("x")
    assert len(load_omniglot(tmp_path, size=6)) == 6


@pytest.mark.parametrize("damage, error, message", [
    (lambda root: None, FileNotFoundError, "does not exist"),
    (lambda root: root.mkdir(), FileNotFoundError, "has neither images_background"),
    (lambda root: (root / "images_evaluation").mkdir(parents=True), ValueError,
     "holds no character folders"),
])
def test_omniglot_missing_folders(tmp_path, damage, error, message):
    root = tmp_path / "omniglot"
    damage(root)
    with pytest.raises(error, match=message):
        load_dataset(f"omniglot:{root}", num_classes=None)


def test_omniglot_bad_contents(tmp_path):
    write_omniglot(tmp_path, LAYOUT)
    character = tmp_path / "images_background" / "Alpha" / "character01"
    empty = tmp_path / "images_background" / "Alpha" / "character09"
    empty.mkdir()
    with pytest.raises(ValueError, match="character09' is empty"):
        load_omniglot(tmp_path)
    empty.rmdir()

    (character / "notes.txt").write_text("drawn on a Tuesday")
    with pytest.raises(ValueError, match=r"non-image files \['notes.txt'\]"):
        load_omniglot(tmp_path)
    (character / "notes.txt").unlink()

    (character / "0999_99.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="0999_99.png' is not a readable PNG"):
        load_omniglot(tmp_path)
    (character / "0999_99.png").unlink()

    (tmp_path / "images_background" / "Alpha" / "stray.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"unexpected files \['stray.png'\]"):
        load_omniglot(tmp_path)


# npz -----------------------------------------------------------------------------------------

def test_npz_maps_labels_and_numbers_drawers_by_occurrence(tmp_path):
    X = np.arange(7 * 4 * 4, dtype=np.uint8).reshape(7, 4, 4)
    y = np.array([7, 3, 7, 3, 3, 7, 10])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    dataset = load_dataset(f"npz:{tmp_path / 'd.npz'}", num_classes=None, size=4)
    assert dataset.class_names == ["3", "7", "10"]
    np.testing.assert_array_equal(dataset.y, [1, 0, 1, 0, 0, 1, 2])
    np.testing.assert_array_equal(dataset.drawer, [0, 0, 1, 1, 2, 2, 0])
    np.testing.assert_allclose(dataset.X, X / 255.0, rtol=1e-6)
    assert dataset.X.dtype == np.float32


def test_npz_with_drawers_class_names_colour_and_subset(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((6, 8, 8, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", X=X, y=np.array([0, 1, 2, 0, 1, 2]),
             drawer=np.array([5, 5, 5, 9, 9, 9]), class_names=np.array(["a", "b", "c"]))
    full = load_npz(tmp_path / "d.npz", size=4)
    assert full.class_names == ["a", "b", "c"]
    np.testing.assert_array_equal(full.drawer, [5, 5, 5, 9, 9, 9])
    grey = X @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(full.X, grey.reshape(6, 4, 2, 4, 2).mean(axis=(2, 4)), rtol=1e-5)
    part = load_npz(tmp_path / "d.npz", num_classes=2, size=4, seed=1)
    assert len(part.class_names) == 2 and set(part.class_names) < {"a", "b", "c"}
    for label, name in enumerate(part.class_names):
        np.testing.assert_array_equal(part.X[part.y == label], full.X[full.y == "abc".index(name)])


@pytest.mark.parametrize("arrays, error, message", [
    ({"X": np.zeros((3, 4, 4)), "y": np.zeros(2, int)}, ValueError, "same number of examples as X"),
    ({"X": np.zeros((3, 4, 4))}, ValueError, "has no array 'y'"),
    ({"X": np.full((3, 4, 4), 2.0), "y": np.zeros(3, int)}, ValueError, r"within \[0, 1\]"),
    ({"X": np.full((3, 4, 4), "a"), "y": np.zeros(3, int)}, ValueError, "float or uint8 image"),
    ({"X": np.zeros((3, 4, 4, 2)), "y": np.zeros(3, int)}, ValueError, r"\(n, h, w, 1\|3\|4\)"),
    ({"X": np.zeros((3, 4, 4)), "y": np.zeros(3)}, ValueError, "integer labels"),
    ({"X": np.zeros((3, 4, 4)), "y": np.zeros(3, int), "drawer": np.zeros(3, int)},
     ValueError, "pairs must be unique"),
])
def test_npz_bad_data(tmp_path, arrays, error, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(error, match=message):
        load_npz(tmp_path / "d.npz")


def test_npz_missing_or_unreadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}", num_classes=None)
    (tmp_path / "bad.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a valid npz file"):
        load_npz(tmp_path / "bad.npz")


# Dispatch ------------------------------------------------------------------------------------

def test_load_dataset_kanji(tmp_path, monkeypatch):
    monkeypatch.setenv("HEBBREF_CACHE_DIR", str(tmp_path))
    dataset = load_dataset("kanji", num_classes=3, size=12, seed=1)
    assert dataset.X.shape == (60, 12, 12) and dataset.num_classes == 3
    train, test = train_test_split(dataset)
    assert len(train) == 45 and len(test) == 15


@pytest.mark.parametrize("spec, error, message", [
    ("mnist:/data", ValueError, "spec must be 'kanji', 'digits', 'omniglot:PATH' or 'npz:PATH'"),
    ("digits:/somewhere", ValueError, "spec must be"),
    ("kanji:/somewhere", ValueError, "spec must be"),
    ("omniglot:", ValueError, "needs a path after the colon"),
    (None, TypeError, "spec must be a str"),
])
def test_load_dataset_rejects_unknown_specs(spec, error, message):
    with pytest.raises(error, match=message):
        load_dataset(spec, num_classes=2)


def test_load_dataset_checks_options(tmp_path):
    write_omniglot(tmp_path, LAYOUT)
    with pytest.raises(ValueError, match="size must be >= 1"):
        load_dataset(f"omniglot:{tmp_path}", num_classes=2, size=0)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        load_dataset(f"omniglot:{tmp_path}", num_classes=0)


def test_npz_file_truncated_or_claiming_a_huge_array_is_a_clear_error(tmp_path):
    """A truncated npz is a clear error, not a BadZipFile; a header claiming 10¹² elements
    tried to allocate terabytes."""
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((4, 3, 3)), y=np.arange(4))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid npz file"):
        load_npz(path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(64))
        archive.writestr("y.npy", header.getvalue() + bytes(64))
    with pytest.raises(ValueError, match=r"declares float64 of shape \(1000000, 1000000\)"):
        load_npz(path)


def test_omniglot_refuses_a_fifo_instead_of_hanging(tmp_path):
    """A FIFO named *.png is refused at once instead of blocking the reader."""
    write_omniglot(tmp_path, LAYOUT)
    os.mkfifo(tmp_path / "images_background" / "Alpha" / "character01" / "0999_99.png")
    with pytest.raises(ValueError, match="neither folders nor regular files"):
        load_omniglot(tmp_path)


def npy_header(shape, descr="<f4"):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue()


@pytest.mark.parametrize("shape, size, message", [
    ((0, 10**12, 10**12), 28, r"declares float32 of shape \(0, 1000000000000"),
    ((0, 10**5, 10**5), 28, "more than MAX_IMAGE_PIXELS"),
    ((2, 4, 4), 10**6, r"X of shape \(2, 4, 4\) resized to size 1000000 needs"),
])
def test_npz_sizes_are_refused_before_any_array_is_read(tmp_path, monkeypatch, shape, size,
                                                        message):
    """A zero-size X with a 10¹² side, 10¹⁰-pixel images, or a resize to a size whose float32
    copies exceed the machine's memory, is refused from the headers, before any read."""
    path = tmp_path / "d.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("y.npy", npy_header((shape[0],), "<i8") + bytes(8 * shape[0]))
        archive.writestr("X.npy", npy_header(shape) + bytes(4 * int(np.prod(shape))))
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: pytest.fail("read"))
    with pytest.raises(ValueError, match=message):
        load_npz(path, size=size)


def test_a_png_declaring_a_huge_image_is_refused_before_decoding(tmp_path, monkeypatch):
    """A few bytes of header can declare 20000 × 20000 pixels; decoding would allocate GBs."""
    write_omniglot(tmp_path, LAYOUT)
    for png in tmp_path.rglob("*.png"):
        data = bytearray(png.read_bytes())
        data[16:24] = (20000).to_bytes(4, "big") * 2  # IHDR width and height
        png.write_bytes(bytes(data))
    monkeypatch.setattr(matplotlib.image, "imread", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(ValueError, match="20000 × 20000 pixels, more than MAX_IMAGE_PIXELS"):
        load_omniglot(tmp_path)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_npz_path_that_is_not_a_file_is_named_for_what_it_is(tmp_path, kind):
    """A FIFO would block np.load forever; both used to be reported as absent."""
    path = tmp_path / "d.npz"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with pytest.raises(ValueError, match="is a FIFO" if kind == "fifo" else "is a folder"):
        load_dataset(f"npz:{path}", num_classes=None)
