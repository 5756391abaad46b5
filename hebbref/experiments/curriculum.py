"""Reproduction 1: faster binding of novel classes on a class-incremental curriculum (METHOD §5).

The stream: `initial_classes` classes are available at step 0 and `add_count` more are added
every `add_every` steps; each training batch draws `batch_size` training images uniformly from
the classes introduced so far, so every new class starts rare. The model is an MLP whose last
hidden layer feeds a softmax over all classes. The baseline (plain softmax) and the Hebbian
softmax see the same initial weights and the same stream of batches.

Every `eval_every` steps each test image of every introduced class is classified once and its
result filed under the exposure bucket of its class: how many training draws of that class the
model has made so far (0, 1, 2, 3–5, 6–10, 11–20, 21–50, >50).
"""
import dataclasses
import os
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from hebbref.data.images import load_dataset, train_test_split
from hebbref.files import check_writable_folder
from hebbref.hebbian import HebbianSoftmax
from hebbref.metrics import ExposureTally
from hebbref.models.classifier import classifier_forward, classifier_init, classifier_loss
from hebbref.record import run_record, write_results
from hebbref.train import train_step
from hebbref.validate import check_int, check_number


@dataclass
class CurriculumConfig:
    """Everything that determines a curriculum run (both models)."""

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
    optimizer: str = "adam"
    lr: float = 1e-3
    gamma: float = 0.1
    T: float = 100.0
    lam_rule: str = "paper"
    eval_every: int = 20
    seed: int = 0
    out: str | None = None

    def validate(self):
        check_number(self.gamma, "gamma", low=0.0, high=1.0)
        check_number(self.T, "T", low=0.0, allow_inf=True)
        check_number(self.lr, "lr", low=0.0)
        for name in ("classes", "size", "initial_classes", "add_every", "add_count", "steps",
                     "batch_size", "eval_every"):
            check_int(getattr(self, name), name, 1)
        if self.initial_classes > self.classes:
            raise ValueError(f"initial_classes ({self.initial_classes}) must not exceed classes "
                             f"({self.classes})")
        return self


def demo_config(**overrides):
    """`hebbref demo`: 60 classes, 900 steps: a couple of minutes on 2 cores."""
    settings = dict(classes=60, initial_classes=5, add_every=12, add_count=1, steps=900,
                    eval_every=15)
    settings.update(overrides)
    return CurriculumConfig(**settings)


def introduced(step, config):
    """How many classes the stream offers at training step `step` (0-based)."""
    return min(config.classes, config.initial_classes + (step // config.add_every) * config.add_count)


def make_stream(config, train_y):
    """The batches both models see: a list of index arrays into the training set.

    train_y: (n,) class labels, classes numbered in order of introduction.
    """
    rng = np.random.default_rng([config.seed, 2])
    order = np.argsort(train_y, kind="stable")
    class_end = np.searchsorted(train_y[order], np.arange(config.classes), side="right")
    stream = []
    for step in range(config.steps):
        available = class_end[introduced(step, config) - 1]
        stream.append(order[rng.integers(0, available, config.batch_size)])
    return stream


def evaluate(params, x, y, config, exposures, tally):
    """Classify each test image of the introduced classes once; file it by exposure bucket.

    Returns the accuracy over those images.
    """
    z, _, _ = classifier_forward(params, x, activation=config.activation)
    correct = z.argmax(axis=1) == y
    tally.add(correct, exposures[y])
    return float(correct.mean())


def run_model(config, data, stream, *, hebbian, progress=True):
    """Train one model on the stream; return its exposure tally and accuracy over time."""
    (train_x, train_y), (test_x, test_y) = data
    rng = np.random.default_rng([config.seed, 1])
    params = classifier_init(train_x.shape[1], list(config.hidden_sizes), config.classes, rng,
                             dtype=np.float32)
    rule = (HebbianSoftmax(config.classes, gamma=config.gamma, T=config.T,
                           lam_rule=config.lam_rule) if hebbian else None)
    opt_state, exposures, tally, over_time = {}, np.zeros(config.classes, np.int64), ExposureTally(), []
    for step, batch in enumerate(tqdm(stream, desc="hebbian" if hebbian else "baseline",
                                      disable=None if progress else True, unit="step")):
        x, y = train_x[batch], train_y[batch]
        loss, grads, h = classifier_loss(params, x, y, activation=config.activation)
        if not np.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {loss} at step {step + 1} "
                                     f"({'Hebbian' if hebbian else 'baseline'} model)")
        train_step(params, grads, opt_state, h, y, optimizer=config.optimizer, lr=config.lr,
                   hebbian=rule)
        np.add.at(exposures, y, 1)
        if (step + 1) % config.eval_every == 0 or step + 1 == len(stream):
            seen = test_y < introduced(step, config)
            accuracy = evaluate(params, test_x[seen], test_y[seen], config, exposures, tally)
            over_time.append({"step": step + 1, "classes": introduced(step, config),
                              "accuracy": accuracy, "loss": float(loss)})
    return {"by_exposure": tally.as_dict(), "over_time": over_time,
            "exposures": exposures.tolist()}


def prepare_data(config):
    """Train/test arrays: images flattened to (n, size²) float32, centred on the train mean."""
    dataset = load_dataset(config.dataset, num_classes=config.classes, size=config.size,
                           seed=config.seed)
    train, test = train_test_split(dataset)
    mean = train.X.mean()
    flat = lambda ds: (ds.X.reshape(ds.X.shape[0], -1) - mean).astype(np.float32)
    return (flat(train), train.y), (flat(test), test.y)


def run(config=None, *, progress=True):
    """Baseline and Hebbian softmax on one stream. Returns (and writes to config.out) results."""
    config = (config or CurriculumConfig()).validate()
    if config.out:  # before any work: a bad --out should not cost two training runs
        check_writable_folder(config.out)
    data = prepare_data(config)
    stream = make_stream(config, data[0][1])
    # Batches of 16 gain nothing from a second BLAS thread, and a thread pool that waits on a
    # busy core makes each small product ~10x slower.
    with threadpool_limits(1):
        results = {"config": dataclasses.asdict(config), "record": run_record(),
                   "baseline": run_model(config, data, stream, hebbian=False, progress=progress),
                   "hebbian": run_model(config, data, stream, hebbian=True, progress=progress)}
    if config.out:
        from hebbref.plots import plot_accuracy_by_exposure, plot_accuracy_over_time

        write_results(os.path.join(config.out, "results.json"), results)
        runs = {name: [results[name]] for name in ("baseline", "hebbian")}
        plot_accuracy_by_exposure(runs, os.path.join(config.out, "accuracy_by_exposure.png"),
                                  title=describe(config))
        plot_accuracy_over_time(runs, os.path.join(config.out, "accuracy_over_time.png"),
                                title=describe(config))
    return results


def describe(config):
    return (f"{config.dataset}, {config.classes} classes, MLP {list(config.hidden_sizes)} "
            f"{config.activation}, γ={config.gamma:g}, T={config.T:g}")
