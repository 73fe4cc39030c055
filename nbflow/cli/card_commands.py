"""`nbflow card PATHSPEC [-o card.html] [--force]`: a task's card as one HTML page (without
-o the page goes to stdout)."""
from __future__ import annotations

import sys

from .inspect_commands import target_arguments


def add_commands(sub) -> dict:
    p = sub.add_parser("card", help="a task's card (what it displayed) as one HTML page")
    target_arguments(p)
    p.add_argument("-o", "--output", default=None, help="the HTML file to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    return {"card": cmd_card}


def cmd_card(args, extra) -> int:
    from ..commands.card import card

    result = card(args.target, args.pathspec, args.output, force=args.force,
                  datastore=args.datastore)
    if args.output is None:
        sys.stdout.write(result.html)
    else:
        print(f"Wrote {args.output}: the card of {result.pathspec}, "
              f"{len(result.bundles)} output(s)", file=sys.stderr)
    return 0
