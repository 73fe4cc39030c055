"""Start-up stays light (issue 18): what the task entry and `nbflow run` import, checked by
module name, never by time. A heavy import creeping into these paths fails here."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Never on the task or `nbflow run` paths (a step that imports them pays for them itself).
HEAVY = ("IPython", "ipykernel", "ipywidgets", "nbformat", "jupyter_client", "zmq", "tornado",
         "pandas", "numpy", "matplotlib", "dask", "distributed", "fsspec", "s3fs", "gcsfs",
         "requests", "aiohttp", "yaml", "jsonschema")
# `nbflow run` needs none of the other commands, the client or the kernel side.
NOT_FOR_RUN = ("nbflow.client", "nbflow.kernel", "nbflow.convert", "nbflow.environment.build",
               "nbflow.cli.store_commands", "nbflow.cli.compare_commands",
               "nbflow.cli.inspect_commands", "nbflow.cli.convert_commands")


def _env() -> dict:
    env = dict(os.environ, NBFLOW_USER="tester")
    env.pop("NBFLOW_DATASTORE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _heavy(modules) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after `code`, less those `site` loaded."""
    script = ("import sys; before = set(sys.modules)\n" + code +
              "\nimport json; print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True,
                         text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_task_entry_imports_nothing_heavy():
    """`python -m nbflow.task` and the zygote (whose children run every forked task)."""
    loaded = _modules_after("import nbflow.task.runtime, nbflow.executors.zygote")
    assert _heavy(loaded) == []


def test_client_imports_nothing_heavy():
    """`from nbflow import Flow` in a new process (the benchmark's client row)."""
    loaded = _modules_after("from nbflow import Flow, Run, namespace")
    assert _heavy(loaded) == []
    assert sorted(m for m in loaded if m == "nbflow.cli"
                  or m.startswith(("nbflow.kernel", "nbflow.cli."))) == []


def test_import_nbflow_alone_is_almost_nothing():
    loaded = _modules_after("import nbflow")
    assert sorted(m for m in loaded if m.startswith("nbflow")) == ["nbflow"]


def test_run_command_imports_only_what_a_run_uses(tmp_path):
    """The whole `nbflow run` of a 3-step notebook: the CLI process, and a forked task
    (its step prints what of HEAVY it finds loaded)."""
    cells = ["%%flow LightFlow", "%%step start -> end\nimport sys\n"
             f"print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))",
             "%%step end\npass"]
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
                     "outputs": [], "source": c} for i, c in enumerate(cells)]}
    (tmp_path / "light.ipynb").write_text(json.dumps(nb))
    report = tmp_path / "modules.json"
    script = ("import atexit, json, runpy, sys\n"
              "before = set(sys.modules)\n"
              f"atexit.register(lambda: open({str(report)!r}, 'w').write("
              "json.dumps(sorted(set(sys.modules) - before))))\n"
              "sys.argv = ['nbflow', 'run', 'light.ipynb', '--quiet']\n"
              "runpy.run_module('nbflow', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout
    loaded = set(json.loads(report.read_text()))
    assert "nbflow.run.scheduler" in loaded   # the hook saw the run
    assert _heavy(loaded) == []
    assert sorted(m for m in loaded if m.startswith(NOT_FOR_RUN)) == []


def test_command_table_names_the_module_of_every_command():
    """cli/main.py imports one module per command line: its table must match the parser."""
    import argparse

    main = importlib.import_module("nbflow.cli.main")

    parser, handlers = main.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(sub.choices) == sorted(main.COMMAND_MODULES) == sorted(handlers)
    for command, module in main.COMMAND_MODULES.items():
        _, own = main.build_parser(command)
        assert command in own, (command, module)
        assert handlers[command].__module__ == f"nbflow.cli.{module}"


@pytest.mark.parametrize("argv", [["--help"], ["nosuchcommand"]])
def test_unknown_or_no_command_still_lists_every_command(argv, capsys):
    main = importlib.import_module("nbflow.cli.main")

    code = main.main(argv) if argv != ["--help"] else None
    if code is None:
        with pytest.raises(SystemExit):
            main.main(argv)
        out = capsys.readouterr().out
    else:
        out = capsys.readouterr().err
    for command in ("run", "logs", "export", "compare", "gc", "tag"):
        assert command in out
