"""`%%flow Name --schedule ... --project NAME`: checked as Metaflow checks @schedule and
@project, recorded with every run (and in `current`), exported as those decorators;
the exported file passes `show` and `check` under real Metaflow, and imports back."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

from nbflow.errors import NotebookError
from nbflow.notebook.parse import parse_cells

PROD = [
    '%%flow ProdFlow --schedule "0 10 * * ? *" --project demo_proj',
    ("%%step start -> end\nself.project = (current.project_name, current.branch_name, "
     "current.project_flow_name, current.is_production)"),
    "%%step end",
]


def flow_cell(header: str):
    return parse_cells([("code", header), ("code", "%%step start -> end"),
                        ("code", "%%step end")]).flow_cell


def test_the_header_takes_a_schedule_and_a_project():
    fc = flow_cell("%%flow F --schedule daily --project my_team")
    assert (fc.name, fc.schedule, fc.project) == ("F", "daily", "my_team")
    assert flow_cell('%%flow F --schedule "*/15 * * * *"').schedule == "*/15 * * * *"


@pytest.mark.parametrize("header, message", [
    ("%%flow F --schedule sometimes", "cell 1: option '--schedule': 'sometimes' is not a "
     "schedule: give hourly, daily, weekly or a cron expression"),
    ("%%flow F --project Demo-Team", "cell 1: option '--project': 'Demo-Team' is not a "
     "project name: only lowercase letters, digits and '_'"),
    ("%%flow F --project " + "a" * 129, "longer than 128 characters"),
])
def test_bad_values_are_refused_naming_the_cell(header, message):
    nb = parse_cells([("code", header), ("code", "%%step start -> end"), ("code", "%%step end")])
    [error] = nb.errors
    assert isinstance(error, NotebookError) and message in str(error)


def test_recorded_on_every_run_and_known_to_current(workdir, store):
    nb = make_notebook(workdir / "prod.ipynb", PROD)
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    assert store.artifacts("ProdFlow", run_id, "start")["project"] == (
        "demo_proj", "user.tester", "demo_proj.user.tester.ProdFlow", False)
    from nbflow import Flow

    fc = Flow("ProdFlow")[run_id].notebook.flow_cell
    assert (fc.schedule, fc.project) == ("0 10 * * ? *", "demo_proj")


def metaflow(flow_py, *args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")}
    env.update(USERNAME="tester", METAFLOW_HOME=str(cwd / "mfhome"),
               METAFLOW_DEFAULT_METADATA="local", METAFLOW_DEFAULT_DATASTORE="local")
    return subprocess.run([sys.executable, str(flow_py), "--no-pylint", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("schedule, decorator", [
    ("daily", "@schedule(daily=True)"), ("weekly", "@schedule(weekly=True)"),
    ("hourly", "@schedule(hourly=True)"),
    ('"0 10 * * ? *"', '@schedule(cron="0 10 * * ? *")')])
def test_exported_as_schedule_and_project_that_metaflow_accepts(workdir, schedule, decorator):
    pytest.importorskip("metaflow")
    nb = make_notebook(workdir / "prod.ipynb",
                       [f"%%flow ProdFlow --schedule {schedule} --project demo_proj", *PROD[1:]])
    res = run_nbflow("export", nb, "-o", "flow.py", cwd=workdir)
    assert res.returncode == 0, res.stderr
    text = (workdir / "flow.py").read_text()
    assert f'@project(name="demo_proj")\n{decorator}\nclass ProdFlow(FlowSpec):' in text
    assert "from metaflow import FlowSpec, current, project, schedule, step" in text
    for command in ("show", "check"):
        res = metaflow(workdir / "flow.py", command, cwd=workdir)
        assert res.returncode == 0, res.stdout + res.stderr
    res = run_nbflow("import", "flow.py", "-o", "back.ipynb", cwd=workdir)
    assert res.returncode == 0, res.stderr
    back = parse_cells([(c["cell_type"], "".join(c["source"])) for c in __import__("json").loads(
        (workdir / "back.ipynb").read_text())["cells"]]).flow_cell
    assert (back.schedule, back.project) == (schedule.strip('"'), "demo_proj")
