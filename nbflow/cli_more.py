"""Sub-commands added by later layers (client, resume, export). Each issue adds its
commands here so cli.py stays small."""
from __future__ import annotations


def add_commands(sub, run_options) -> None:
    return None
