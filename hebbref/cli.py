"""`hebbref` command line: a thin argparse layer over the library's run functions."""
import argparse
import sys


def _gradcheck(args):
    from hebbref.gradcheck import main

    return main(seed=args.seed)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hebbref",
        description="Hebbian Softmax (Rae et al., ICML 2018) reference implementation.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "gradcheck", help="check every backward pass against finite differences",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seed", type=int, default=0, help="seed for the random test inputs")
    p.set_defaults(func=_gradcheck)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
