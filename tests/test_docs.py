"""docs/guide.md stays true: its notebook cells become a notebook, its shell commands and
its Python run as written (ids filled in), and what it says they print is what they print."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import cli_env, make_notebook, run_id_of, run_nbflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE.read_text(), re.S)


def notebook_cells() -> list[str]:
    return [b.rstrip("\n") for b in blocks("python") if b.startswith(("%load_ext", "%%"))]


def commands(marker: str) -> list[list[str]]:
    """The shell lines of the block that contains `marker` (comments dropped)."""
    block = next(b for b in blocks("bash") if marker in b)
    return [line.split("#")[0].split() for line in block.splitlines() if line.split("#")[0].strip()]


def test_the_guide_from_a_blank_notebook_to_resume_and_export(workdir):
    nb = make_notebook(workdir / "tutorial.ipynb", notebook_cells())
    for cmd in commands("nbflow check"):
        res = run_nbflow(*cmd[1:], cwd=workdir)
        assert res.returncode == 0, (cmd, res.stderr)
    run_id = run_id_of(res.stdout)
    assert f"Run stored in .nbflow: Flow('TutorialFlow')['{run_id}']" in res.stdout

    client = next(b for b in blocks("python") if "from nbflow import Flow" in b)
    out = subprocess.run([sys.executable, "-c", client], cwd=workdir, env=cli_env(),
                         capture_output=True, text=True)
    promised = [line.split("# ")[-1].split(": ")[-1].strip() for line in client.splitlines()
                if line.startswith("print(")]
    assert out.stdout.split("\n")[:2] == promised, out.stderr

    tasks = {s: sorted(p.name.split(".")[0] for p in
                       (workdir / ".nbflow" / "TutorialFlow" / run_id / s).glob("*.json"))
             for s in ("gather", "square")}
    for cmd in commands("nbflow runs"):
        line = " ".join(cmd).replace("<run_id>", run_id)
        step = line.split("/")[2] if "/" in line else None
        if step:
            line = line.replace("<task_id>", tasks[step][0])
        res = run_nbflow(*line.split()[1:], cwd=workdir)
        assert res.returncode == 0, (line, res.stderr)

    cells = notebook_cells()
    broken = [c.replace("sum(i.squared for i in inputs)\n", "sum(i.squared for i in inputs) / 0\n")
              if c.startswith("%%step gather") else c for c in cells]
    make_notebook(nb, broken)
    failed = run_nbflow("run", nb, cwd=workdir)
    assert failed.returncode == 1 and "tutorial.ipynb, cell 5" in failed.stderr + failed.stdout
    make_notebook(nb, cells)
    [resume] = commands("nbflow resume")
    res = run_nbflow(*resume[1:], cwd=workdir)
    assert res.returncode == 0 and "Cloning results" in res.stdout, res.stderr

    export, run_it = commands("nbflow export")
    assert run_nbflow(*export[1:], cwd=workdir).returncode == 0
    home = tempfile.mkdtemp()
    env = dict(cli_env(), USERNAME="tester", METAFLOW_HOME=home,
               METAFLOW_DEFAULT_METADATA="local", METAFLOW_DEFAULT_DATASTORE="local")
    env.pop("NBFLOW_DATASTORE", None)
    mf = subprocess.run([sys.executable, *run_it[1:]], cwd=workdir, env=env,
                        capture_output=True, text=True)
    assert mf.returncode == 0 and "total 60.0 mean 15.0" in mf.stdout + mf.stderr, mf.stderr[-2000:]
    assert os.path.isdir(workdir / ".metaflow")


# -- nothing of the project points outside the repository -----------------------------------

REPO = GUIDE.parents[1]
OUTSIDE = re.compile(r"\b" + "SP" + r"EC\b(?!_)|\b(?:SP" + r"EC|DES" + r"IGN)\.md|(?<![\w-])shared/|/work/")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    out = []
    for name in names:
        path = REPO / name
        if path.suffix in (".png", ".lock") or not path.is_file():
            continue
        try:
            out.append((path, path.read_text()))
        except UnicodeDecodeError:
            continue
    return out


@pytest.mark.timeout(120)
def test_no_file_points_outside_the_repository():
    """A user who clones or installs the project has only its files: no pointer to a
    contract or design note kept elsewhere, and every link of the docs resolves."""
    found = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
             for path, text in tracked_text_files() if path.name != "test_docs.py"
             for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "\n".join(found)
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for link in re.findall(r"\]\(([^)#\s]+)", doc.read_text()):
            if "://" not in link:
                assert (doc.parent / link).exists(), f"{doc.name}: link to {link} leads nowhere"


@pytest.mark.timeout(60)
def test_the_reference_names_every_command_and_option():
    import argparse

    from nbflow.cli.main import build_parser

    reference = (REPO / "docs" / "reference.md").read_text()
    parser, _ = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [f"nbflow {name} {option}" for name, sub in commands.choices.items()
               for action in sub._actions for option in action.option_strings
               if option.startswith("--") and option != "--help" and option not in reference]
    missing += [f"nbflow {name}" for name in commands.choices if f"`{name}" not in reference]
    assert not missing, "docs/reference.md does not name: " + ", ".join(missing)
