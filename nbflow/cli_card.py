"""`nbflow card PATHSPEC [-o card.html] [--force]`: the argparse adapter over
nbflow.commands.card (without -o the page goes to stdout)."""
from __future__ import annotations

import sys

from .cli_client import _command, _resolve, _target


def add_commands(sub, run_options) -> dict:
    p = sub.add_parser("card", help="a task's card (what it displayed) as one HTML page")
    _target(p)
    p.add_argument("-o", "--output", default=None, help="the HTML file to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    return {"card": cmd_card}


@_command
def cmd_card(args, extra) -> int:
    from .commands.card import card

    result = card(_resolve(args), args.output, force=args.force)
    if args.output is None:
        sys.stdout.write(result.html)
    else:
        print(f"Wrote {args.output}: the card of {result.pathspec}, "
              f"{len(result.bundles)} output(s)", file=sys.stderr)
    return 0
