"""`nbflow CMD ...` in a shell: argparse adapters that parse once, call the layers below, and
print. Exit codes: 0 done, 1 the flow or a task failed (or `check` found errors), 2 bad usage."""
from .main import entry, main, options_from_args

__all__ = ["entry", "main", "options_from_args"]
