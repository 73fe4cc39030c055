"""`pip install -e .` on a machine without Node: the Python package installs (the JupyterLab
button is not built, and loading nbflow in IPython says so in one line), and nbflow works.
A real pip, a real venv, PATH without node."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]


def _copy_tracked_files(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / rel).is_file():
            shutil.copy2(REPO / rel, target)


def test_editable_install_without_node_installs_the_python_package(tmp_path):
    src, venv, bindir = tmp_path / "src", tmp_path / "venv", tmp_path / "bin"
    _copy_tracked_files(src)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    bindir.mkdir()   # a PATH with python and git, and no node, npm or jlpm
    for tool in ("git",):
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bindir / tool)
    assert not any(shutil.which(t, path=f"{venv}/bin:{bindir}") for t in ("node", "npm"))
    env = dict(os.environ, PATH=f"{venv}/bin:{bindir}", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)   # the venv's own install, not a checkout on the path
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                          "-e", str(src)], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert not (src / "nbflow" / "labextension" / "package.json").exists()
    check = subprocess.run([str(venv / "bin" / "nbflow"), "check",
                            str(src / "notebooks" / "hello_world.ipynb")],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0 and "a valid flow" in check.stdout, check.stderr
    kernel = subprocess.run([str(venv / "bin" / "python"), "-m", "IPython", "-c", "%load_ext nbflow"],
                            env=env, capture_output=True, text=True, cwd=tmp_path)
    assert kernel.returncode == 0, kernel.stderr
    note = [line for line in (kernel.stdout + kernel.stderr).splitlines() if "JupyterLab extension" in line]
    assert len(note) == 1 and "is not built: Node.js was not on PATH" in note[0], kernel.stderr
    assert "run `pip install -e .` again" in note[0]
    where = subprocess.run([str(venv / "bin" / "python"), "-c",   # not from a checkout in cwd
                            "import nbflow; print(nbflow.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.startswith(str(src)), where.stdout + where.stderr
