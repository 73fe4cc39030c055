"""`nbflow logs | dump | runs` on real runs in a temporary datastore (docs/reference.md section 2)."""
import pytest
from helpers import make_notebook, run_id_of, run_nbflow

INSPECT_FLOW = [
    "%%flow InspectFlow\nimport sys\nimport numpy as np\nimport pandas as pd",
    ("%%step start -> each --foreach items\nself.big = list(range(100000))\nself.arr = np.zeros((1000, 1000))\n"
    "self.df = pd.DataFrame({'a': range(50), 'b': [x * 2 for x in range(50)]})\n"
    "self.text = 'hello'\nself.items = [1, 2]\nprint('to stdout')\nprint('to stderr', file=sys.stderr)"),
    "%%step each -> join\nprint('item', self.input)",
    "%%step join -> end\nself.n = len(inputs)",
    ("%%step end --retry 1\nprint('attempt', current.retry_count)\n"
    "if current.retry_count == 0:\n    raise RuntimeError('flaky')"),
]


@pytest.fixture(scope="module")
def inspected(tmp_path_factory):
    """One real run, read by every test of this module (never changed by them)."""
    work = tmp_path_factory.mktemp("inspect")
    nb = make_notebook(work / "inspect.ipynb", INSPECT_FLOW)
    res = run_nbflow("run", nb, "--tag", "nightly", cwd=work)
    assert res.returncode == 0, res.stderr
    return work, nb, run_id_of(res.stdout)


def test_logs_of_a_task(inspected):
    work, nb, run_id = inspected
    res = run_nbflow("logs", f"InspectFlow/{run_id}/start/1", cwd=work)
    assert res.returncode == 0 and res.stdout == "to stdout\n" and res.stderr == "to stderr\n"
    res = run_nbflow("logs", f"InspectFlow/{run_id}/start/1", "--stderr", cwd=work)
    assert res.stdout == "to stderr\n"
    res = run_nbflow("logs", nb, f"{run_id}/start/1", "--stdout", cwd=work / "..")
    assert res.returncode == 0 and res.stdout == "to stdout\n"


def test_logs_of_a_step_and_of_each_attempt(inspected):
    work, _nb, run_id = inspected
    res = run_nbflow("logs", f"InspectFlow/{run_id}/each", "--stdout", cwd=work)
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert [line for line in lines if line.startswith("item")] == ["item 1", "item 2"]
    assert sum(line.startswith(f"=== InspectFlow/{run_id}/each/") for line in lines) == 2
    end = f"InspectFlow/{run_id}/end/" + _end_id(work, run_id)
    assert run_nbflow("logs", end, "--stdout", cwd=work).stdout == "attempt 1\n"
    first = run_nbflow("logs", end, "--attempt", "0", cwd=work)
    assert first.stdout == "attempt 0\n" and "RuntimeError: flaky" in first.stderr
    res = run_nbflow("logs", f"InspectFlow/{run_id}/join/" + _join_id(work, run_id), cwd=work)
    assert res.returncode == 0 and res.stdout == "" and "printed nothing" in res.stderr


def _end_id(work, run_id):
    return next((work / ".nbflow" / "InspectFlow" / run_id / "end").glob("*.1.json")).name.split(".")[0]


def _join_id(work, run_id):
    return next((work / ".nbflow" / "InspectFlow" / run_id / "join").glob("*.json")).name.split(".")[0]


def test_dump_lists_artifacts_with_type_size_and_a_short_repr(inspected):
    work, _nb, run_id = inspected
    res = run_nbflow("dump", f"InspectFlow/{run_id}/start/1", cwd=work)
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines()[1:]}
    assert res.stdout.splitlines()[0].split() == ["NAME", "TYPE", "SIZE", "VALUE"]
    assert set(rows) == {"arr", "big", "df", "items", "text"}
    assert "numpy.ndarray" in rows["arr"] and "7.6 MiB" in rows["arr"]
    assert "array(shape 1000x1000, dtype float64)" in rows["arr"]
    assert "list" in rows["big"] and "len 100000: [0, 1, 2, 3, 4, 5, ...]" in rows["big"]
    assert "pandas" in rows["df"] and "DataFrame(50x2, columns ['a', 'b'])" in rows["df"]
    assert "'hello'" in rows["text"]
    assert max(len(line) for line in res.stdout.splitlines()) < 160   # never printed whole


def test_dump_one_artifact_in_more_detail(inspected):
    work, nb, run_id = inspected
    res = run_nbflow("dump", nb, f"{run_id}/start/1", "--name", "df", cwd=work)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("df: pandas") and "DataFrame, " in lines[0]
    assert "a   b" in res.stdout and len(lines) < 20        # the head, not 50 rows
    res = run_nbflow("dump", f"InspectFlow/{run_id}/start/1", "--name", "big", cwd=work)
    assert "list, 100000 items" in res.stdout and len(res.stdout.splitlines()) <= 22
    res = run_nbflow("dump", f"InspectFlow/{run_id}/start/1", "--name", "bgi", cwd=work)
    assert res.returncode == 1 and "did you mean 'big'" in res.stderr


def test_runs_table(inspected):
    work, nb, run_id = inspected
    res = run_nbflow("runs", "InspectFlow", cwd=work)
    assert res.returncode == 0, res.stderr
    header, row = res.stdout.splitlines()
    assert header.split() == ["RUN", "ID", "STATUS", "STARTED", "DURATION", "TAGS"]
    assert row.startswith(f"{run_id}  successful  20") and "nightly" in row and "user:tester" in row
    assert run_nbflow("runs", nb, cwd=work / "..").stdout == res.stdout


def test_runs_lists_failed_and_damaged_runs_and_namespaces(workdir):
    nb = make_notebook(workdir / "two.ipynb", [
        "%%flow TwoFlow\nfail = Parameter('fail', default=False)",
        "%%step start -> end\nassert not self.fail, 'asked to fail'",
        "%%step end\npass"])
    ids = [run_id_of(run_nbflow("run", nb, *args, cwd=workdir).stdout)
           for args in ([], ["--fail", "true"], [], ["--namespace", "team"])]
    (workdir / ".nbflow" / "TwoFlow" / ids[2] / "_run.json").write_text('{"trunc')
    res = run_nbflow("runs", "TwoFlow", cwd=workdir)
    assert res.returncode == 0, res.stderr
    status = {line.split()[0]: line.split()[1] for line in res.stdout.splitlines()[1:]}
    assert status == {ids[0]: "successful", ids[1]: "failed", ids[2]: "damaged",
                      ids[3]: "successful"}
    res = run_nbflow("runs", "TwoFlow", "--namespace", "team", cwd=workdir)
    assert [line.split()[0] for line in res.stdout.splitlines()[1:]] == [ids[3], ids[2]]
    res = run_nbflow("runs", "TwoFlw", cwd=workdir)
    assert res.returncode == 1 and "did you mean 'TwoFlow'" in res.stderr


@pytest.mark.parametrize("args, code, message", [
    (["logs", "InspectFlow/../../etc/passwd"], 2, "malformed pathspec"),
    (["dump", "../../etc"], 2, "malformed pathspec"),
    (["logs", "InspectFlow"], 2, "names a flow"),
    (["dump", "InspectFlow/1/start/1", "x/y"], 2, "is not a notebook"),
    (["logs", "InspectFlow/123/start/1"], 1, "no run '123' in flow 'InspectFlow'; runs there: "),
    (["dump", "NoSuchFlow/123/start/1"], 1, "no flow 'NoSuchFlow'"),
])
def test_bad_pathspecs(inspected, args, code, message):
    res = run_nbflow(*args, cwd=inspected[0])
    assert res.returncode == code and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_commands_in_a_kernel_leave_the_client_state_alone(inspected, capsys):
    """`%nbflow logs/dump/runs` run the CLI in the user's kernel: its namespace and datastore
    choices must survive them."""
    from nbflow import cli, client

    work, _nb, run_id = inspected
    try:
        client.namespace("user:someone")
        client.set_datastore(str(work / "elsewhere"))
        store = ["--datastore", str(work / ".nbflow")]
        assert cli.main(["logs", f"InspectFlow/{run_id}/start/1", "--stdout", *store]) == 0
        assert cli.main(["runs", "InspectFlow", "--all", *store]) == 0
        assert cli.main(["dump", "InspectFlow/../x", *store]) == 2
        assert "to stdout" in capsys.readouterr().out
        assert client.get_namespace() == "user:someone"
        assert client.get_datastore().url == str(work / "elsewhere")
    finally:
        client.context.reset_defaults()
