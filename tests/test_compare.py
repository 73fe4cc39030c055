"""Comparing runs (issue 20): `compare` as a DataFrame and in the shell, `Run.diff` and
`nbflow diff`, over one flow run four times (other parameters; a cell edited before the
fourth run), and the `%nbflow compare` widget in a real kernel."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import shutil
import socket
import time
import warnings

import nbformat
import pytest
from helpers import StoreReader, create_run_json, make_notebook, read_run_json, run_id_of, run_nbflow
from nbclient import NotebookClient
from test_client import fresh_client_state  # noqa: F401 - autouse: a clean client per test

from nbflow import client, compare
from nbflow.client.compare import Big
from nbflow.datastore import records

pytestmark = pytest.mark.timeout(300)

TRAIN = ("%%step train -> end\nimport types\n"
         "self.model = types.SimpleNamespace(n_features_in_=len(self.data))\n"
         "self.accuracy = 1 - abs(self.alpha - 0.3)")
CELLS = [
    "md:# training",
    "%%flow TrainFlow\nalpha = Parameter('alpha', default=0.5)",
    "%%step start -> train\nself.data = list(range(10))",
    TRAIN,
    "%%step end\nself.final = round(self.accuracy, 3)",
]
EDITED = TRAIN.replace("self.accuracy = 1 - abs(self.alpha - 0.3)",
                       "self.accuracy = 1 - abs(self.alpha - 0.25)\nself.note = 'v2'")


@pytest.fixture(scope="module")
def four_runs(tmp_path_factory):
    """TrainFlow run with alpha 0.1, 0.2 (tagged best), 0.3, then the train cell edited
    and 0.3 again; and one run of another flow in the same store."""
    work = tmp_path_factory.mktemp("compare")
    nb = make_notebook(work / "train.ipynb", CELLS)
    ids = []
    for alpha, tags in (("0.1", []), ("0.2", ["--tag", "best"]), ("0.3", [])):
        ids.append(_run(work, nb, "--alpha", alpha, *tags))
    make_notebook(nb, CELLS[:3] + [EDITED] + CELLS[4:])
    ids.append(_run(work, nb, "--alpha", "0.3"))
    other = make_notebook(work / "other.ipynb", ["%%flow OtherFlow", "%%step start -> end",
                                                 "%%step end"])
    return work, ids, _run(work, other)


def _run(work, nb, *args) -> str:
    res = run_nbflow("run", nb, *args, cwd=work)
    assert res.returncode == 0, res.stderr
    return run_id_of(res.stdout)


@pytest.fixture
def in_store(four_runs, monkeypatch):
    work, ids, other = four_runs
    monkeypatch.setenv("NBFLOW_USER", "tester")
    monkeypatch.delenv("NBFLOW_DATASTORE", raising=False)
    monkeypatch.chdir(work)
    return work, ids, other


def test_compare_has_a_row_per_run_with_parameters_and_artifacts_as_stored(in_store):
    work, ids, _ = in_store
    df = compare("TrainFlow", artifacts=["accuracy", "model.n_features_in_", "note"], step="train")
    assert list(df.run_id) == ids[::-1]                       # newest first
    assert list(df.columns) == ["run_id", "status", "started", "duration", "tags", "alpha",
                                "accuracy", "model.n_features_in_", "note"]
    assert list(df.status) == ["successful"] * 4
    assert list(df.alpha) == [0.3, 0.3, 0.2, 0.1]
    store = StoreReader(work / ".nbflow")
    stored = [store.artifacts("TrainFlow", r, "train")["accuracy"] for r in ids[::-1]]
    assert list(df.accuracy) == stored                        # the very floats stored
    assert list(df["model.n_features_in_"]) == [10] * 4
    assert df.note[0] == "v2" and all(math.isnan(v) for v in df.note[1:])   # missing: NaN
    assert list(df.tags) == ["", "", "best", ""]
    assert (df.duration > 0).all() and df.started.is_monotonic_decreasing
    end = compare("TrainFlow", artifacts=["final"])            # the end step by default
    assert list(end.final) == [round(v, 3) for v in stored]


def test_compare_filters_by_tag_status_and_count(in_store):
    _, ids, _ = in_store
    assert list(compare("TrainFlow", tags=["best"]).run_id) == [ids[1]]
    assert list(compare("TrainFlow", last=2).run_id) == ids[:1:-1]
    failed = compare("TrainFlow", artifacts=["accuracy"], status="failed")
    assert len(failed) == 0 and "accuracy" in failed.columns
    with pytest.raises(client.ClientError, match="unknown run status"):
        compare("TrainFlow", status="done")
    client.namespace("user:someone-else")
    with pytest.raises(client.NamespaceMismatch):
        compare("TrainFlow")
    client.namespace(None)
    assert len(compare("TrainFlow")) == 4


def test_big_artifacts_are_summarized_from_the_store_not_loaded(in_store):
    df = compare("TrainFlow", artifacts=["data", "accuracy"], step="train", load_limit=30)
    assert df.data[0] == Big("list", df.data[0].size) and df.data[0].size > 30
    assert repr(df.data[0]).startswith("<list, ") and df.accuracy[0] < 1


def test_an_unknown_artifact_is_nan_with_one_did_you_mean_warning(in_store):
    _, ids, _ = in_store
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = compare("TrainFlow", artifacts=["acuracy", "model.no_such_attr"], step="train")
    assert df.acuracy.isna().all() and df["model.no_such_attr"].isna().all()
    [w] = caught   # the missing attribute is NaN without a warning
    assert "'acuracy'" in str(w.message) and "did you mean 'accuracy'" in str(w.message)
    assert all(r in str(w.message) for r in ids[:2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = compare("TrainFlow", artifacts=["accuracy", "data"], step="trian")
    assert df.accuracy.isna().all() and df.data.isna().all()
    [w] = caught   # one warning for the step, none per artifact
    assert "step 'trian' (did you mean 'train'?)" in str(w.message)
    with pytest.raises(client.ClientError, match="last must be at least 1"):
        compare("TrainFlow", last=0)


def test_a_run_still_going_is_shown_not_waited_for(in_store, tmp_path):
    work, ids, _ = in_store
    shutil.copytree(work / ".nbflow", tmp_path / ".nbflow")
    store = StoreReader(tmp_path / ".nbflow")
    rec = read_run_json(store.ds, "TrainFlow", ids[0])
    rec.update(pid=os.getpid(), host=socket.gethostname(), created_at=time.time())
    running = create_run_json(store.ds, "TrainFlow", rec)
    client.set_datastore(str(tmp_path / ".nbflow"))
    df = compare("TrainFlow", artifacts=["accuracy"])
    assert df.run_id[0] == running and df.status[0] == "running"
    assert math.isnan(df.accuracy[0]) and df.accuracy[1] == pytest.approx(0.95)


def test_diff_between_runs_1_and_2_is_the_parameter_and_its_artifacts(in_store):
    _, ids, _ = in_store
    d = client.Run(f"TrainFlow/{ids[0]}").diff(client.Run(f"TrainFlow/{ids[1]}"))
    assert [(p.name, p.old, p.new) for p in d.parameters] == [("alpha", "0.1", "0.2")]
    assert d.changed_cells == ()
    assert [c.name for c in d.cells] == ["(flow cell)", "start", "train", "end"]
    by_step = {t.label: t for t in d.artifacts}
    assert set(by_step) == {"start", "train", "end"}
    assert by_step["start"].changes == () and by_step["start"].unchanged == 1   # data
    [acc] = by_step["train"].changes
    assert (acc.name, acc.status, acc.repr_a, acc.repr_b) == ("accuracy", "changed", "0.8", "0.9")
    assert acc.sha_a != acc.sha_b and by_step["train"].unchanged == 2         # data, model
    assert {c.name for c in by_step["end"].changes} == {"accuracy", "final"}
    assert d.environment is not None and not any(d.environment["packages"].values())
    assert not d.same


def test_diff_between_runs_3_and_4_shows_the_edited_cell(in_store):
    _, ids, _ = in_store
    d = client.Run(f"TrainFlow/{ids[2]}").diff(client.Run(f"TrainFlow/{ids[3]}"))
    assert d.parameters == ()
    [cell] = d.changed_cells
    assert (cell.name, cell.status, cell.cell_a, cell.cell_b) == ("train", "changed", 4, 4)
    assert "-self.accuracy = 1 - abs(self.alpha - 0.3)\n" in cell.diff
    assert "+self.accuracy = 1 - abs(self.alpha - 0.25)\n+self.note = 'v2'\n" in cell.diff
    train = next(t for t in d.artifacts if t.step == "train")
    assert {(c.name, c.status) for c in train.changes} == {("accuracy", "changed"),
                                                          ("note", "added")}
    assert next(c for c in train.changes if c.name == "note").repr_b == "'v2'"
    back = client.Run(f"TrainFlow/{ids[3]}").diff(client.Run(f"TrainFlow/{ids[2]}"))
    note = next(c for t in back.artifacts if t.step == "train" for c in t.changes
                if c.name == "note")
    assert (note.status, note.repr_a, note.repr_b, note.sha_b) == ("removed", "'v2'", None, None)
    assert "-self.note = 'v2'\n" in back.changed_cells[0].diff


def test_diff_refuses_runs_of_different_flows(in_store):
    _, ids, other = in_store
    with pytest.raises(client.ClientError, match=f"TrainFlow/{ids[0]}.*OtherFlow/{other}"):
        client.Run(f"TrainFlow/{ids[0]}").diff(client.Run(f"OtherFlow/{other}"))


def test_cli_compare_prints_the_table_and_csv(four_runs):
    work, ids, _ = four_runs
    res = run_nbflow("compare", "TrainFlow", "--artifact", "accuracy", "--step", "train",
                     cwd=work)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:2] == ["RUN", "ID"] and lines[0].split()[-2:] == ["alpha", "accuracy"]
    assert [line.split()[0] for line in lines[1:]] == ids[::-1]
    assert lines[3].split()[-3:] == ["best", "0.2", "0.9"]    # run 2: tag, alpha, accuracy
    res = run_nbflow("compare", work / "train.ipynb", "--artifact", "accuracy", "--step",
                     "train", "--csv", "--last", "3", "--tag", "best", cwd=work.parent)
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["run_id"], r["alpha"], r["tags"]) for r in rows] == [(ids[1], "0.2", "best")]
    assert float(rows[0]["accuracy"]) == StoreReader(work / ".nbflow").artifacts(
        "TrainFlow", ids[1], "train")["accuracy"]
    res = run_nbflow("compare", "TrainFlow", "--artifact", "acuracy", cwd=work)
    assert res.returncode == 0 and "did you mean 'accuracy'" in res.stderr
    assert "no run of TrainFlow has an artifact 'acuracy' in step 'end'" in res.stderr


def test_cli_diff_prints_parameters_code_and_artifacts(four_runs):
    work, ids, other = four_runs
    res = run_nbflow("diff", f"TrainFlow/{ids[0]}", ids[1], cwd=work)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "  alpha: 0.1 -> 0.2" in out and "code: unchanged ((flow cell), start, train, end)" in out
    assert "  train: 1 changed, 2 unchanged" in out and "~ accuracy: 0.8 -> 0.9" in out
    assert "unchanged: start" in out and "environment: unchanged" in out
    res = run_nbflow("diff", "train.ipynb", ids[2], ids[3], cwd=work)
    assert "parameters: unchanged" in res.stdout and "  train (cell 4): changed" in res.stdout
    assert "    +self.note = 'v2'" in res.stdout and "+ note: 'v2'" in res.stdout
    res = run_nbflow("diff", f"TrainFlow/{ids[0]}", f"OtherFlow/{other}", cwd=work)
    assert res.returncode == 1 and "different flows" in res.stderr and "OtherFlow" in res.stderr
    res = run_nbflow("diff", ids[0], ids[1], cwd=work)
    assert res.returncode == 2 and "give Flow/run_id" in res.stderr


def test_nbflow_compare_widget_in_a_real_kernel(four_runs, monkeypatch):
    work, ids, _ = four_runs
    monkeypatch.setenv("JPY_SESSION_NAME", str(work / "train.ipynb"))
    monkeypatch.setenv("NBFLOW_USER", "tester")
    monkeypatch.delenv("NBFLOW_DATASTORE", raising=False)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext nbflow"),
        nbformat.v4.new_code_cell("%nbflow compare TrainFlow --artifact accuracy --step train"),
        nbformat.v4.new_code_cell(
            "t = %nbflow compare --artifact accuracy --step train\n"
            "t.headers[t.columns.index('accuracy')].click()\n"
            "print('order', [r['run_id'] for r in t.rows])\n"
            "print('chart', t.chart_column.value, t.chart.value.count('<circle'))\n"
            "t.cells[t.rows[-1]['run_id']][0].click()\n"
            "print('browser', t.browser.flows.value, t.browser.runs.value)"),
        nbformat.v4.new_code_cell(f"%nbflow diff {ids[0]} {ids[1]}"),
        nbformat.v4.new_code_cell(f"%nbflow env {ids[0]}\n%nbflow env --diff {ids[0]} {ids[1]}")])
    NotebookClient(nb, timeout=240, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(work)}}).execute()
    outputs = nb.cells[1].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    texts = json.dumps([m["state"] for m in state.values()])
    assert all(r in texts for r in ids) and "accuracy" in texts and "polyline" in texts
    assert "4 run(s)" in texts
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    by_accuracy = sorted(ids, key=lambda r: -StoreReader(work / ".nbflow").artifacts(
        "TrainFlow", r, "train")["accuracy"])
    assert f"order {by_accuracy}" in printed            # highest first
    assert "chart accuracy 4" in printed
    assert f"browser TrainFlow {by_accuracy[-1]}" in printed
    printed = "".join(o.get("text", "") for o in nb.cells[3].outputs)
    assert f"diff TrainFlow/{ids[0]} -> TrainFlow/{ids[1]}" in printed
    assert "alpha: 0.1 -> 0.2" in printed
    printed = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    assert f"run TrainFlow/{ids[0]}\npython      {platform.python_version()}" in printed
    assert f"environment TrainFlow/{ids[0]} -> TrainFlow/{ids[1]}\nno difference" in printed


def test_diff_names_changed_packages_when_both_runs_record_an_environment(in_store, tmp_path):
    from nbflow.cli.compare_commands import render_diff
    from nbflow.environment import capture

    work, ids, _ = in_store
    shutil.copytree(work / ".nbflow", tmp_path / ".nbflow")
    ds = StoreReader(tmp_path / ".nbflow").ds
    rec = read_run_json(ds, "TrainFlow", ids[1])
    env = capture.load(ds, rec["environment"])
    env["packages"] = dict(env["packages"], pandas="0.1.0", newpkg="1.0")
    records.update_run(ds, "TrainFlow", ids[1], environment=dict(
        rec["environment"], key=capture.store(ds, env)))
    client.set_datastore(str(tmp_path / ".nbflow"))
    d = client.Run(f"TrainFlow/{ids[0]}").diff(client.Run(f"TrainFlow/{ids[1]}"))
    assert d.environment["packages"]["added"] == {"newpkg": "1.0"}
    assert d.environment["packages"]["changed"]["pandas"][1] == "0.1.0"
    text = render_diff(d)
    assert "environment:\n  packages:\n    + newpkg 1.0\n" in text


def test_diff_matches_foreach_tasks_by_position(workdir):
    nb = make_notebook(workdir / "fan.ipynb", [
        "%%flow FanFlow\nk = Parameter('k', default=1)",
        "%%step start -> part --foreach items\nself.items = [1, 2, 3]",
        "%%step part -> join\nself.out = self.input * (self.k if self.input == 2 else 1)",
        "%%step join -> end\nself.outs = [i.out for i in inputs]",
        "%%step end"])
    a, b = _run(workdir, nb), _run(workdir, nb, "--k", "5")
    res = run_nbflow("diff", nb, a, b, cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "  part[1]: 1 changed, 1 unchanged\n    ~ out: 2 -> 10" in res.stdout
    assert "  end: 1 changed, 0 unchanged\n    ~ outs: [1, 2, 3] -> [1, 10, 3]" in res.stdout
    assert "  unchanged: start, part[0], part[2]\n" in res.stdout


def test_nbflow_compare_without_widgets_prints_the_table(four_runs):
    from test_kernel_interactive import KernelDriver

    work, ids, _ = four_runs
    with KernelDriver(work, work / "train.ipynb", NBFLOW_NO_WIDGETS="1") as k:
        k.run("%load_ext nbflow")
        r = k.run("%nbflow compare --artifact accuracy --step train --last 2")
        lines = r.stdout.splitlines()
        assert [line.split()[0] for line in lines[1:]] == [ids[3], ids[2]]
        assert lines[1].split()[-2:] == ["0.3", "0.95"]
        r = k.run("%nbflow compare --artifact acuracy --csv --last 1")
        assert "did you mean 'accuracy'" in r.stdout and r.stdout.splitlines()[1].startswith(
            "run_id,")
        r = k.run("%nbflow compare --last 0", ok=False)
        assert "--last must be at least 1" in r.error_text
