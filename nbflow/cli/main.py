"""`nbflow CMD ...`: one argparse parser, one handler per command, errors -> exit codes.

Exit codes: 0 done, 1 the flow or a task failed (or `check` found errors), 2 bad usage."""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import NbflowError, NotebookError, ParameterError, UsageError, ValidationErrors
from . import run_commands
from .run_commands import options_from_args  # noqa: F401  (the kernel's %nbflow run uses it)

# The modules of cli/, in the order `nbflow --help` lists their commands, and which module
# adds which command: a command line imports only its command's module (`nbflow run` starts
# without the store, compare and export commands' imports). tests/unit checks the table.
MODULE_NAMES = ("run_commands", "inspect_commands", "convert_commands", "env_commands",
                "card_commands", "compare_commands", "store_commands", "tag_commands")
COMMAND_MODULES = {
    "run": "run_commands", "resume": "run_commands", "show": "run_commands",
    "check": "run_commands", "logs": "inspect_commands", "dump": "inspect_commands",
    "runs": "inspect_commands", "export": "convert_commands", "import": "convert_commands",
    "env": "env_commands", "card": "card_commands", "compare": "compare_commands",
    "diff": "compare_commands", "fsck": "store_commands", "du": "store_commands",
    "rm": "store_commands", "gc": "store_commands", "tag": "tag_commands",
}
TAKES_FLOW_PARAMETERS = ("run", "resume")   # their unknown --options are flow parameters


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # no prefix matching: a flow parameter --names must not be taken for --namespace
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def build_parser(command: str | None = None) -> tuple[argparse.ArgumentParser, dict]:
    """The parser of every command, or (`command`, a known one) of its module's commands only:
    what a command line needs, without importing the other commands' modules."""
    parser = _Parser(prog="nbflow", description="Run Jupyter notebooks as Metaflow-style flows.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    handlers: dict = {}
    names = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else MODULE_NAMES
    for name in names:
        module = run_commands if name == "run_commands" else \
            importlib.import_module(f"{__package__}.{name}")
        handlers.update(module.add_commands(sub))
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, handlers = build_parser(argv[0] if argv else None)
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
    if not isinstance(code, int):
        sys.exit(code)
    _exit_now(code)


def _exit_now(code: int) -> None:
    """Exit as the interpreter would, less its teardown of every module (~10 ms after a
    run): wait for non-daemon threads, run the atexit handlers, flush, then leave."""
    import os

    try:
        threading = sys.modules.get("threading")
        if threading is not None and hasattr(threading, "_shutdown"):
            threading._shutdown()
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
    except BaseException:   # anything unusual: the ordinary exit, teardown and all
        sys.exit(code)
    os._exit(code)
