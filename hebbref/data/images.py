"""Character-image datasets for reproduction 1 (docs/MATH.md §9): many classes, few drawers
each, from four sources (load_dataset): "kanji" (hebbref.data.kanji), "omniglot:PATH",
"digits" (scikit-learn's 8 × 8 digits) and "npz:PATH". Each gives an ImageDataset, strokes bright
on a dark background; train_test_split holds out the first drawers of every class (§1.3)."""
import math
from pathlib import Path

import matplotlib.image
import numpy as np
from tqdm import tqdm

from hebbref.data.dataset import ImageDataset
from hebbref.data.kanji import render_kanji_dataset
from hebbref.files import check_memory, open_regular, read_npz
from hebbref.checks import check_int, check_labels

_OMNIGLOT_SPLITS = ("images_background", "images_evaluation")
MAX_IMAGE_PIXELS = 2**24  # 4096 × 4096: a character image is resized to tens of pixels a side


def train_test_split(dataset, test_drawers=5):
    """(train, test) ImageDatasets: test the first ``test_drawers`` drawers of every class, as the
    paper holds out the first 5 examples per class (docs/MATH.md §1.3); each keeps the example
    order and all class names. ValueError if a class would have nothing left to train on."""
    if not isinstance(dataset, ImageDataset):
        raise TypeError(f"dataset must be an ImageDataset, got {type(dataset).__name__}")
    check_int(test_drawers, "test_drawers", 0)
    counts = np.bincount(dataset.y, minlength=dataset.num_classes)
    short = np.flatnonzero(counts < test_drawers + 1)
    if short.size:
        raise ValueError(f"test_drawers={test_drawers} needs at least {test_drawers + 1} "
                         f"examples per class; class {dataset.class_names[short[0]]!r} has "
                         f"{counts[short[0]]} ({short.size} classes are short)")
    test = _rank_in_class(dataset.y, np.lexsort((dataset.drawer, dataset.y))) < test_drawers
    return dataset.subset(~test), dataset.subset(test)


def load_dataset(spec="kanji", *, num_classes, size=28, seed=0):
    """The ImageDataset named by ``spec``: "kanji", "digits", "omniglot:PATH" or "npz:PATH";
    num_classes (int >= 1, or None for all) chosen by ``seed``, images size × size."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str, got {type(spec).__name__}")
    source, _, path = spec.partition(":")
    if source == "kanji" and not path:
        return render_kanji_dataset(num_classes, size=size, seed=seed)
    if source == "digits" and not path:
        return load_digits(num_classes=num_classes, size=size, seed=seed)
    if source in ("omniglot", "npz"):
        if not path:
            raise ValueError(f"spec {spec!r} needs a path after the colon, e.g. "
                             f"'{source}:/data/{source}'")
        loader = load_omniglot if source == "omniglot" else load_npz
        return loader(path, num_classes=num_classes, size=size, seed=seed)
    raise ValueError(f"spec must be 'kanji', 'digits', 'omniglot:PATH' or 'npz:PATH', got "
                     f"{spec!r}")


def _check_options(num_classes, size, seed):
    if num_classes is not None:
        check_int(num_classes, "num_classes", 1)
    check_int(size, "size", 1)
    check_int(seed, "seed", 0)


def choose_classes(num_available, num_classes, seed):
    """Indices of the classes to keep, ascending: all of them if num_classes is None or equal
    to num_available, else num_classes drawn without replacement by ``seed``."""
    if num_classes is None or num_classes == num_available:
        return np.arange(num_available)
    if num_classes > num_available:
        raise ValueError(f"num_classes={num_classes} is more than the {num_available} classes "
                         f"available")
    return np.sort(np.random.default_rng(seed).permutation(num_available)[:num_classes])


def to_grey(image):
    """(..., h, w, 1|3|4) in [0, 1] -> (..., h, w) luminance; a (h, w) image is returned as is.
    Colour uses the ITU-R 601 luma weights; an alpha channel composites the image over white
    (a transparent background is paper)."""
    if image.ndim == 2:
        return image
    if image.shape[-1] == 1:
        return image[..., 0]
    luminance = image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=image.dtype)
    if image.shape[-1] == 4:
        alpha = image[..., 3]
        luminance = alpha * luminance + (1 - alpha)
    return luminance


def _area_weights(source, target, dtype):
    """(target, source) matrix averaging source pixels over each target pixel's footprint.
    Target pixel i covers source interval [i·s, (i+1)·s), s = source/target; each weight is the
    overlap with source pixel j's interval [j, j+1), divided by s, so every row sums to 1."""
    step = source / target
    low = np.arange(target)[:, None] * step
    pixel = np.arange(source)[None, :]
    overlap = np.clip(np.minimum(low + step, pixel + 1) - np.maximum(low, pixel), 0.0, None)
    return (overlap / step).astype(dtype)


def resize_area(images, size):
    """Resize (n, h, w) images to (n, size, size) by area averaging (exact box filter).
    Shrinking averages every source pixel a target pixel covers; enlarging repeats pixels.
    Values stay within the input range."""
    n, height, width = images.shape
    if (height, width) == (size, size):
        return images
    rows = _area_weights(height, size, images.dtype)     # (size, h)
    cols = _area_weights(width, size, images.dtype)      # (size, w)
    return np.clip(rows @ images @ cols.T, 0.0, 1.0)


def load_omniglot(root, *, num_classes=None, size=28, seed=0):
    """Omniglot in its official layout under root: images_background/ and/or
    images_evaluation/, each <alphabet>/<character>/*.png (black on white, 105 × 105); strokes
    made bright, resized to size × size. Classes "split/alphabet/character", sorted, num_classes
    of them chosen by ``seed``; a character's PNG files sorted by name are drawers 0, 1, ...
    Hidden files (".DS_Store") are ignored; any other non-PNG entry is an error."""
    _check_options(num_classes, size, seed)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"omniglot folder {str(root)!r} does not exist")
    splits = [root / split for split in _OMNIGLOT_SPLITS if (root / split).is_dir()]
    if not splits:
        raise FileNotFoundError(f"omniglot folder {str(root)!r} has neither "
                                f"{' nor '.join(_OMNIGLOT_SPLITS)}")
    characters = []  # (class name, sorted PNG paths)
    for split in splits:
        for alphabet in _visible_entries(split, want_dirs=True):
            for character in _visible_entries(alphabet, want_dirs=True):
                files = _visible_entries(character, want_dirs=False)
                not_png = [f.name for f in files if f.suffix.lower() != ".png"]
                if not_png:
                    raise ValueError(f"omniglot character folder {str(character)!r} holds "
                                     f"non-image files {not_png[:3]}; expected only .png")
                if not files:
                    raise ValueError(f"omniglot character folder {str(character)!r} is empty")
                characters.append((str(character.relative_to(root).as_posix()), files))
    if not characters:
        raise ValueError(f"omniglot folder {str(root)!r} holds no character folders")

    chosen = [characters[i] for i in choose_classes(len(characters), num_classes, seed)]
    bar = tqdm(chosen, desc="reading omniglot", unit="class", disable=None)
    images = [resize_area(1.0 - _read_png(file)[None], size)[0] for _, files in bar
              for file in files]
    y = np.repeat(np.arange(len(chosen), dtype=np.int64), [len(files) for _, files in chosen])
    return ImageDataset(X=np.stack(images).astype(np.float32, copy=False), y=y,
                        drawer=_occurrence_order(y), class_names=[name for name, _ in chosen])


def _visible_entries(folder, *, want_dirs):
    """Sorted entries of ``folder`` not starting with ".", all folders or all files."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    # Only folders and regular files: a FIFO named *.png would block the reader forever.
    special = [p.name for p in entries if not (p.is_dir() or p.is_file())]
    if special:
        raise ValueError(f"omniglot folder {str(folder)!r} holds {special[:3]}, which are "
                         f"neither folders nor regular files")
    wrong = [p.name for p in entries if p.is_dir() != want_dirs]
    if wrong:
        kind = "files" if want_dirs else "sub-folders"
        raise ValueError(f"omniglot folder {str(folder)!r} holds unexpected {kind} "
                         f"{wrong[:3]}; expected the layout split/alphabet/character/*.png")
    return entries


def _read_png(file):
    """(h, w) float32 grey in [0, 1] from a PNG file, with a clear error if it is not one. Its
    size is read from the header first: a few KB can declare 20000 × 20000 pixels (3 GB)."""
    with open_regular(file, "image") as handle:
        head = handle.read(24)
        if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
            raise ValueError(f"{str(file)!r} is not a readable PNG image (no PNG header)")
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if width * height > MAX_IMAGE_PIXELS:
            raise ValueError(f"{str(file)!r} is {width} × {height} pixels, more than "
                             f"MAX_IMAGE_PIXELS = {MAX_IMAGE_PIXELS}")
        handle.seek(0)
        try:
            image = matplotlib.image.imread(handle, format="png")
        except Exception as error:  # Pillow raises several types for a corrupt file
            raise ValueError(f"{str(file)!r} is not a readable PNG image: {error}") from None
    if image.dtype == np.uint8:
        image = image / np.float32(255)
    image = np.asarray(image, dtype=np.float32)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"{str(file)!r} has an unsupported image shape {image.shape}")
    return to_grey(image)


def load_npz(path, *, num_classes=None, size=28, seed=0):
    """Images from an .npz file, taken as they are (strokes expected bright on dark).
    Arrays: X (n, h, w) or (n, h, w, channels) with channels 1, 3 or 4, float in [0, 1] or
    uint8 (divided by 255); y (n,) integer labels (any values; sorted distinct values become
    classes 0..C−1, named str(value), unless class_names (C,) is given, in which case y must
    lie in [0, C)); drawer (n,) optional, non-negative ints, unique within a class; without it
    an example's drawer is its order of occurrence within its class."""
    _check_options(num_classes, size, seed)
    path = Path(path)
    # Before any array is read: X a float or uint8 image stack of at most MAX_IMAGE_PIXELS an
    # image whose conversion and resizing fit in memory, y and drawer integers of X's length.
    def check(headers, read):
        for name in ("X", "y"):
            if name not in headers:
                raise ValueError(f"it has no array {name!r}; it holds {sorted(headers)}")
        shape = headers["X"][0]
        if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3, 4)):
            raise ValueError(f"X must have shape (n, h, w) or (n, h, w, 1|3|4), got {shape}")
        for name in ("y", "drawer", "class_names"):
            other = headers.get(name, (shape[:1],))[0]
            if len(other) != 1 or (name != "class_names" and other != shape[:1]):
                raise ValueError(f"{name} must be 1-d with the same number of examples as X, "
                                 f"got X {shape} and {name} {other}")
        if headers["X"][1] != np.uint8 and headers["X"][1].kind != "f":
            raise ValueError(f"X must be float or uint8 image data, got dtype {headers['X'][1]}")
        for name, what in (("y", "integer labels"), ("drawer", "integers")):
            if name in headers and headers[name][1].kind not in "iu":
                raise ValueError(f"{name} must hold {what}, got dtype {headers[name][1]}")
        if shape[1] * shape[2] > MAX_IMAGE_PIXELS:
            raise ValueError(f"X holds {shape[1]} × {shape[2]} images, more than "
                             f"MAX_IMAGE_PIXELS = {MAX_IMAGE_PIXELS}")
        check_memory(3 * 4 * shape[0] * (math.prod(shape[1:]) + size**2),
                     f"X of shape {shape} resized to size {size}")

    arrays = read_npz(path, "npz file", check)
    X, y = arrays["X"], arrays["y"]
    if X.dtype == np.uint8:
        X = X / np.float32(255)
    elif X.size and (not np.isfinite(X).all() or X.min() < 0 or X.max() > 1):
        raise ValueError(f"{str(path)!r}: float X must be finite and within [0, 1]")
    if "class_names" in arrays:
        names = [str(name) for name in arrays["class_names"]]
        y = check_labels(y, f"{str(path)!r}: y (labels of class_names)", len(names))
    else:
        values, y = np.unique(y, return_inverse=True)
        names = [str(value) for value in values]
    drawer = arrays["drawer"] if "drawer" in arrays else _occurrence_order(y)
    return _chosen(X, y, drawer, names, num_classes, seed, size)


def load_digits(*, num_classes=None, size=8, seed=0):
    """scikit-learn's bundled handwritten digits (UCI optdigits test set: 1,797 images of 8 × 8,
    10 classes of about 180; no download), pixel counts 0..16 scaled to [0, 1]; an example's
    drawer is its order of occurrence within its class."""
    _check_options(num_classes, size, seed)
    from sklearn.datasets import load_digits as sklearn_digits  # a dependency of this loader only

    bunch = sklearn_digits()
    y = bunch.target.astype(np.int64)
    return _chosen(bunch.images / 16.0, y, _occurrence_order(y), [str(d) for d in range(10)],
                   num_classes, seed, size)


def _chosen(X, y, drawer, names, num_classes, seed, size):
    """The ImageDataset of the classes choose_classes keeps, relabelled 0, 1, ... in order, its
    images X (n, h, w) or (n, h, w, channels) made grey and resized to size × size."""
    keep = choose_classes(len(names), num_classes, seed)
    relabel = np.full(len(names), -1, dtype=np.int64)
    relabel[keep] = np.arange(len(keep))
    mask = relabel[y] >= 0
    X = np.asarray(X[mask], dtype=np.float32)
    if X.ndim == 4:
        X = to_grey(X)
    return ImageDataset(X=resize_area(X, size).astype(np.float32, copy=False),
                        y=relabel[y[mask]], drawer=drawer[mask].astype(np.int64),
                        class_names=[names[i] for i in keep])


def _rank_in_class(y, order):
    """(n,) int64: each example's place within its class when the examples are taken in
    `order` (a permutation that sorts y)."""
    counts = np.bincount(y)
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(y)) - (np.cumsum(counts) - counts)[y[order]]
    return rank


def _occurrence_order(y):
    """(n,) int64: how many earlier examples share each example's label."""
    return _rank_in_class(y, np.argsort(y, kind="stable"))
