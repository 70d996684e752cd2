"""The ``posekit`` command: one entry point, one module per command group.

Each module in ``posekit.commands`` exposes ``register(subparsers)``, which adds its parsers
with ``set_defaults(func=...)``; the function takes the parsed args and returns an exit code.
Any error a command raises becomes one line on stderr and exit code 1: a
:class:`posekit.errors.PosekitError` is the message itself; any other exception is named with its
type and a hint to re-run with ``-v``, which prints the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from posekit import __version__
from posekit.commands import bench, data, models, predict, train
from posekit.commands import export as export_
from posekit.commands import eval as eval_
from posekit.commands import rmpe as rmpe_
from posekit.commands import search as search_
from posekit.errors import PosekitError

# Command groups, in the order ``posekit --help`` lists them. Heavy imports (torch) happen
# inside each command's run function, so ``posekit --help`` stays fast.
COMMAND_GROUPS = (data, eval_, train, predict, models, rmpe_, search_, bench, export_)


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
    except BrokenPipeError:
        # the reader went away (``posekit models | head``): not an error of ours; point stdout
        # at /dev/null so that Python's flush at exit does not complain again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"posekit {args.command}: interrupted", file=sys.stderr)
        return 130
    except PosekitError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"posekit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the CLI's last line of defence: one line, not a traceback
        if args.verbose:
            traceback.print_exc()
        first = (str(e).strip().splitlines() or [""])[0][:300]
        print(f"posekit {args.command}: error: {type(e).__name__}: {first}"
              + ("" if args.verbose else " (run with -v for the traceback)"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
