"""The ``posekit`` command: one entry point, one module per command group.

Each module in ``posekit.commands`` exposes ``register(subparsers)``, which adds its parsers
with ``set_defaults(func=...)``; the function takes the parsed args and returns an exit code.
Errors derived from :class:`posekit.errors.PosekitError` become one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import logging
import sys

from posekit import __version__
from posekit.commands import data, predict, train
from posekit.commands import eval as eval_
from posekit.errors import PosekitError

# Command groups, in the order ``posekit --help`` lists them. Heavy imports (torch) happen
# inside each command's run function, so ``posekit --help`` stays fast.
COMMAND_GROUPS = (data, eval_, train, predict)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posekit", description="2D human pose estimation: data, models, training, evaluation, prediction.")
    parser.add_argument("--version", action="version", version=f"posekit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PosekitError as e:
        print(f"posekit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("posekit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
