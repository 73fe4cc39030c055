"""The layout rules a newcomer relies on, read from the files: a small package root, no
module over 450 lines, the typed records frozen with one to_json/from_json each, the kernel
and the lab extension never driving the CLI, helpers imported from tests/helpers.py, and
the README's layout section naming every package."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "nbflow"
MOST_LINES = 450


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_package_root_holds_ten_modules_at_most():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= 10, root


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(REPO)): n for p in _modules(PACKAGE)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MOST_LINES}
    assert long == {}


def test_records_are_frozen_with_one_to_json_and_from_json():
    from nbflow import records

    for cls in (records.TaskRequest, records.TaskRecord, records.RunRecord,
                records.ForeachFrame, records.ParentRef, records.RunContext, records.RunEvent):
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls
        assert "to_json" in vars(cls) and "from_json" in vars(cls), cls


def test_the_kernel_and_the_lab_extension_never_drive_the_cli():
    """They call nbflow/commands (the lab through the kernel's nbflow.kernel.lab)."""
    calls = re.compile(r"cli\.main\(|cli\.main\.main|from [.\w]*cli(\.main)? import main\b"
                       r"|nbflow\.cli\b")
    files = _modules(PACKAGE / "kernel") + sorted((REPO / "labextension" / "src").glob("*.ts"))
    found = [f"{p.relative_to(REPO)}:{n}" for p in files
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if calls.search(line) and "build_parser" not in line]
    assert found == []


def test_tests_import_helpers_from_helpers_not_conftest():
    found = [str(p.relative_to(REPO)) for p in _modules(REPO / "tests")
             if re.search(r"^\s*(from conftest import|import conftest)", p.read_text(encoding="utf-8"),
                          re.M)]
    assert found == []


def test_the_readme_layout_names_every_package():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):readme.index("## Development")]
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert [p for p in packages if f"{p}/" not in layout] == []
    root = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__main__.py")
    assert [m for m in root if m not in layout] == []


# Deliberate upward imports, each lazy (inside the function that needs it):
DELIBERATE = {
    "nbflow/task/current.py": "client",          # current.run: the client's Run of this task
    "nbflow/notebook/params.py": "task",         # `current` predefined in the flow cell
    "nbflow/run/withopts.py": "convert",         # --with: the one Metaflow decorator table
}
BELOW_THE_CLIENT = ("notebook", "graph", "run", "executors", "task", "datastore", "cards",
                    "environment")


def test_the_layers_below_the_client_do_not_import_it_or_the_adapters():
    """The run layer reads the store through the datastore (resume's origin included)."""
    upward = re.compile(r"^\s*from \.\.(client|commands|cli|kernel|convert)\b|"
                        r"^\s*from \.\.(task)\b", re.M)
    found = []
    for layer in BELOW_THE_CLIENT:
        for p in _modules(PACKAGE / layer):
            rel = str(p.relative_to(REPO))
            for m in upward.finditer(p.read_text(encoding="utf-8")):
                target = m.group(1) or m.group(2)
                if target == "task" and layer not in ("notebook", "graph", "datastore"):
                    continue   # run and executors start tasks: the task layer is below them
                if DELIBERATE.get(rel) != target:
                    found.append(f"{rel} -> {target}")
    assert found == []


def test_only_the_datastore_spells_where_records_are():
    """Paths of run and task records are datastore/records.py's (run_path, task_path)."""
    spelled = re.compile(r"/_(run|end)\.json|task_prefix\([^)]*\)\s*\+\s*\"\.json\"")
    found = [f"{p.relative_to(REPO)}:{n}" for p in _modules(PACKAGE)
             if "datastore" not in p.parts
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if spelled.search(line)]
    assert found == []
