"""Sub-commands that live in their own modules (client commands, resume, export).

Each module named in PLUGINS defines `add_commands(sub, run_options) -> dict` that
adds its argparse sub-parsers and returns {command name: handler(args, extra) -> int}.
"""
from __future__ import annotations

import importlib

PLUGINS = ("nbflow.cli_client", "nbflow.cli_convert", "nbflow.cli_env", "nbflow.cli_card",
           "nbflow.cli_tag",
           "nbflow.cli_compare", "nbflow.cli_store")


def add_commands(sub, run_options) -> dict:
    handlers: dict = {}
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # not written yet
            raise
        handlers.update(module.add_commands(sub, run_options))
    return handlers
