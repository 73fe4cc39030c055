"""The same crossing run by real Metaflow: the notebook exported with `nbflow export`, the
flow.py run with `metaflow` in its own METAFLOW_HOME, and every task's artifacts read
back through each package's own client (in a subprocess, the same reader code), so the
two runs can be compared task for task."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cloudpickle
from helpers import cli_env, run_nbflow

# Every step's tasks, each as (successful, its artifacts as sorted (name, value) pairs;
# Metaflow's internal `_*` names and its `name` left out), in a canonical order (foreach
# order is not what Metaflow iterates).
# A caught error is compared by its class name and message (Metaflow's wrapper names the
# class with its module: builtins.KeyError).
READER = r'''
import sys, cloudpickle
from {package} import Flow, namespace
namespace(None)
flow, out = sys.argv[1:3]
skip = set(sys.argv[3:])

def value(v):
    if type(v).__name__ in ("StepException", "MetaflowExceptionWrapper"):
        message = v.message if hasattr(v, "message") else v.exception
        return ("caught", v.type.rsplit(".", 1)[-1], str(message))
    return v

run = Flow(flow).latest_run
steps = {{}}
for step in run:
    tasks = []
    for task in step:
        data = {{a.id: value(a.data) for a in task
                if not a.id.startswith("_") and a.id not in skip and a.id != "name"}}
        tasks.append((task.successful, sorted(data.items(), key=repr)))
    steps[step.id] = sorted(tasks, key=repr)
with open(out, "wb") as f:
    cloudpickle.dump({{"successful": run.successful, "steps": steps}}, f)
'''


def metaflow_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")}
    home.mkdir(exist_ok=True)
    env.update(USERNAME="tester", METAFLOW_HOME=str(home), METAFLOW_DEFAULT_METADATA="local",
               METAFLOW_DEFAULT_DATASTORE="local")
    return env


def run_with_metaflow(notebook: str, where: Path, env: dict, files: dict,
                      resume_args: tuple | None = None) -> Path:
    """Export the notebook and run the flow.py with real Metaflow (its `METAFLOW_RUN_*`
    from the test's `NBFLOW_RUN_*`) in a fresh folder holding only the test's files;
    with `resume_args` the run must fail (ResumeFromHere) and `resume ARGS` finish it.
    Returns that folder."""
    res = run_nbflow("export", Path(notebook).name, "-o", "flow.py", "--force", cwd=where)
    assert res.returncode == 0, res.stdout + res.stderr
    (where / "metaflow").mkdir()
    (where / "flow.py").rename(where / "metaflow" / "flow.py")
    where = where / "metaflow"
    for name, content in files.items():
        (where / name).write_bytes(content.encode() if isinstance(content, str) else content)
    menv = metaflow_env(where / "mfhome")
    menv.update({k.replace("NBFLOW_RUN_", "METAFLOW_RUN_", 1): v for k, v in env.items()
                 if k.startswith("NBFLOW_RUN_")})
    def metaflow(*args):
        return subprocess.run([sys.executable, "flow.py", "--no-pylint", *args], cwd=where,
                              env=menv, capture_output=True, text=True, timeout=600, check=False)

    res = metaflow("run")
    if resume_args is not None:
        assert res.returncode == 1 and "ResumeFromHere" in res.stdout + res.stderr, res.stderr
        res = metaflow("resume", *resume_args)
    assert res.returncode == 0, f"Metaflow failed:\n{res.stdout}\n{res.stderr}"
    return where


# Artifacts that hold task ids (the merge tests' current.task_id): the two systems number
# tasks in their own scheduling order, so these are left out of the comparison.
TASK_ID_ARTIFACTS = ("manual_merge_required", "ignore_me")


def read_tasks(package: str, flow: str, where: Path) -> dict:
    out = where / f"tasks-{package}.pkl"
    env = metaflow_env(where / "mfhome") if package == "metaflow" else cli_env()
    res = subprocess.run([sys.executable, "-c", READER.format(package=package), flow, str(out),
                          *TASK_ID_ARTIFACTS],
                         cwd=where, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert res.returncode == 0, res.stderr
    with open(out, "rb") as f:
        return cloudpickle.load(f)    # {"successful": run.successful, "steps": ...}
