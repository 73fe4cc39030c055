"""`nbflow resume` (docs/reference.md section 2) through real runs in a temporary datastore."""
import os
import re
import signal
import subprocess
import sys
import time

from helpers import cli_env, make_notebook, run_id_of, run_nbflow

from nbflow import Run
from nbflow.datastore import Datastore

SPLIT_FLOW = [
    "%%flow SplitFlow\nimport os\nalpha = Parameter('alpha', default=1)",
    "%%step start -> a, b\nself.data = list(range(1000))\nprint('start ran')",
    "%%step a -> join\nself.y = self.alpha * 10\nprint('a ran')",
    ("%%step b -> join\nif os.path.exists('broken'):\n    raise RuntimeError('b is broken')\n"
    "self.y = self.alpha * 100"),
    ("%%step join -> end\nself.ys = sorted(i.y for i in inputs)\n"
    "self.merge_artifacts(inputs, exclude=['y'])"),
    "%%step end\nself.origin = current.origin_run_id",
]


def blobs(workdir) -> set[str]:
    root = workdir / ".nbflow" / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file()}


def test_resume_reruns_the_failed_step_and_reuses_the_rest_by_reference(workdir):
    nb = make_notebook(workdir / "split.ipynb", SPLIT_FLOW)
    (workdir / "broken").write_text("yes")
    # one task at a time: `a` ends before `b` fails (a failure ends the tasks still running)
    first = run_nbflow("run", nb, "--max-workers", "1", cwd=workdir)
    assert first.returncode == 1 and "b is broken" in first.stderr
    origin = run_id_of(first.stdout)
    before = blobs(workdir)
    (workdir / "broken").unlink()            # the fix
    res = run_nbflow("resume", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    new = run_id_of(res.stdout)
    assert new != origin
    for step in ("start", "a"):               # reused, not run again
        assert f"Cloning results of a previously run task SplitFlow/{origin}/{step}/" in res.stdout
        assert not re.search(rf"\[{new}/{step}/\d+ \(pid", res.stdout)   # no task started
    assert "start ran" not in res.stdout and "a ran" not in res.stdout
    assert f"[{new}/b/" in res.stdout and f"[{new}/join/" in res.stdout

    old_run, new_run = Run(f"SplitFlow/{origin}"), Run(f"SplitFlow/{new}")
    assert new_run.successful and new_run.origin_run_id == origin
    assert new_run.data.origin == origin          # current.origin_run_id in the task
    assert new_run.data.ys == [10, 100]           # the join got the cloned a and the new b
    reused_keys = set()
    for step in ("start", "a"):
        old_task, new_task = old_run[step].task, new_run[step].task
        assert new_task.origin_pathspec == old_task.pathspec
        assert {a.id: a.sha for a in new_task} == {a.id: a.sha for a in old_task}
        assert new_task.stdout == old_task.stdout == f"{step} ran\n"
        assert new_task.id == old_task.id
        reused_keys |= {a.sha for a in new_task}
    rerun = [new_run[s].task for s in ("b", "join", "end")]
    assert all(t.origin_pathspec is None for t in rerun)
    assert min(int(t.id) for t in rerun) > max(int(t.id) for s in old_run for t in s)
    # the store grew only by what the re-run tasks produced
    grown = blobs(workdir) - before
    assert grown <= {a.sha for t in rerun for a in t}
    assert reused_keys <= before


def test_resume_from_a_named_step_keeps_the_origin_parameters(workdir):
    nb = make_notebook(workdir / "split.ipynb", SPLIT_FLOW)
    first = run_nbflow("run", nb, "--alpha", "5", cwd=workdir)
    assert first.returncode == 0, first.stderr
    origin = run_id_of(first.stdout)
    res = run_nbflow("resume", nb, cwd=workdir)
    assert res.returncode == 2 and f"run SplitFlow/{origin} succeeded" in res.stderr
    assert "name the step" in res.stderr and "Traceback" not in res.stderr
    res = run_nbflow("resume", nb, "a", "--alpha", "6", cwd=workdir)
    assert res.returncode == 2 and "--alpha" in res.stderr and "alpha=5" in res.stderr
    res = run_nbflow("resume", nb, "a", "--origin-run-id", "123", cwd=workdir)
    assert res.returncode == 2 and f"runs there: {origin}" in res.stderr
    res = run_nbflow("resume", nb, "aa", cwd=workdir)
    assert res.returncode == 2 and "did you mean 'a'" in res.stderr
    res = run_nbflow("resume", nb, "a", "--alpha", "5", "--origin-run-id", origin, cwd=workdir)
    assert res.returncode == 0, res.stderr
    new = Run(f"SplitFlow/{run_id_of(res.stdout)}")
    assert new.parameters == {"alpha": 5} and new.data.ys == [50, 500]
    reused = sorted(s.id for s in new for t in s if t.origin_pathspec)
    assert reused == ["b", "start"]


def test_resume_after_a_step_was_renamed_or_removed(workdir):
    nb = make_notebook(workdir / "split.ipynb", SPLIT_FLOW)
    (workdir / "broken").write_text("yes")
    assert run_nbflow("run", nb, cwd=workdir).returncode == 1
    renamed_failed = [c.replace("-> a, b", "-> a, b2").replace("%%step b ", "%%step b2 ")
                      for c in SPLIT_FLOW]
    make_notebook(nb, renamed_failed)
    res = run_nbflow("resume", nb, cwd=workdir)
    assert res.returncode == 2, res.stdout
    assert "step 'b' failed in run" in res.stderr and "no step 'b' now" in res.stderr
    renamed_reused = [c.replace("-> a, b", "-> a2, b").replace("%%step a ", "%%step a2 ")
                      for c in SPLIT_FLOW]
    make_notebook(nb, renamed_reused)
    res = run_nbflow("resume", nb, cwd=workdir)
    assert res.returncode == 2
    assert "step 'a' of run" in res.stderr and "not in the notebook any more" in res.stderr
    assert "Traceback" not in res.stderr


FOREACH_FLOW = [
    "%%flow EachFlow\nimport os",
    "%%step start -> body --foreach items\nself.items = ['x', 'y', 'z']",
    ("%%step body -> join\nif self.input == 'y' and os.path.exists('broken'):\n    raise ValueError('y')\n"
    "self.out = self.input * (self.index + 1)"),
    "%%step join -> end\nself.outs = [i.out for i in inputs]",
    "%%step end\npass",
]


def test_resume_a_foreach(workdir):
    nb = make_notebook(workdir / "each.ipynb", FOREACH_FLOW)
    (workdir / "broken").write_text("yes")
    origin = run_id_of(run_nbflow("run", nb, cwd=workdir).stdout)
    (workdir / "broken").unlink()
    res = run_nbflow("resume", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run = Run(f"EachFlow/{run_id_of(res.stdout)}")
    assert run.origin_run_id == origin and run.data.outs == ["x", "yy", "zzz"]
    assert run["start"].task.origin_pathspec == f"EachFlow/{origin}/start/1"
    assert all(t.origin_pathspec is None for t in run["body"])   # the failed step: all again
    # from `end` of that successful run: the foreach and its join are all reused, in order
    res = run_nbflow("resume", nb, "end", cwd=workdir)
    assert res.returncode == 0, res.stderr
    again = Run(f"EachFlow/{run_id_of(res.stdout)}")
    assert [t.data.out for t in again["body"]] == ["x", "yy", "zzz"]
    assert all(t.origin_pathspec for s in ("start", "body", "join") for t in again[s])
    assert again["end"].task.origin_pathspec is None and again.data.outs == ["x", "yy", "zzz"]


LINEAR_FLOW = [
    "%%flow LinearFlow\nimport os, time",
    "%%step start -> a\nself.x = 1",
    "%%step a -> b\nself.x += 1",
    ("%%step b -> end\nif os.path.exists('hang'):\n    os.unlink('hang')\n"
    "    open('pid.tmp', 'w').write(str(os.getpid()))\n    os.rename('pid.tmp', 'pid')\n"
    "    time.sleep(600)\nself.x += 1"),
    "%%step end\nself.x += 1",
]


def test_a_run_whose_process_died_resumes_at_its_unfinished_steps(workdir):
    nb = make_notebook(workdir / "linear.ipynb", LINEAR_FLOW)
    (workdir / "hang").write_text("yes")
    proc = subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb)], cwd=workdir,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    pid_file = workdir / "pid"
    while not pid_file.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)           # the runner (and its zygote) die at once
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    origin = run_id_of(out)
    assert Run(f"LinearFlow/{origin}").status == "died"
    runs = run_nbflow("runs", "LinearFlow", cwd=workdir)
    assert f"{origin}  died" in runs.stdout
    res = run_nbflow("resume", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run = Run(f"LinearFlow/{run_id_of(res.stdout)}")
    assert run.data.x == 4
    assert [s.id for s in run if s.task.origin_pathspec] == ["a", "start"]


def test_resume_walkthrough_notebook(tmp_path, monkeypatch):
    """The seed example: the wine classifier fails in train_svm, is fixed, and resumed;
    start and train_knn are not run again (notebooks/resume_walkthrough.ipynb)."""
    import nbformat
    from helpers import NOTEBOOKS
    from nbclient import NotebookClient

    work = tmp_path / "walk"
    monkeypatch.setenv("NBFLOW_WALKTHROUGH_DIR", str(work))
    monkeypatch.setenv("NBFLOW_USER", "tester")
    monkeypatch.delenv("NBFLOW_DATASTORE", raising=False)
    nb = nbformat.read(str(NOTEBOOKS / "resume_walkthrough.ipynb"), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    flow = work / ".nbflow" / "WineClassifierFlow"
    origin, resumed = sorted(p.name for p in flow.iterdir())
    for step in ("start", "train_knn"):        # a clone record, and no output of its own
        files = sorted(p.name for p in (flow / resumed / step).iterdir())
        assert len(files) == 1 and files[0].endswith(".0.json"), files
    run = Run(f"WineClassifierFlow/{resumed}", _datastore=Datastore(str(work / ".nbflow")))
    assert run.origin_run_id == origin and run.successful
    for step in ("start", "train_knn"):
        task = run[step].task
        assert task.origin_pathspec == f"WineClassifierFlow/{origin}/{step}/{task.id}"
        assert task.created_at < run.created_at      # it ran before this run began
    assert run["train_svm"].task.origin_pathspec is None
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "Cloning results of a previously run task" in outputs
    assert f"[{resumed}/train_knn/2 (pid" not in outputs
