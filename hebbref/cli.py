"""`hebbref` command line: a thin argparse layer over the library's run functions.

Options are absent from the parsed arguments unless typed (argparse.SUPPRESS), so a command
knows what the user asked for: typed options override a `--config results.json` or, for a
resumed LM run, must agree with the checkpoint. Each help text states the default.
"""
import argparse
import dataclasses
import functools
import math
import os
import signal
import sys
import textwrap

import numpy as np

import hebbref
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


def option(parser, flag, dest, default, helptext, **kwargs):
    """An option that is absent from the arguments unless typed; its help states the default."""
    parser.add_argument(flag, dest=dest, default=argparse.SUPPRESS,
                        help=f"{helptext} (default: {default})", **kwargs)


def flag(field):
    """The command-line flag of a config field: batch_size -> --batch-size."""
    return "--" + field.replace("_", "-")


def typed_options(args, config_class):
    """{field: value} of the config fields the user typed (--out is handled by each command)."""
    names = {f.name for f in dataclasses.fields(config_class)} - {"out"}
    return {k: v for k, v in vars(args).items() if k in names}


def config_file_fields(path, config_class):
    """The config fields of a results JSON (`--config`), floats such as T = "inf" decoded."""
    from hebbref.record import read_config

    fields = {f.name: f for f in dataclasses.fields(config_class)}
    saved = read_config(path)
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


# ------------------------------------------------------------------------------------------------
# Commands

def run_gradcheck(args):
    from hebbref.gradcheck import main

    return main(seed=args.seed)


def run_explain(args):
    from hebbref.explain import main

    return main([])


def print_exposure_table(results):
    """Accuracy per exposure bucket; n = held-out images (evaluations) the bucket rests on."""
    buckets = list(results["baseline"]["by_exposure"])
    images = (np.asarray(results["baseline"]["per_image"]["total"]) > 0).sum(axis=0)
    print(f"{'exposures':>10}  {'baseline':>9}  {'hebbian':>9}  {'n images (evaluations)':>24}")
    for b, n in zip(buckets, images):
        row = [results[m]["by_exposure"][b] for m in ("baseline", "hebbian")]
        cells = ["      n/a" if r["accuracy"] is None else f"{r['accuracy']:9.3f}" for r in row]
        count = f"{n} ({row[0]['total']})"
        print(f"{b:>10}  {cells[0]}  {cells[1]}  {count:>24}")
    print_late_difference(results)


def print_late_difference(results):
    """Hebbian − baseline at 21–50 and >50 exposures with a 95 % bootstrap interval over the
    held-out images (hebbref.metrics.paired_difference_ci), and whether a cost remains."""
    from hebbref.metrics import paired_difference_ci

    per_image = [{"total": results["hebbian"]["per_image"]["total"],
                  "baseline": results["baseline"]["per_image"]["correct"],
                  "hebbian": results["hebbian"]["per_image"]["correct"]}]
    difference = paired_difference_ci(per_image)
    for b in ("21-50", ">50"):
        d = difference[b]
        if d["difference"] is None:
            continue
        verdict = ("a cost remains: the interval lies below 0" if d["high"] < 0 else
                   "no cost shown: the interval includes 0 or lies above it")
        print(f"Hebbian − baseline at {b} exposures: {d['difference']:+.3f} "
              f"[{d['low']:+.3f}, {d['high']:+.3f}] (95 %, over held-out images); {verdict}")


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
    print(f"results and plots go to {config.out}")
    results = curriculum.run(config, progress=not args.quiet)
    print_exposure_table(results)
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


# ------------------------------------------------------------------------------------------------
# The parser

def add_curriculum_options(p, defaults, name):
    option(p, "--dataset", "dataset", defaults.dataset, "kanji | digits | omniglot:PATH | npz:PATH")
    option(p, "--size", "size", defaults.size, "images resized to size × size (the digits are 8 × 8)",
           type=int)
    option(p, "--classes", "classes", defaults.classes, "classes in the curriculum", type=int)
    option(p, "--initial-classes", "initial_classes",
           f"{defaults.initial_classes}, or --classes if fewer", "classes present from the start",
           type=int)
    option(p, "--add-every", "add_every", defaults.add_every,
           "steps between introductions of new classes", type=int)
    option(p, "--add-count", "add_count", defaults.add_count, "classes introduced each time",
           type=int)
    option(p, "--steps", "steps", defaults.steps, "training steps", type=int)
    option(p, "--batch-size", "batch_size", defaults.batch_size, "images per training batch",
           type=int)
    option(p, "--seed", "seed", defaults.seed,
           "seed for the classes drawn, the weights and the stream", type=int)
    option(p, "--gamma", "gamma", defaults.gamma, "smallest mixing rate γ, in [0, 1]", type=float)
    option(p, "--T", "T", defaults.T,
           "count at which a class returns to gradient descent ('inf': never)", type=float_or_inf)
    option(p, "--activation", "activation", defaults.activation,
           "non-linearity of the hidden layers", choices=["relu", "tanh", "sigmoid", "linear"])
    option(p, "--hidden-sizes", "hidden_sizes", ",".join(map(str, defaults.hidden_sizes)),
           "hidden layer sizes, e.g. 256,256", type=hidden_sizes)
    option(p, "--lam-rule", "lam_rule", defaults.lam_rule, "λ schedule (docs/MATH.md §5.3)",
           choices=["paper", "exact_mean"])
    option(p, "--write-scale", "write_scale", defaults.write_scale,
           "transform of the written activations (docs/MATH.md §5.2)", choices=list(WRITE_SCALES))
    option(p, "--write-gain", "write_gain", defaults.write_gain,
           "scale of each written mean (docs/MATH.md §5.7; 1: the paper's write)", type=float)
    option(p, "--optimizer", "optimizer", defaults.optimizer, "optimiser (docs/MATH.md §4)",
           choices=["adam", "rmsprop", "sgd"])
    option(p, "--lr", "lr", defaults.lr, "learning rate", type=float)
    option(p, "--eval-every", "eval_every", defaults.eval_every,
           "steps between evaluations (1: every step)", type=int)
    option(p, "--eval-drawers", "eval_drawers", defaults.eval_drawers,
           "drawers per class in each of the test and validation sets", type=int)
    option(p, "--split", "split", defaults.split,
           "held-out drawers evaluated: validation (choose settings) or test",
           choices=["validation", "test"])
    p.add_argument("--out", default=None,
                   help=f"folder for results.json and plots (default: runs/{name})")
    p.epilog = protocol_help()


def protocol_help():
    """The end of `hebbref curriculum --help`: the defaults each dataset's protocol changes."""
    from hebbref.experiments.curriculum import DATASET_PROTOCOLS

    notes = []
    for dataset, protocol in DATASET_PROTOCOLS.items():
        shown = (",".join(map(str, v)) if isinstance(v, tuple) else v for v in protocol.values())
        flags = " ".join(f"{flag(k)} {v}" for k, v in zip(protocol, shown))
        notes.append(f"--dataset {dataset} sets its own protocol's defaults (typed options "
                     f"override them):\n" + textwrap.fill(flags, 78, initial_indent="  ",
                                                          subsequent_indent="  ",
                                                          break_on_hyphens=False))
    return "\n".join(notes)


def add_lm_options(p):
    from hebbref.experiments.lm import DEFAULT_LR, LMConfig, quick_config

    d, q = LMConfig(), quick_config()

    def lm_option(flag, name, helptext, **kwargs):
        default, quick = getattr(d, name), getattr(q, name)
        shown = f"{default}" + (f"; with --quick: {quick}" if quick != default else "")
        option(p, flag, name, shown, helptext, **kwargs)

    lm_option("--corpus", "corpus", "bbc | shakespeare | wikitext:DIR | text:PATH")
    lm_option("--hebbian", "hebbian", "Hebbian softmax, or plain with --no-hebbian",
              action=argparse.BooleanOptionalAction)
    lm_option("--gamma", "gamma", "smallest mixing rate γ", type=float)
    lm_option("--T", "T", "count at which a class returns to gradient descent", type=float_or_inf)
    lm_option("--lam-rule", "lam_rule", "λ schedule (METHOD §2)", choices=["paper", "exact_mean"])
    lm_option("--write-scale", "write_scale", "transform of the written activations (METHOD §2)",
              choices=list(WRITE_SCALES))
    lm_option("--hidden", "hidden", "LSTM hidden size", type=int)
    lm_option("--embed-size", "embed_size", "embedding size", type=int)
    lm_option("--layers", "layers", "LSTM layers", type=int)
    lm_option("--dropout", "dropout", "dropout probability", type=float)
    lm_option("--optimizer", "optimizer", "optimiser", choices=sorted(DEFAULT_LR))
    option(p, "--lr", "lr", ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()),
           "learning rate", type=float)
    lm_option("--clip", "clip", "global gradient-norm clip (0: none)", type=float)
    lm_option("--batch-size", "batch_size", "streams per batch", type=int)
    lm_option("--bptt", "bptt", "truncated-BPTT length", type=int)
    lm_option("--epochs", "epochs", "passes over the training split", type=int)
    lm_option("--max-steps", "max_steps", "stop after this many steps", type=int)
    lm_option("--eval-tokens", "eval_tokens", "evaluate on the first this-many tokens", type=int)
    lm_option("--dtype", "dtype", "floating-point type of every array",
              choices=["float32", "float64"])
    lm_option("--buckets", "buckets", "frequency buckets", choices=["default", "paper"])
    lm_option("--seed", "seed", "seed for the corpus split, the weights and dropout", type=int)
    lm_option("--cache", "cache", "also evaluate with a neural cache tuned on validation "
              "(METHOD §7)", action="store_true")
    lm_option("--embed-init", "embed_init", "embedding init: U(±0.1) or N(0, 1)",
              choices=["uniform", "normal"])
    lm_option("--softmax-bias-init", "softmax_bias_init", "softmax bias init: 0 or U(±1/√H)",
              choices=["zero", "uniform"])
    lm_option("--lstm-bias-init", "lstm_bias_init",
              "LSTM bias init: 0 with forget block 1, or torch's b_ih + b_hh",
              choices=["forget_one", "torch"])
    lm_option("--mbpa", "mbpa", "also evaluate with MbPA tuned on validation, and with cache + "
              "MbPA if --cache (METHOD §8)", action="store_true")
    lm_option("--mbpa-memory", "mbpa_memory", "MbPA memory size M per evaluation column", type=int)
    lm_option("--mbpa-tokens", "mbpa_tokens", "MbPA rows on the first this-many tokens of a split",
              type=int)
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
    p.set_defaults(func=run_gradcheck)

    p = commands.add_parser("explain", formatter_class=fmt,
                            help="three Hebbian updates, one batch at a time, on a 4-class "
                                 "example, every number printed")
    p.set_defaults(func=run_explain)

    for name, make, helptext in (
            ("demo", demo_config, "small curriculum run: baseline vs Hebbian, plot + table"),
            ("curriculum", CurriculumConfig,
             "class-incremental character curriculum (docs/MATH.md §9)")):
        p = commands.add_parser(name, formatter_class=fmt, help=helptext)
        add_curriculum_options(p, make(), name)
        p.set_defaults(func=functools.partial(run_curriculum, make_config=make))

    p = commands.add_parser("lm", formatter_class=fmt,
                            help="word-level LSTM LM, perplexity by word frequency (METHOD §6)")
    add_lm_options(p)
    p.set_defaults(func=run_lm)

    for p in (commands.choices["demo"], commands.choices["curriculum"], commands.choices["lm"]):
        p.add_argument("--config", default=None, help="results.json of an earlier run: rerun "
                       "its config; typed options override it (default: none)")
        p.add_argument("--quiet", action="store_true",
                       help="no progress bar (default: shown when stderr is a terminal)")
        option(p, "--reference", "reference", "off", "run every layer, the loss, the optimiser "
               "and the rule through their plain NumPy twins, without numba: the path to step "
               "through in a debugger", action="store_true")
    return parser


def describe_os_error(error):
    if error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return args.func(args)
    except KeyboardInterrupt:  # outside training (loading, evaluation, demo): no traceback
        print(f"hebbref {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # disk full, read-only, unreadable corpus
        print(f"hebbref {args.command}: error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FloatingPointError) as error:
        print(f"hebbref {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
