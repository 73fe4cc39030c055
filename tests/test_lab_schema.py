"""The JupyterLab extension's declarations, read from its files (no browser): the Run as
flow toolbar button is declared in the settings schema (so Settings > Notebook Panel
toolbar can move, hide or rebind it), not added in code, and the extension has no header
parser of its own (the kernel's parser answers, `nbflow.kernel.lab.cells_info`)."""
from __future__ import annotations

import json
import re
from pathlib import Path

EXT = Path(__file__).resolve().parent.parent / "labextension"


def test_the_run_button_is_declared_in_the_settings_schema():
    package = json.loads((EXT / "package.json").read_text())
    schema = json.loads((EXT / package["jupyterlab"]["schemaDir"] / "plugin.json").read_text())
    [item] = schema["jupyter.lab.toolbars"]["Notebook"]
    assert item["command"] == "nbflow:run" and item["name"] == "nbflow-run"
    sources = "\n".join(p.read_text() for p in (EXT / "src").glob("*.ts"))
    assert "addCommand(RUN" in sources and "const RUN = 'nbflow:run'" in sources
    assert not re.search(r"toolbar\.(addItem|insertItem|insertAfter|insertBefore)|"
                         r"IToolbarWidgetRegistry|ToolbarButton", sources)


def test_badges_ask_the_kernel_and_parse_no_header():
    badges = (EXT / "src" / "badges.ts").read_text()
    assert "cells_info(" in badges
    # a cell is asked about when it starts with %%step or %%flow; its name, targets and
    # options come back from the kernel: nothing here splits a header
    assert "->" not in badges.replace("=>", "") and "--foreach" not in badges
    assert not re.search(r"\.split\(", badges)
