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
