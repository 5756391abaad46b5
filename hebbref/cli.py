"""`hebbref` command line: a thin argparse layer over the library's run functions."""
import argparse
import dataclasses
import math
import sys

import numpy as np


def _float_or_inf(text):
    """T accepts a number or "inf" (never hand back to gradient descent)."""
    value = float(text)
    if math.isnan(value):
        raise argparse.ArgumentTypeError("T must be a number or 'inf', got nan")
    return value


def _hidden_sizes(text):
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes like 256,256, got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    return sizes


def _print_exposure_table(results):
    """Accuracy per exposure bucket; n = held-out images (evaluations) the bucket rests on."""
    buckets = list(results["baseline"]["by_exposure"])
    images = (np.asarray(results["baseline"]["per_image"]["total"]) > 0).sum(axis=0)
    print(f"{'exposures':>10}  {'baseline':>9}  {'hebbian':>9}  {'n images (evaluations)':>24}")
    for b, n in zip(buckets, images):
        row = [results[m]["by_exposure"][b] for m in ("baseline", "hebbian")]
        cells = ["      n/a" if r["accuracy"] is None else f"{r['accuracy']:9.3f}" for r in row]
        count = f"{n} ({row[0]['total']})"
        print(f"{b:>10}  {cells[0]}  {cells[1]}  {count:>24}")


def _curriculum(args, make_config):
    from hebbref.experiments import curriculum

    names = ("dataset", "classes", "initial_classes", "add_every", "add_count", "steps",
             "batch_size", "seed", "gamma", "T", "lam_rule", "write_scale", "activation",
             "hidden_sizes", "optimizer", "lr", "eval_every", "eval_drawers", "split", "size",
             "out")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}
    if "initial_classes" not in overrides:  # a small --classes alone should just work
        overrides["initial_classes"] = min(make_config().initial_classes, args.classes)
    config = make_config(**overrides)
    results = curriculum.run(config, progress=not args.quiet)
    _print_exposure_table(results)
    print(f"results and plots written to {config.out}")
    return 0


def _lm(args):
    from hebbref.experiments import lm

    fields = {f.name for f in dataclasses.fields(lm.LMConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields}
    config = lm.quick_config(**overrides) if args.quick else lm.LMConfig(**overrides)
    results = lm.run(config, resume=args.resume, progress=not args.quiet)
    if results["status"] == "interrupted":
        print(f"interrupted at step {results['steps']}; checkpoint written to "
              f"{config.out}/checkpoint.npz (continue with --resume)", file=sys.stderr)
        return 130
    print(f"{results['tokens_per_second']:.0f} tokens/s over {results['steps']} steps")
    sections = [(split, results[split]) for split in ("valid", "test")]
    if "cache" in results:
        print(f"cache chosen on valid: {results['cache']['chosen']}")
        sections += [(f"{split} + cache", results["cache"][split]) for split in ("valid", "test")]
    for split, result in sections:
        rows = result["buckets"] + [result["overall"]]
        print(f"{split}: " + ", ".join(
            f"{r['name']} {r['perplexity']:.1f} ({r['tokens']})" if r["perplexity"] else
            f"{r['name']} n/a (0)" for r in rows))
    return 0


def build_parser():
    from hebbref.experiments.curriculum import CurriculumConfig, demo_config
    from hebbref.experiments.lm import LMConfig, quick_config

    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="hebbref", formatter_class=fmt,
        description="Hebbian Softmax (Rae et al., ICML 2018): reference implementation in NumPy.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("gradcheck", formatter_class=fmt,
                            help="check every backward pass against finite differences")
    p.add_argument("--seed", type=int, default=0, help="seed for the random test inputs")
    p.set_defaults(func=lambda a: __import__("hebbref.gradcheck").gradcheck.main(seed=a.seed))

    p = commands.add_parser("bench", add_help=False,
                            help="benchmark against torch and the BLAS peak (hebbref bench --help)")
    p.set_defaults(func=None)

    p = commands.add_parser("explain", formatter_class=fmt,
                            help="walk through three Hebbian updates on a hand-sized example")
    p.set_defaults(func=lambda a: __import__("hebbref.explain").explain.main([]))

    demo = demo_config()
    for name, make, defaults, helptext in (
            ("demo", demo_config, demo, "small curriculum run: baseline vs Hebbian, plot + table"),
            ("curriculum", CurriculumConfig, CurriculumConfig(),
             "class-incremental character curriculum (METHOD §5)")):
        p = commands.add_parser(name, formatter_class=fmt, help=helptext)
        p.add_argument("--dataset", default=defaults.dataset,
                       help="kanji | digits | omniglot:PATH | npz:PATH")
        p.add_argument("--size", type=int, default=defaults.size,
                       help="images resized to size × size (the digits are 8 × 8)")
        p.add_argument("--classes", type=int, default=defaults.classes,
                       help="classes in the curriculum")
        p.add_argument("--initial-classes", dest="initial_classes", type=int,
                       default=argparse.SUPPRESS,
                       help=f"classes present from the start (default: "
                            f"{defaults.initial_classes}, or --classes if fewer)")
        p.add_argument("--add-every", dest="add_every", type=int, default=defaults.add_every,
                       help="steps between introductions of new classes")
        p.add_argument("--add-count", dest="add_count", type=int, default=defaults.add_count,
                       help="classes introduced each time")
        p.add_argument("--steps", type=int, default=defaults.steps, help="training steps")
        p.add_argument("--batch-size", dest="batch_size", type=int, default=defaults.batch_size,
                       help="images per training batch")
        p.add_argument("--seed", type=int, default=defaults.seed,
                       help="seed for the classes drawn, the weights and the stream")
        p.add_argument("--gamma", type=float, default=defaults.gamma,
                       help="smallest mixing rate γ, in [0, 1]")
        p.add_argument("--T", type=_float_or_inf, default=defaults.T,
                       help="count at which a class returns to gradient descent ('inf': never)")
        p.add_argument("--lam-rule", dest="lam_rule", default=defaults.lam_rule,
                       choices=["paper", "exact_mean"], help="λ schedule (METHOD §2)")
        p.add_argument("--write-scale", dest="write_scale", default=defaults.write_scale,
                       choices=["none", "row_norm", "centred", "centred_row_norm"],
                       help="transform of the written activations (METHOD §2)")
        p.add_argument("--optimizer", default=defaults.optimizer,
                       choices=["adam", "rmsprop", "sgd"], help="optimiser (METHOD §4)")
        p.add_argument("--eval-every", dest="eval_every", type=int, default=defaults.eval_every,
                       help="steps between evaluations (1: every step)")
        p.add_argument("--eval-drawers", dest="eval_drawers", type=int,
                       default=defaults.eval_drawers,
                       help="drawers per class in each of the test and validation sets")
        p.add_argument("--split", default=defaults.split, choices=["validation", "test"],
                       help="held-out drawers evaluated: validation (choose settings) or test")
        p.add_argument("--activation", default=defaults.activation,
                       choices=["relu", "tanh", "sigmoid", "linear"],
                       help="non-linearity of the hidden layers")
        p.add_argument("--hidden-sizes", dest="hidden_sizes", type=_hidden_sizes,
                       default=defaults.hidden_sizes, help="hidden layer sizes, e.g. 256,256")
        p.add_argument("--lr", type=float, default=defaults.lr, help="learning rate")
        p.add_argument("--out", default=f"runs/{name}", help="folder for results.json and plots")
        p.add_argument("--quiet", action="store_true",
                       help="no progress bar (shown only when stderr is a terminal)")
        p.set_defaults(func=lambda a, make=make: _curriculum(a, make))

    d, q = LMConfig(), quick_config()
    p = commands.add_parser("lm", formatter_class=argparse.RawDescriptionHelpFormatter,
                            help="word-level LSTM LM, perplexity by word frequency (METHOD §6)")

    def option(flag, name, helptext="", **kwargs):
        """An LM option whose help shows the default and, where it differs, the --quick one."""
        default, quick = getattr(d, name), getattr(q, name)
        shown = f"default: {default}" + (f"; with --quick: {quick}" if quick != default else "")
        p.add_argument(flag, dest=name, default=argparse.SUPPRESS,
                       help=f"{helptext} ({shown})".strip(), **kwargs)

    option("--corpus", "corpus", "bbc | wikitext:DIR | text:PATH")
    option("--hebbian", "hebbian", "Hebbian softmax, or plain with --no-hebbian",
           action=argparse.BooleanOptionalAction)
    option("--gamma", "gamma", "smallest mixing rate γ", type=float)
    option("--T", "T", "count at which a class returns to gradient descent", type=_float_or_inf)
    option("--lam-rule", "lam_rule", "λ schedule (METHOD §2)", choices=["paper", "exact_mean"])
    option("--write-scale", "write_scale", "transform of the written activations (METHOD §2)",
           choices=["none", "row_norm", "centred", "centred_row_norm"])
    option("--hidden", "hidden", "LSTM hidden size", type=int)
    option("--embed-size", "embed_size", "embedding size", type=int)
    option("--layers", "layers", "LSTM layers", type=int)
    option("--dropout", "dropout", "dropout probability", type=float)
    option("--optimizer", "optimizer", "optimiser", choices=["sgd", "adam", "rmsprop"])
    option("--lr", "lr", "learning rate", type=float)
    option("--clip", "clip", "global gradient-norm clip", type=float)
    option("--batch-size", "batch_size", "streams per batch", type=int)
    option("--bptt", "bptt", "truncated-BPTT length", type=int)
    option("--epochs", "epochs", "passes over the training split", type=int)
    option("--max-steps", "max_steps", "stop after this many steps", type=int)
    option("--eval-tokens", "eval_tokens", "evaluate on the first this-many tokens", type=int)
    option("--dtype", "dtype", "floating-point type of every array", choices=["float32", "float64"])
    option("--buckets", "buckets", "frequency buckets", choices=["default", "paper"])
    option("--seed", "seed", "seed for the corpus split, the weights and dropout", type=int)
    option("--cache", "cache", "also evaluate with a neural cache tuned on validation (METHOD §7)",
           action="store_true")
    p.add_argument("--out", default="runs/lm",
                   help="folder for results, plots and checkpoint (default: runs/lm)")
    p.add_argument("--resume", default=None, help="checkpoint.npz to continue from (default: none)")
    p.add_argument("--quick", action="store_true",
                   help="small model, 400 steps, 20K evaluation tokens: about a minute "
                        "(default: off)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (default: shown when stderr is a terminal)")
    p.set_defaults(func=_lm)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # bench owns its options (hebbref.bench.main)
        from hebbref.bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as error:
        print(f"hebbref {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
