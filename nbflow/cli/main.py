"""`nbflow CMD ...`: one argparse parser, one handler per command, errors -> exit codes.

Exit codes: 0 done, 1 the flow or a task failed (or `check` found errors), 2 bad usage."""
from __future__ import annotations

import argparse
import sys

from ..errors import NbflowError, NotebookError, ParameterError, UsageError, ValidationErrors
from . import (
    card_commands,
    compare_commands,
    convert_commands,
    env_commands,
    inspect_commands,
    run_commands,
    store_commands,
    tag_commands,
)
from .run_commands import options_from_args  # noqa: F401  (the kernel's %nbflow run uses it)

MODULES = (run_commands, inspect_commands, convert_commands, env_commands, card_commands,
           compare_commands, store_commands, tag_commands)
TAKES_FLOW_PARAMETERS = ("run", "resume")   # their unknown --options are flow parameters


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # no prefix matching: a flow parameter --names must not be taken for --namespace
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = _Parser(prog="nbflow", description="Run Jupyter notebooks as Metaflow-style flows.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    handlers: dict = {}
    for module in MODULES:
        handlers.update(module.add_commands(sub))
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, handlers = build_parser()
    try:
        if argv[:1] and argv[0] in TAKES_FLOW_PARAMETERS and ("-h" in argv or "--help" in argv):
            return run_commands.help_with_parameters(parser, argv)
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if extra and args.command not in TAKES_FLOW_PARAMETERS:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        return handlers[args.command](args, extra)
    except NbflowError as e:
        print(render_error(e), file=sys.stderr)
        return exit_code(e)


def render_error(e: NbflowError) -> str:
    return e.render() if isinstance(e, ValidationErrors) else f"error: {e.render()}"


def exit_code(e: NbflowError) -> int:
    """1: the flow is at fault (validation, a task); 2: the command line is."""
    if isinstance(e, (UsageError, ParameterError)):
        return 2
    if isinstance(e, NotebookError) and not isinstance(e, ValidationErrors):
        return 1 if e.cell is not None else 2
    return 1


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `nbflow show nb.ipynb | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
