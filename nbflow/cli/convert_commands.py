"""`nbflow export NOTEBOOK [-o flow.py] [--force]` and `nbflow import flow.py [-o NOTEBOOK]
[--force]`: without -o the result goes to stdout; warnings go to stderr."""
from __future__ import annotations

import sys


def add_commands(sub) -> dict:
    p = sub.add_parser("export", help="write the notebook as a Metaflow flow.py")
    p.add_argument("notebook")
    p.add_argument("-o", "--output", default=None, help="the flow.py to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    p = sub.add_parser("import", help="turn a Metaflow flow.py into a notebook")
    p.add_argument("flow")
    p.add_argument("-o", "--output", default=None,
                   help="the notebook to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    return {"export": cmd_export, "import": cmd_import}


def warn(warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def cmd_export(args, extra) -> int:
    from ..commands.convert import export

    exported = export(args.notebook, args.output, force=args.force)
    warn(exported.warnings)
    if args.output is None:
        sys.stdout.write(exported.text)
    else:
        print(f"Wrote {args.output}: run it with `python {args.output} run`", file=sys.stderr)
    return 0


def cmd_import(args, extra) -> int:
    from ..commands.convert import import_flow
    from ..notebook.parse import cell_kind

    imported, notebook = import_flow(args.flow, args.output, force=args.force)
    warn(imported.warnings)
    if args.output is None:
        sys.stdout.write(notebook)
    else:
        steps = sum(1 for _, src in imported.cells if cell_kind(src) == "step")
        print(f"Wrote {args.output}: flow {imported.flow_name}, {steps} steps", file=sys.stderr)
    return 0
