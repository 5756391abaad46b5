"""Reproduction 1: faster binding of novel classes on a class-incremental curriculum
(docs/MATH.md §9). The stream and the held-out sets: §1.3; accuracy by exposure bucket: §6.3.
Baseline (plain softmax) and Hebbian softmax see the same initial weights and the same batches.

Each evaluation also records why a written row may cost accuracy: the mean norm of fresh rows
(classes seen 1–5 times) and of well-seen rows (> 20), and how often an image of a well-seen
class is classified as a fresh class."""
import dataclasses
import os
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from hebbref.data.images import load_dataset, train_test_split
from hebbref.files import check_memory, check_writable_folder, release_folder
from hebbref.hebbian import HebbianOptions, HebbianSoftmax
from hebbref.metrics import ExposureTally
from hebbref.models.classifier import classifier_forward, classifier_init, classifier_loss
from hebbref.nn.activations import ACTIVATIONS
from hebbref.optim import OPTIMIZERS
from hebbref.record import run_record, write_results
from hebbref.train import train_step
from hebbref.checks import check_int, check_number

FRESH, WELL_SEEN = 5, 20   # exposure limits of the "why" measurement (module docstring)


@dataclass
class CurriculumConfig(HebbianOptions):
    """Everything that determines a curriculum run (both models); the defaults are the kanji
    curriculum of validation/curriculum.py."""

    dataset: str = "kanji"
    classes: int = 100
    size: int = 28
    initial_classes: int = 10
    add_every: int = 40
    add_count: int = 5
    steps: int = 1500
    batch_size: int = 16
    hidden_sizes: tuple = (256, 256)
    activation: str = "relu"
    # Chosen on validation drawers by the lever study (validation/README.md, "Reproduction 1",
    # the "Lever study" table): RMSProp, ReLU, γ = 0.01, T = 500 and centred writes, the only
    # setting that met its criterion (gain at 1–2 exposures, no loss on well-seen classes).
    optimizer: str = "rmsprop"
    lr: float = 3e-4
    gamma: float = 0.01
    T: float = 500.0
    lam_rule: str = "paper"
    write_scale: str = "centred"
    # levers against the late cost (docs/MATH.md §5.7): a half-size write, centred on the mean
    # of about the last 64 images, chosen on validation drawers in four regimes and reported on
    # test drawers of fresh classes (validation/README.md, "The late cost: centring against a
    # running mean"; validation/results/curriculum_centring.json)
    write_gain: float = 0.5
    calibrate: bool = False
    moments: str = "keep"
    fresh_bias: str = "keep"
    centre_window: float = 64.0
    eval_every: int = 5
    eval_drawers: int = 5
    split: str = "test"
    seed: int = 0
    reference: bool = False  # the plain NumPy twins throughout, no numba: the path to step through
    out: str | None = None

    def validate(self, name=str):
        """Check every field; return self. name(field) is how errors call a field (the command
        line passes one that gives its flag, --classes for classes)."""
        if not isinstance(self.reference, bool):
            raise TypeError(f"{name('reference')} must be a bool, got {self.reference!r}")
        check_number(self.lr, name("lr"), low=0.0)
        for field in ("classes", "size", "initial_classes", "add_every", "add_count", "steps",
                      "batch_size", "eval_every", "eval_drawers"):
            check_int(getattr(self, field), name(field), 1)
        available = DATASET_CLASSES.get(self.dataset)
        if available is not None and self.classes > available:
            raise ValueError(f"{name('classes')} {self.classes} is more than the {available} "
                             f"classes of {name('dataset')} {self.dataset}")
        if self.initial_classes > self.classes:
            raise ValueError(f"{name('initial_classes')} ({self.initial_classes}) must not "
                             f"exceed {name('classes')} ({self.classes})")
        for field, choices in (("split", ("validation", "test")), ("optimizer", tuple(OPTIMIZERS)),
                               ("activation", ACTIVATIONS)):
            if getattr(self, field) not in tuple(choices):  # a tuple: a list value cannot hash
                raise ValueError(f"{name(field)} must be one of {sorted(choices)}, got "
                                 f"{getattr(self, field)!r}")
        self.hebbian_config()
        if not isinstance(self.hidden_sizes, (tuple, list)) or not self.hidden_sizes:
            raise ValueError(f"{name('hidden_sizes')} must be a non-empty list of sizes, got "
                             f"{self.hidden_sizes!r}")
        hidden = [check_int(h, name("hidden_sizes"), 1) for h in self.hidden_sizes]
        widths = [self.size**2, *hidden, self.classes]
        weights = 3 * 4 * sum((a + 1) * b for a, b in zip(widths, widths[1:]))  # + 2 buffers
        images = 3 * 4 * self.classes * 20 * self.size**2  # 20 drawers a class (kanji)
        check_memory(weights + images + self.steps * (8 * self.batch_size + 100),
                     f"size={self.size}, classes={self.classes}, hidden_sizes="
                     f"{self.hidden_sizes}, steps={self.steps}, batch_size={self.batch_size}")
        return self


# Each dataset's curriculum protocol, as validation/curriculum.py runs it: the fields in which it
# differs from the KanjiVG defaults above. The digits have 10 classes and ~180 drawers, so fewer
# classes arrive more slowly, in smaller batches, and 40 drawers per held-out set.
DATASET_PROTOCOLS = {
    "digits": dict(classes=10, size=8, initial_classes=2, add_every=60, add_count=1, steps=600,
                   batch_size=4, hidden_sizes=(256, 128), eval_every=1, eval_drawers=40),
}
DATASET_CLASSES = {"digits": 10}   # built-in datasets whose class count is known before loading


def with_dataset_protocol(fields, dataset="kanji"):
    """fields with the protocol of fields["dataset"] (else `dataset`) filling the fields it lacks,
    so `hebbref curriculum --dataset digits` alone runs the digits protocol."""
    return {**DATASET_PROTOCOLS.get(fields.get("dataset", dataset), {}), **fields}


# `hebbref demo` runs seeds 0, 1, 2 and pools them: in its regime one seed's >50 difference
# ranged from −0.013 to +0.037 over validation seeds 10–15, more than the effect
# (validation/results/curriculum_centring.json, the screen).
DEMO_SEEDS = 3


def demo_config(**overrides):
    """`hebbref demo`: 60 classes, 900 steps: a few seconds a seed on one core."""
    return CurriculumConfig(**{**dict(classes=60, initial_classes=5, add_every=12, add_count=1,
                                      steps=900, eval_every=5), **overrides})


def introduced(step, config):
    """How many classes the stream offers at training step `step` (0-based)."""
    return min(config.classes, config.initial_classes + (step // config.add_every) * config.add_count)


def make_stream(config, train_y):
    """The batches both models see: a list of index arrays into the training set.
    train_y: (n,) class labels, classes numbered in order of introduction."""
    rng = np.random.default_rng([config.seed, 2])
    order = np.argsort(train_y, kind="stable")
    class_end = np.searchsorted(train_y[order], np.arange(config.classes), side="right")
    stream = []
    for step in range(config.steps):
        available = class_end[introduced(step, config) - 1]
        stream.append(order[rng.integers(0, available, config.batch_size)])
    return stream


def curriculum_train_step(params, opt_state, hebbian_softmax, x, y, config):
    """One step of either model (hebbian_softmax=None: the plain softmax), in place, in
    docs/MATH.md §5 order: loss and gradients, optimiser step, Hebbian rule.
    x: (N, D), y: (N,). Returns the training loss before the step."""
    loss, grads, h = classifier_loss(params, x, y, activation=config.activation,
                                     reference=config.reference)
    if not np.isfinite(loss):
        model = "Hebbian" if hebbian_softmax else "baseline"
        raise FloatingPointError(f"non-finite training loss {loss} ({model} model)")
    train_step(params, grads, opt_state, h, y, optimizer=config.optimizer, lr=config.lr,
               hebbian_softmax=hebbian_softmax, reference=config.reference)
    return loss


def classify_held_out(params, x, y, images, exposures, tally, config):
    """Classify each held-out image once, filed by exposure bucket (docs/MATH.md §6.3).
    x: (N, D), y: (N,), images: (N,) their ids in the held-out set; exposures: (V,) per class.
    Returns {"accuracy", "fresh_norm", "seen_norm", "fresh_wins"} (None where undefined): the
    module docstring's why-measurement, fresh = seen 1..FRESH times, well-seen > WELL_SEEN."""
    z, _, _ = classifier_forward(params, x, activation=config.activation)
    predicted = z.argmax(axis=1)
    correct = predicted == y
    tally.add(correct, exposures[y], images)
    norms = np.linalg.norm(params["softmax.theta"], axis=1)
    fresh = (exposures >= 1) & (exposures <= FRESH)
    seen = exposures > WELL_SEEN
    mean = lambda values: float(values.mean()) if values.size else None
    return {"accuracy": float(correct.mean()), "fresh_norm": mean(norms[fresh]),
            "seen_norm": mean(norms[seen]),
            "fresh_wins": (mean(fresh[predicted[seen[y]]]) if fresh.any() else None)}


def run_model(config, data, stream, *, hebbian, progress=True):
    """Train one model on the stream; return its exposure tally and accuracy over time.
    The weights take the dtype of the images (prepare_data: float32)."""
    (train_x, train_y), (test_x, test_y) = data
    rng = np.random.default_rng([config.seed, 1])
    params = classifier_init(train_x.shape[1], list(config.hidden_sizes), config.classes, rng,
                             dtype=train_x.dtype)
    hebbian_softmax = (HebbianSoftmax.from_config(config.hebbian_config(), config.classes)
                       if hebbian else None)
    opt_state, exposures, over_time = {}, np.zeros(config.classes, np.int64), []
    tally = ExposureTally(len(test_y))
    for step, batch in enumerate(tqdm(stream, desc="hebbian" if hebbian else "baseline",
                                      disable=None if progress else True, unit="step")):
        try:
            loss = curriculum_train_step(params, opt_state, hebbian_softmax, train_x[batch],
                                         train_y[batch], config)
        except FloatingPointError as error:
            raise FloatingPointError(f"{error} at step {step + 1}") from None
        np.add.at(exposures, train_y[batch], 1)
        if (step + 1) % config.eval_every == 0 or step + 1 == len(stream):
            shown = np.flatnonzero(test_y < introduced(step, config))
            point = classify_held_out(params, test_x[shown], test_y[shown], shown, exposures,
                                      tally, config)
            over_time.append({"step": step + 1, "classes": introduced(step, config),
                              "loss": float(loss), **point})
    return {"by_exposure": tally.as_dict(), "over_time": over_time,
            "exposures": exposures.tolist(),
            "per_image": {"correct": tally.correct.tolist(), "total": tally.total.tolist()}}


def prepare_data(config):
    """Train and held-out (config.split) arrays, images flattened to (n, size²) float32 and
    centred on the training mean, labels permuted by the seed (docs/MATH.md §1.3)."""
    dataset = load_dataset(config.dataset, num_classes=config.classes, size=config.size,
                           seed=config.seed)
    if dataset.num_classes != config.classes:
        raise ValueError(f"classes={config.classes} but dataset {config.dataset!r} has "
                         f"{dataset.num_classes}")
    rest, test = train_test_split(dataset, config.eval_drawers)        # drawers 0..k−1
    train, validation = train_test_split(rest, config.eval_drawers)    # drawers k..2k−1
    held_out = test if config.split == "test" else validation
    relabel = np.random.default_rng([config.seed, 3]).permutation(config.classes)
    mean = train.X.mean()
    flat = lambda ds: (ds.X.reshape(ds.X.shape[0], -1) - mean).astype(np.float32)
    return (flat(train), relabel[train.y]), (flat(held_out), relabel[held_out.y])


def run(config=None, *, progress=True, models=("baseline", "hebbian")):
    """Baseline and Hebbian softmax on one stream. Returns (and writes to config.out) results."""
    config = (config or CurriculumConfig()).validate()
    if config.out:  # before any work: a bad --out should not cost two training runs
        check_writable_folder(config.out)
    data = prepare_data(config)
    stream = make_stream(config, data[0][1])
    # Batches of 16 gain nothing from a second BLAS thread, and a thread pool that waits on a
    # busy core makes each small product ~10x slower.
    with threadpool_limits(1):
        results = {"config": dataclasses.asdict(config), "record": run_record()}
        for name in models:
            results[name] = run_model(config, data, stream, hebbian=name == "hebbian",
                                      progress=progress)
    if config.out:
        write_results(os.path.join(config.out, "results.json"), results)
        write_plots({name: [results[name]] for name in models}, config)
        release_folder(config.out)  # taken by check_writable_folder; an error keeps it to exit
    return results


def run_seeds(config, seeds, *, progress=True):
    """`run` once per seed (seeds: ints; with several, each into config.out/seed-<s>, the plots
    over all of them into config.out). Returns {"baseline": [...], "hebbian": [...]}, one
    result per seed."""
    several = len(seeds) > 1
    runs = {"baseline": [], "hebbian": []}
    for seed in seeds:
        out = config.out and (os.path.join(config.out, f"seed-{seed}") if several else config.out)
        results = run(dataclasses.replace(config, seed=seed, out=out), progress=progress)
        for name in runs:
            runs[name].append(results[name])
    if config.out and several:
        write_plots(runs, config)
    return runs


def write_plots(runs, config):
    """Accuracy by exposure and over time of runs {model: [result per seed]} into config.out."""
    from hebbref.plots import plot_accuracy_by_exposure, plot_accuracy_over_time

    title = (f"{config.dataset}, {config.classes} classes, MLP {list(config.hidden_sizes)} "
             f"{config.activation}, {config.optimizer}, γ={config.gamma:g}, T={config.T:g}, "
             f"{config.write_scale} write × {config.write_gain:g}"
             + (f" (window {config.centre_window:g})" if config.centre_window else "")
             + f", {config.split} drawers")
    for plot, png in ((plot_accuracy_by_exposure, "accuracy_by_exposure.png"),
                      (plot_accuracy_over_time, "accuracy_over_time.png")):
        plot(runs, os.path.join(config.out, png), title=title)

