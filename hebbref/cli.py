"""`hebbref` command line: a thin argparse layer over the library's run functions.

Options are absent from the parsed arguments unless typed (argparse.SUPPRESS), so a command
knows what the user asked for: typed options override a `--config results.json` or, for a
resumed LM run, must agree with the checkpoint. Each help text states the default."""
import argparse
import dataclasses
import functools
import importlib
import math
import os
import signal
import sys
import textwrap

import numpy as np

import hebbref
from hebbref.checks import check_int
from hebbref.hebbian import WRITE_SCALES


def float_or_inf(text):
    """T accepts a number or "inf" (never hand back to gradient descent)."""
    value = float(text)
    if math.isnan(value):
        raise argparse.ArgumentTypeError("T must be a number or 'inf', got nan")
    return value


def hidden_sizes(text):
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes like 256,256, got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    return sizes


def option(parser, flag, default, helptext, **kwargs):
    """An option that is absent from the arguments unless typed; its help states the default."""
    parser.add_argument(flag, dest=flag[2:].replace("-", "_"), default=argparse.SUPPRESS,
                        help=f"{helptext} (default: {default})", **kwargs)


def shown(value):
    """A default as the command line spells it: (256, 256) -> 256,256."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def flag(field):
    """The command-line flag of a config field: batch_size -> --batch-size."""
    return "--" + field.replace("_", "-")


def typed_options(args, config_class):
    """{field: value} of the config fields the user typed (--out is handled by each command)."""
    names = {f.name for f in dataclasses.fields(config_class)} - {"out"}
    return {k: v for k, v in vars(args).items() if k in names}


def config_file_fields(path, config_class):
    """The config fields of a results JSON (`--config`), floats such as T = "inf" decoded;
    ValueError naming the file for anything else (files.read_json) or fields it does not know."""
    from hebbref.files import read_json

    fields = {f.name: f for f in dataclasses.fields(config_class)}
    saved = read_json(path, "--config")
    saved = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(saved, dict):
        raise ValueError(f"--config {os.fspath(path)!r} holds no \"config\" record")
    saved.pop("out", None)  # a rerun writes to its own --out, never over the original
    unknown = sorted(set(saved) - set(fields))
    if unknown:
        raise ValueError(f"--config {path!r} has fields {unknown} that {config_class.__name__} "
                         f"does not know")
    decoded = {}
    for name, value in saved.items():
        if isinstance(fields[name].default, float) and value in ("inf", "-inf", "nan"):
            value = float(value)  # strict JSON's spelling (record.strict); others fail validate
        decoded[name] = tuple(value) if isinstance(value, list) else value
    return decoded


def print_exposure_table(runs):
    """Accuracy per exposure bucket pooled over the seeds of runs {model: [result per seed]};
    n = held-out images (evaluations) the bucket rests on, summed over the seeds."""
    from hebbref.plots import pooled_accuracy

    buckets = list(runs["baseline"][0]["by_exposure"])
    images = sum((np.asarray(r["per_image"]["total"]) > 0).sum(axis=0) for r in runs["baseline"])
    seeds = len(runs["baseline"])
    print(f"{'exposures':>10}  {'baseline':>9}  {'hebbian':>9}  {'n images (evaluations)':>24}"
          + (f"  ({seeds} seeds pooled)" if seeds > 1 else ""))
    for b, n in zip(buckets, images):
        accuracy = [pooled_accuracy(runs[m], b) for m in ("baseline", "hebbian")]
        cells = ["      n/a" if np.isnan(a) else f"{a:9.3f}" for a in accuracy]
        count = f"{n} ({sum(r['by_exposure'][b]['total'] for r in runs['baseline'])})"
        print(f"{b:>10}  {cells[0]}  {cells[1]}  {count:>24}")
    print_late_difference(runs)


def print_late_difference(runs):
    """Hebbian − baseline at 21–50 and >50 exposures with a 95 % bootstrap interval over the
    (seed, held-out image) pairs (hebbref.metrics.paired_difference_ci), and whether a cost
    remains."""
    from hebbref.metrics import paired_difference_of_runs

    difference = paired_difference_of_runs(runs["baseline"], runs["hebbian"])
    for b in ("21-50", ">50"):
        d = difference[b]
        if d["difference"] is None:
            continue
        verdict = ("a cost remains: the interval lies below 0" if d["high"] < 0 else
                   "no cost shown: the interval includes 0 or lies above it")
        print(f"Hebbian − baseline at {b} exposures: {d['difference']:+.3f} "
              f"[{d['low']:+.3f}, {d['high']:+.3f}] (95 %, over seeds and held-out images); "
              f"{verdict}")


def run_curriculum(args, make_config):
    from hebbref.experiments import curriculum

    fields = config_file_fields(args.config, curriculum.CurriculumConfig) if args.config else {}
    fields.update(typed_options(args, curriculum.CurriculumConfig))
    default = make_config()
    fields = curriculum.with_dataset_protocol(fields, default.dataset)
    fields["out"] = args.out or f"runs/{args.command}"
    if "initial_classes" not in fields:  # a small --classes alone should just work
        fields["initial_classes"] = min(default.initial_classes,
                                        fields.get("classes", default.classes))
    config = make_config(**fields).validate(name=flag)  # errors name flags, before any folder
    seeds = list(range(config.seed, config.seed + check_int(args.seeds, "--seeds", 1)))
    print(f"results and plots go to {config.out}"
          + (f" (each seed's results in seed-<s>/: seeds {seeds})" if len(seeds) > 1 else ""))
    print_exposure_table(curriculum.run_seeds(config, seeds, progress=not args.quiet))
    return 0


def lm_config(args):
    """The LMConfig to run: --config file, then --quick, then typed options; on --resume the
    checkpoint's config with the typed options (lm.run refuses those that contradict it)."""
    from hebbref.experiments import lm

    fields = config_file_fields(args.config, lm.LMConfig) if args.config else {}
    fields.update(lm.QUICK_SETTINGS if args.quick else {})
    fields.update(typed_options(args, lm.LMConfig))
    if args.resume:
        saved, _ = lm.load_state(args.resume)
        folder = os.path.dirname(os.path.abspath(args.resume))
        return dataclasses.replace(saved, **fields, out=args.out or folder)
    return lm.LMConfig(**fields, out=args.out or "runs/lm")


def print_perplexities(results):
    sections = [(split, results[split]) for split in ("valid", "test")]
    if "cache" in results:
        print(f"cache chosen on valid: {results['cache']['chosen']}")
        sections += [(f"{split} + cache", results["cache"][split]) for split in ("valid", "test")]
    if "mbpa" in results:
        print(f"MbPA chosen on valid: {results['mbpa']['chosen']}; tokens/s: " + ", ".join(
            f"{s} {v['value']:.0f} ({v['points']} points)"
            for s, v in results["mbpa"]["tokens_per_second"].items()))
        sections += [(f"{split} {name}", results["mbpa"][key][split])
                     for key, name in (("model", "(MbPA subset)"), ("cache", "+ cache (subset)"),
                                       ("mbpa", "+ MbPA"), ("cache_mbpa", "+ cache + MbPA"))
                     if key in results["mbpa"] for split in ("valid", "test")]
    for split, result in sections:
        rows = result["buckets"] + [result["overall"]]
        print(f"{split}: " + ", ".join(
            f"{r['name']} {r['perplexity']:.1f} ({r['tokens']})" if r["perplexity"] else
            f"{r['name']} n/a (0)" for r in rows))


def run_lm(args):
    from hebbref.experiments import lm

    config = lm_config(args)
    print(f"results, plots and checkpoint go to {config.out}")
    results = lm.run(config, resume=args.resume, progress=not args.quiet)
    if results["status"] == "interrupted":
        print(f"stopped by {results['signal']} at step {results['steps']}; checkpoint written to "
              f"{config.out}/checkpoint.npz (continue with --resume)", file=sys.stderr)
        return 128 + signal.Signals[results["signal"]]
    print(f"{results['tokens_per_second']:.0f} tokens/s over {results['steps']} steps")
    print_perplexities(results)
    return 0


def add_write_options(opt):
    """The rule's write options, the same for every command that trains; opt(flag, help, ...)
    is the command's own option adder (it states the command's default)."""
    opt("--lam-rule", "λ schedule (docs/MATH.md §5.3)", choices=["paper", "exact_mean"])
    opt("--write-scale", "transform of the written activations (docs/MATH.md §5.2)",
        choices=list(WRITE_SCALES))
    opt("--write-gain", "scale of each written mean (docs/MATH.md §5.7; 1: the paper's write)",
        type=float)


def add_curriculum_options(p, defaults, name):
    from hebbref.experiments.curriculum import DEMO_SEEDS

    def opt(flag, helptext, **kwargs):
        option(p, flag, shown(getattr(defaults, flag[2:].replace("-", "_"))), helptext, **kwargs)

    opt("--dataset", "kanji | digits | omniglot:PATH | npz:PATH")
    opt("--size", "images resized to size × size (the digits are 8 × 8)", type=int)
    opt("--classes", "classes in the curriculum", type=int)
    option(p, "--initial-classes", f"{defaults.initial_classes}, or --classes if fewer",
           "classes present from the start", type=int)
    opt("--add-every", "steps between introductions of new classes", type=int)
    opt("--add-count", "classes introduced each time", type=int)
    opt("--steps", "training steps", type=int)
    opt("--batch-size", "images per training batch", type=int)
    opt("--seed", "seed for the classes drawn, the weights and the stream", type=int)
    p.add_argument("--seeds", type=int, default=DEMO_SEEDS if name == "demo" else 1,
                   help="run seeds --seed, --seed + 1, … and pool them (default: "
                        f"{DEMO_SEEDS if name == 'demo' else 1})")
    opt("--gamma", "smallest mixing rate γ, in [0, 1]", type=float)
    opt("--T", "count at which a class returns to gradient descent ('inf': never)",
        type=float_or_inf)
    opt("--activation", "non-linearity of the hidden layers",
        choices=["relu", "tanh", "sigmoid", "linear"])
    opt("--hidden-sizes", "hidden layer sizes, e.g. 256,256", type=hidden_sizes)
    add_write_options(opt)
    opt("--centre-window", "centred writes subtract a running mean over about this many "
        "images (docs/MATH.md §5.7; 0: the batch's own mean)", type=float)
    opt("--optimizer", "optimiser (docs/MATH.md §4)", choices=["adam", "rmsprop", "sgd"])
    opt("--lr", "learning rate", type=float)
    opt("--eval-every", "steps between evaluations (1: every step)", type=int)
    opt("--eval-drawers", "drawers per class in each of the test and validation sets", type=int)
    opt("--split", "held-out drawers evaluated: validation (choose settings) or test",
        choices=["validation", "test"])
    p.add_argument("--out", default=None,
                   help=f"folder for results.json and plots (default: runs/{name})")
    p.epilog = protocol_help()


def protocol_help():
    """The end of `hebbref curriculum --help`: the defaults each dataset's protocol changes."""
    from hebbref.experiments.curriculum import DATASET_PROTOCOLS

    notes = []
    for dataset, protocol in DATASET_PROTOCOLS.items():
        flags = " ".join(f"{flag(k)} {shown(v)}" for k, v in protocol.items())
        notes.append(f"--dataset {dataset} sets its own protocol's defaults (typed options "
                     f"override them):\n" + textwrap.fill(flags, 78, initial_indent="  ",
                                                          subsequent_indent="  ",
                                                          break_on_hyphens=False))
    return "\n".join(notes)


def add_lm_options(p):
    from hebbref.experiments.lm import DEFAULT_LR, LMConfig, quick_config

    d, q = LMConfig(), quick_config()

    def opt(flag, helptext, **kwargs):
        default, quick = (getattr(c, flag[2:].replace("-", "_")) for c in (d, q))
        option(p, flag, f"{default}" + (f"; with --quick: {quick}" if quick != default else ""),
               helptext, **kwargs)

    opt("--corpus", "bbc | shakespeare | wikitext:DIR | text:PATH")
    opt("--hebbian", "Hebbian softmax, or plain with --no-hebbian",
        action=argparse.BooleanOptionalAction)
    opt("--gamma", "smallest mixing rate γ", type=float)
    opt("--T", "count at which a class returns to gradient descent", type=float_or_inf)
    add_write_options(opt)
    opt("--prior-count", "k in λ = 1/(c + k): the row gradient descent trained weighs like k "
        "activations (docs/MATH.md §5.7; 0: the paper's λ)", type=float)
    opt("--hidden", "LSTM hidden size", type=int)
    opt("--embed-size", "embedding size", type=int)
    opt("--layers", "LSTM layers", type=int)
    opt("--dropout", "dropout probability", type=float)
    opt("--optimizer", "optimiser", choices=sorted(DEFAULT_LR))
    option(p, "--lr", ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()), "learning rate",
           type=float)
    opt("--clip", "global gradient-norm clip (0: none)", type=float)
    opt("--lr-schedule", "lr over the run: constant, or linear decay towards 0",
        choices=["constant", "linear"])
    opt("--batch-size", "streams per batch", type=int)
    opt("--bptt", "truncated-BPTT length", type=int)
    opt("--epochs", "passes over the training split", type=int)
    opt("--max-steps", "stop after this many steps", type=int)
    opt("--eval-tokens", "evaluate on the first this-many tokens", type=int)
    opt("--dtype", "floating-point type of every array", choices=["float32", "float64"])
    opt("--buckets", "frequency buckets", choices=["default", "paper"])
    opt("--seed", "seed for the corpus split, the weights and dropout", type=int)
    opt("--cache", "also evaluate with a neural cache tuned on validation (docs/MATH.md §6.4)",
        action="store_true")
    opt("--embed-init", "embedding init: U(±0.1) or N(0, 1)", choices=["uniform", "normal"])
    opt("--softmax-bias-init", "softmax bias init: 0 or U(±1/√H)", choices=["zero", "uniform"])
    opt("--lstm-bias-init", "LSTM bias init: 0 with forget block 1, or torch's b_ih + b_hh",
        choices=["forget_one", "torch"])
    opt("--mbpa", "also evaluate with MbPA tuned on validation, and with cache + MbPA if "
        "--cache (docs/MATH.md §6.5)", action="store_true")
    opt("--mbpa-memory", "MbPA memory size M per evaluation column", type=int)
    opt("--mbpa-tokens", "MbPA rows on the first this-many tokens of a split", type=int)
    p.add_argument("--out", default=None, help="folder for results, plots and checkpoint "
                   "(default: runs/lm, or the checkpoint's folder with --resume)")
    p.add_argument("--resume", default=None, help="checkpoint.npz to continue from; its run "
                   "continues with its own options (default: none)")
    p.add_argument("--quick", action="store_true",
                   help="small model, 400 steps, 20K evaluation tokens: about a minute "
                        "(default: off)")


def build_parser():
    from hebbref.experiments.curriculum import CurriculumConfig, demo_config

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="hebbref",
        description="Hebbian Softmax (Rae et al., ICML 2018): reference implementation in NumPy.")
    parser.add_argument("--version", action="version", version=f"hebbref {hebbref.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("gradcheck", formatter_class=fmt,
                            help="check every backward pass against finite differences")
    p.add_argument("--seed", type=int, default=0, help="seed for the random test inputs "
                   "(default: 0)")
    p.set_defaults(func=lambda args: importlib.import_module("hebbref.gradcheck").main(
        seed=args.seed))

    p = commands.add_parser("explain", formatter_class=fmt,
                            help="three Hebbian updates, one batch at a time, on a 4-class "
                                 "example, every number printed")
    p.set_defaults(func=lambda args: importlib.import_module("hebbref.explain").main([]))

    for name, make, helptext in (
            ("demo", demo_config, "small curriculum run: baseline vs Hebbian, plot + table"),
            ("curriculum", CurriculumConfig,
             "class-incremental character curriculum (docs/MATH.md §9)")):
        p = commands.add_parser(name, formatter_class=fmt, help=helptext)
        add_curriculum_options(p, make(), name)
        p.set_defaults(func=functools.partial(run_curriculum, make_config=make))

    p = commands.add_parser("lm", formatter_class=fmt, help="word-level LSTM LM, perplexity by "
                            "word frequency (docs/MATH.md §10)")
    add_lm_options(p)
    p.set_defaults(func=run_lm)

    for p in (commands.choices["demo"], commands.choices["curriculum"], commands.choices["lm"]):
        p.add_argument("--config", default=None, help="results.json of an earlier run: rerun "
                       "its config; typed options override it (default: none)")
        p.add_argument("--quiet", action="store_true",
                       help="no progress bar (default: shown when stderr is a terminal)")
        option(p, "--reference", "off", "run every layer, the loss, the optimiser "
               "and the rule through their plain NumPy twins, without numba: the path to step "
               "through in a debugger", action="store_true")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return args.func(args)
    except KeyboardInterrupt:  # outside training (loading, evaluation, demo): no traceback
        print(f"hebbref {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # disk full, read-only, unreadable corpus
        where = (f"{error.filename}: {error.strerror}" if error.strerror and error.filename
                 else error)
        print(f"hebbref {args.command}: error: {where}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FloatingPointError) as error:
        print(f"hebbref {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
