"""Real runs of real notebooks through the CLI: parameters, the run record, logs,
joins, foreach, failures and the clear errors of bad input (docs/reference.md sections 1-3)."""
import json

import pytest
from helpers import cli_env, make_notebook, run_id_of, run_nbflow

PARAMS_FLOW = [
    "md:# Parameters",
    ("%%flow ParamFlow\n"
    "ratio = Parameter('ratio', help='between 0 and 1', type=float, default=0.5)\n"
    "animal = Parameter('creature', help='an animal', required=True)\n"
    "mapping = Parameter('mapping', type=JSONType, default='{\"some\": \"default\"}')\n"
    "count = Parameter('count', default=3)\n"
    "flag = Parameter('flag', default=False)\n"
    "names = Parameter('names', default='a,b', separator=',')\n"
    "data = IncludeFile('csv', help='CSV file', is_text=True, default='data.csv')\n"
    "raw = IncludeFile('raw', is_text=False, default='data.csv')\n"),
    ("%%step start -> end\nself.seen = (self.ratio, self.animal, self.mapping, self.count, "
    "self.flag, self.names, self.data, __file__, self.raw)"),
    "%%step end\nself.final = (self.ratio, self.count)",
]


def params_notebook(workdir):
    (workdir / "data.csv").write_text("a,b\n1,2\n")
    (workdir / "binary.bin").write_bytes(b"\xff\xfe\x00")
    return make_notebook(workdir / "params.ipynb", PARAMS_FLOW)


def flows_in_store(workdir) -> list[str]:
    root = workdir / ".nbflow"
    return sorted(p.name for p in root.iterdir() if p.name != "blobs") if root.exists() else []


def test_parameters_from_cli_env_and_defaults(workdir, store):
    nb = params_notebook(workdir)
    env = cli_env(NBFLOW_RUN_CREATURE="dog", NBFLOW_RUN_COUNT="7", NBFLOW_RUN_RATIO="0.1")
    res = run_nbflow("run", nb, "--ratio", "0.25", "--mapping", '{"k": [1, 2]}', "--flag",
                     "--names=x,y,z", cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    seen = store.artifacts("ParamFlow", run_id, "start")["seen"]
    # the command line wins over NBFLOW_RUN_RATIO; NBFLOW_RUN_* over defaults
    assert seen == (0.25, "dog", {"k": [1, 2]}, 7, True, ["x", "y", "z"], "a,b\n1,2\n", str(nb),
                    b"a,b\n1,2\n")
    end = store.artifacts("ParamFlow", run_id, "end")
    assert end["final"] == (0.25, 7)
    assert end["data"] == "a,b\n1,2\n" and end["mapping"] == {"k": [1, 2]}
    run = json.loads((workdir / ".nbflow" / "ParamFlow" / run_id / "_run.json").read_text())
    assert set(run["params"]) == {"ratio", "animal", "mapping", "count", "flag", "names", "data",
                                  "raw"}
    assert run["param_options"]["animal"] == "creature"
    assert store.ds.get_object(run["params"]["count"]["key"]) == 7
    assert run["max_num_splits"] == 100


def test_defaults_and_include_file_snapshot(workdir, store):
    nb = params_notebook(workdir)
    res = run_nbflow("run", nb, "--creature", "cat", cwd=workdir)
    assert res.returncode == 0, res.stderr
    (workdir / "data.csv").write_text("changed later\n")
    seen = store.artifacts("ParamFlow", run_id_of(res.stdout), "start")["seen"]
    assert seen[:7] == (0.5, "cat", {"some": "default"}, 3, False, ["a", "b"], "a,b\n1,2\n")


@pytest.mark.parametrize("args, env, message", [
    ([], {}, ("missing required parameter(s): --creature (give them on the command line, or set "
             "NBFLOW_RUN_CREATURE)")),
    (["--creature", "cat", "--count", "2.5"], {}, ("parameter 'count' (--count) needs an integer, "
                                                  "got '2.5'")),
    (["--creature", "cat"], {"NBFLOW_RUN_COUNT": "x"}, ("parameter 'count' (NBFLOW_RUN_COUNT) needs "
                                                       "an integer, got 'x'")),
    (["--creature", "cat", "--mapping", "{bad json"], {}, ("parameter 'mapping' (--mapping) needs "
                                                          "JSON, got '{bad json' (Expecting")),
    (["--creature", "cat", "--ratio", "half"], {}, "needs a number, got 'half'"),
    (["--creature", "cat", "--colour", "red"], {}, ("unknown parameter '--colour'; known parameters: "
                                                   "--ratio, --creature, --mapping, --count, --flag, "
                                                   "--names, --csv, --raw")),
    (["--creature", "cat", "--csv", "nope.csv"], {}, "IncludeFile 'csv': file 'nope.csv' not found"),
    (["--creature", "cat", "--csv", "binary.bin"], {}, ("IncludeFile 'csv': file 'binary.bin' is not "
                                                       "utf-8 text")),
])
def test_bad_parameters_are_clear_errors_and_store_nothing(workdir, args, env, message):
    nb = params_notebook(workdir)
    res = run_nbflow("run", nb, *args, cwd=workdir, env=cli_env(**env))
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert flows_in_store(workdir) == []


def test_run_record_holds_the_code_that_ran(workdir, store):
    cells = ["%%flow CodeFlow\nK = 3", "raise RuntimeError('a scratch cell never runs')",
             "%%step start -> end\nself.v = K * 2", "%%step end\nprint(self.v)"]
    nb = make_notebook(workdir / "code.ipynb", cells)
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    rec = json.loads((workdir / ".nbflow" / "CodeFlow" / run_id / "_run.json").read_text())
    assert rec["notebook"]["flow_cell"]["code"] == "K = 3"
    assert [(s["name"], s["body"], s["cell"]) for s in rec["notebook"]["steps"]] == [
        ("start", "self.v = K * 2", 3), ("end", "print(self.v)", 4)]
    # editing the notebook afterwards does not change what the run says it ran
    make_notebook(nb, cells[:2] + ["%%step start -> end\nself.v = 0", cells[3]])
    rec2 = json.loads((workdir / ".nbflow" / "CodeFlow" / run_id / "_run.json").read_text())
    assert rec2["notebook"]["steps"][0]["body"] == "self.v = K * 2"
    assert store.run_end("CodeFlow", run_id)["successful"] is True


def test_task_output_is_streamed_and_stored(workdir, store):
    nb = make_notebook(workdir / "logs.ipynb", [
        "%%flow LogsFlow",
        ("%%step start -> end\nimport sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"
        "print('no newline at the end', end='')"),
        "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    assert f"[{run_id}/start/1 (pid " in res.stdout
    assert ")] to stdout\n" in res.stdout and ")] no newline at the end\n" in res.stdout
    assert ")] to stderr\n" in res.stderr and "to stderr" not in res.stdout
    base = workdir / ".nbflow" / "LogsFlow" / run_id / "start"
    assert (base / "1.0.out").read_text() == "to stdout\nno newline at the end"
    assert (base / "1.0.err").read_text() == "to stderr\n"
    assert not (workdir / ".nbflow" / "LogsFlow" / run_id / "end" / "2.0.out").exists()


def test_current_in_a_step(workdir, store):
    nb = make_notebook(workdir / "cur.ipynb", [
        ("%%step start -> end\nself.info = (current.flow_name, current.run_id, current.step_name, "
        "current.task_id, current.pathspec, current.retry_count, current.username, "
        "current.namespace, current.tags, current.is_interactive)"),
        "%%step end"])
    res = run_nbflow("run", nb, "--tag", "nightly", cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    assert store.artifacts("CurFlow", run_id, "start")["info"] == (
        "CurFlow", run_id, "start", "1", f"CurFlow/{run_id}/start/1", 0, "tester", "user:tester",
        ["nightly"], False)


@pytest.mark.parametrize("code, message", [
    ("self.alpha = 2", "step 'start': 'alpha' is a parameter, and parameters are immutable"),
    ("self.input = 2", "step 'start': 'input' is reserved by nbflow"),
    ("raise SystemExit(3)", "SystemExit: 3"),
])
def test_step_errors(workdir, code, message):
    nb = make_notebook(workdir / "errs.ipynb", ["%%flow ErrsFlow\nalpha = Parameter('alpha', default=1)",
                                                f"%%step start -> end\n{code}", "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    assert message in res.stderr, res.stderr
    assert 'File "errs.ipynb, cell 2", line 2, in start' in res.stderr


JOIN_FLOW = [
    "%%flow JoinFlow\nalpha = Parameter('alpha', default=2)",
    "%%step start -> left, right\nself.base = 10\nself.shared = 'same'",
    "%%step left -> join\nself.v = self.base + 1",
    "%%step right -> join\nself.v = self.base + 2",
    ("%%step join -> end\n"
    "self.by_index = [inputs[0].v, inputs[1].v]\n"
    "self.count = len(inputs)\n"
    "self.by_name = (inputs.left.v, inputs.right.v)\n"
    "self.iterated = sorted(i.v for i in inputs)\n"
    "self.alpha_in_join = self.alpha\n"
    "self.had_base = hasattr(self, 'base')\n"
    "try:\n    self.base\nexcept AttributeError as e:\n    self.error = str(e)\n"
    "self.merge_artifacts(inputs, exclude=['v'])"),
    "%%step end",
]


def test_join_inputs(workdir, store):
    nb = make_notebook(workdir / "join.ipynb", JOIN_FLOW)
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    end = store.artifacts("JoinFlow", run_id_of(res.stdout), "end")
    assert end["by_index"] == [11, 12] and end["count"] == 2
    assert end["by_name"] == (11, 12) and end["iterated"] == [11, 12]
    assert end["alpha_in_join"] == 2
    # a join starts with no artifacts of its own: base is only there after merge_artifacts
    assert end["had_base"] is False
    assert end["error"] == (
        "step 'join': artifact 'base' does not exist; artifacts available: alpha, alpha_in_join, "
        "by_index, by_name, count, had_base, iterated (a join starts with no artifacts of its own: "
        "read inputs[i].base, or copy it with self.merge_artifacts(inputs))")
    assert (end["base"], end["shared"]) == (10, "same") and "v" not in end


def test_merge_conflict_fails_the_join_naming_the_artifact(workdir, store):
    cells = JOIN_FLOW[:4] + ["%%step join -> end\nself.merge_artifacts(inputs)", "%%step end"]
    nb = make_notebook(workdir / "conflict.ipynb", cells)
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    assert ("step 'join': merge_artifacts: artifact(s) 'v' differ between inputs and the join does "
            "not assign them") in res.stderr
    assert 'File "conflict.ipynb, cell 5", line 2, in join' in res.stderr


def test_foreach_input_and_index(workdir, store):
    nb = make_notebook(workdir / "fe.ipynb", [
        "%%step start -> body --foreach items\nself.items = ('a', 'b', 'c')",
        "%%step body -> join\nself.out = (self.index, self.input, self.items)",
        ("%%step join -> end\nself.outs = [i.out for i in inputs]\n"
        "self.indexes = [i.index for i in inputs]\nself.inputs_ = [i.input for i in inputs]"),
        "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    end = store.artifacts("FeFlow", run_id_of(res.stdout), "end")
    items = ("a", "b", "c")
    assert end["outs"] == [(0, "a", items), (1, "b", items), (2, "c", items)]
    assert end["indexes"] == [0, 1, 2] and end["inputs_"] == ["a", "b", "c"]


@pytest.mark.parametrize("value, extra, message", [
    ("5", [], "'--foreach xs': self.xs is of type int, which is not iterable"),
    ("[]", [], "'--foreach xs': self.xs is empty"),
    ("list(range(5))", ["--max-num-splits", "4"],
     ("'--foreach xs' would start 5 tasks, more than --max-num-splits 4; raise it with "
     "--max-num-splits 5")),
])
def test_bad_foreach_fails_the_split_step(workdir, store, value, extra, message):
    nb = make_notebook(workdir / "badfe.ipynb", [
        f"%%step start -> body --foreach xs\nself.xs = {value}", "%%step body -> join",
        "%%step join -> end", "%%step end"])
    res = run_nbflow("run", nb, *extra, cwd=workdir)
    assert res.returncode == 1
    assert message in res.stderr
    run_id = run_id_of(res.stdout)
    assert store.tasks("BadfeFlow", run_id, "body") == []
    assert store.run_end("BadfeFlow", run_id)["successful"] is False


def test_foreach_over_an_iterable_that_is_not_a_sequence(workdir, store):
    nb = make_notebook(workdir / "gen.ipynb", [
        "%%step start -> body --foreach xs\nself.xs = {'b': 2, 'a': 1}.keys()",
        "%%step body -> join\nself.v = self.input * 2",
        "%%step join -> end\nself.vs = [i.v for i in inputs]", "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert store.artifacts("GenFlow", run_id_of(res.stdout), "end")["vs"] == ["bb", "aa"]


def test_missing_artifact_lists_the_existing_ones(workdir):
    # a computed name: the lineage check cannot tell, the task says what exists
    nb = make_notebook(workdir / "miss.ipynb", [
        "%%step start -> end\nself.alpha = 1\nself.beta = 2",
        "%%step end\nprint(getattr(self, 'gam' + 'ma'))"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    assert ("step 'end': artifact 'gamma' does not exist; artifacts available: alpha, beta"
            in res.stderr)
    assert 'File "miss.ipynb, cell 2", line 2, in end' in res.stderr


def test_a_read_nobody_produced_stops_the_run_before_it_starts(workdir, store):
    nb = make_notebook(workdir / "typo.ipynb", [
        "%%step start -> end\nself.alpha = 1\nself.beta = 2", "%%step end\nprint(self.alpah)"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    assert ("cell 2, line 2, step 'end': reads self.alpah, but no step before 'end' sets it and "
            "no parameter is named 'alpah'; did you mean self.alpha?") in res.stderr
    assert "Workflow starting" not in res.stdout
    from nbflow.datastore import records
    assert records.list_runs(store.ds, "TypoFlow") == []


def test_unpicklable_artifact_is_named(workdir, store):
    nb = make_notebook(workdir / "unpick.ipynb", [
        "%%step start -> end\nimport threading\nself.fine = 1\nself.lock = threading.Lock()",
        "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    assert ("step 'start', artifact 'lock': cannot be stored: a _thread.lock cannot be pickled"
            in res.stderr)
    rec = store.tasks("UnpickFlow", run_id_of(res.stdout), "start")[0]
    assert rec["successful"] is False and rec["artifacts"] == {}


def test_failure_traceback_points_at_the_cell_lines(workdir, store):
    nb = make_notebook(workdir / "boom.ipynb", [
        "md:# Boom",
        "%%flow BoomFlow\ndef helper(x):\n    return 1 / x",
        "%%step start -> end\nself.a = 1\n\nself.b = helper(0)",
        "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    err = res.stderr
    assert 'File "boom.ipynb, cell 3", line 4, in start\n' in err
    assert "self.b = helper(0)" in err
    assert 'File "boom.ipynb, cell 2", line 3, in helper\n' in err
    assert "ZeroDivisionError: division by zero" in err
    assert "nbflow/" not in err and "task.py" not in err
    run_id = run_id_of(res.stdout)
    rec = store.tasks("BoomFlow", run_id, "start")[0]
    assert rec["exception"]["type"] == "ZeroDivisionError"
    assert 'cell 3", line 4' in rec["exception"]["traceback"]
    assert store.tasks("BoomFlow", run_id, "end") == []
    assert store.run_end("BoomFlow", run_id)["successful"] is False


def test_a_failing_task_starts_no_new_tasks(workdir, store):
    nb = make_notebook(workdir / "stop.ipynb", [
        "%%step start -> body --foreach xs\nself.xs = list(range(6))",
        "%%step body -> join\nif self.index == 1:\n    raise ValueError('split one fails')",
        "%%step join -> end", "%%step end"])
    res = run_nbflow("run", nb, "--max-workers", "1", cwd=workdir)
    assert res.returncode == 1
    run_id = run_id_of(res.stdout)
    bodies = store.tasks("StopFlow", run_id, "body")
    assert [(t["foreach_stack"][-1]["index"], t["successful"]) for t in bodies] == [(0, True),
                                                                                   (1, False)]
    assert store.tasks("StopFlow", run_id, "join") == []
    assert "ValueError: split one fails" in res.stderr
    assert f"Workflow failed: task(s) failed: StopFlow/{run_id}/body/3" in res.stderr


def test_a_failing_branch_stops_the_run(workdir, store):
    nb = make_notebook(workdir / "branchfail.ipynb", [
        "%%step start -> slow, bad", "%%step slow -> join\nimport time\ntime.sleep(2)\nself.v = 1",
        "%%step bad -> join\nraise RuntimeError('bad branch')", "%%step join -> end",
        "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    run_id = run_id_of(res.stdout)
    assert store.tasks("BranchfailFlow", run_id, "join") == []
    assert store.tasks("BranchfailFlow", run_id, "end") == []
    slow = store.tasks("BranchfailFlow", run_id, "slow")
    assert len(slow) == 1   # it finished or was ended: either way it has a record


def test_max_workers_bounds_concurrency(workdir, store):
    """Each task waits (bounded) until it sees a second task running, or until every other
    task is done: with --max-workers 2 the most ever seen running is exactly 2."""
    nb = make_notebook(workdir / "workers.ipynb", [
        "%%step start -> body --foreach xs\nself.xs = list(range(6))",
        ("%%step body -> join\nimport os, time\nd = os.getcwd()\n"
         "mine = os.path.join(d, f'running-{self.index}')\nopen(mine, 'w').close()\n"
         "seen, deadline = 0, time.time() + 60\n"
         "while time.time() < deadline:\n"
         "    names = os.listdir(d)\n"
         "    running = len([f for f in names if f.startswith('running-')])\n"
         "    done = len([f for f in names if f.startswith('done-')])\n"
         "    seen = max(seen, running)\n"
         "    if running >= 2 or done == len(self.xs) - 1:\n"
         "        break\n"
         "    time.sleep(0.02)\n"
         "self.seen = seen\nos.remove(mine)\nopen(os.path.join(d, f'done-{self.index}'), 'w').close()"),
        "%%step join -> end\nself.most = max(i.seen for i in inputs)", "%%step end"])
    res = run_nbflow("run", nb, "--max-workers", "2", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert store.artifacts("WorkersFlow", run_id_of(res.stdout), "end")["most"] == 2


def test_usage_errors(workdir):
    nb = make_notebook(workdir / "u.ipynb", ["%%step start -> end", "%%step end"])
    res = run_nbflow("run", nb, "--max-workers", "0", cwd=workdir)
    assert res.returncode == 2 and "--max-workers must be at least 1, got 0" in res.stderr
    res = run_nbflow("run", workdir / "missing.ipynb", cwd=workdir)
    assert res.returncode == 2 and "does not exist" in res.stderr
    assert flows_in_store(workdir) == []


# -- artifacts: versions, laziness, fork and spawn ------------------------------------

LAZY_FLOW = [
    ("%%flow LazyFlow\n"
    "import os\n"
    "class Tracked:\n"
    "    '''Leaves a file behind each time it is unpickled (= loaded from the store).'''\n"
    "    def __init__(self, name):\n"
    "        self.name = name\n"
    "    def __setstate__(self, state):\n"
    "        self.__dict__.update(state)\n"
    "        open(os.path.join(os.environ['LOAD_LOG'], f'{self.name}-{os.getpid()}'), 'w').close()\n"
    "    def __eq__(self, other):\n"
    "        return self.name == other.name\n"),
    ("%%step start -> middle\nself.items = [1, 2]\nself.read_only = Tracked('read_only')\n"
    "self.never_read = Tracked('never_read')\nself.arr = __import__('numpy').arange(5)"),
    ("%%step middle -> end\nself.items.append(3)\nself.seen = self.read_only.name\n"
    "self.arr[0] = 100"),
    "%%step end",
]


@pytest.mark.parametrize("fork_args", [[], ["--no-fork"]])
def test_inherited_artifacts_versions_and_laziness(workdir, store, fork_args):
    log = workdir / "loads"
    log.mkdir()
    nb = make_notebook(workdir / "lazy.ipynb", LAZY_FLOW)
    res = run_nbflow("run", nb, *fork_args, cwd=workdir, env=cli_env(LOAD_LOG=log))
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    start = store.tasks("LazyFlow", run_id, "start")[0]["artifacts"]
    middle = store.tasks("LazyFlow", run_id, "middle")[0]["artifacts"]
    end = store.tasks("LazyFlow", run_id, "end")[0]["artifacts"]
    assert middle["items"]["key"] != start["items"]["key"]        # changed in place: new version
    assert store.ds.get_object(middle["items"]["key"]) == [1, 2, 3]
    assert store.ds.get_object(middle["arr"]["key"]).tolist() == [100, 1, 2, 3, 4]
    assert store.ds.get_object(start["arr"]["key"]).tolist() == [0, 1, 2, 3, 4]
    assert middle["read_only"] == start["read_only"]               # only read: same version
    assert middle["never_read"] == start["never_read"] == end["never_read"]
    loaded = sorted(p.name.split("-")[0] for p in log.iterdir())
    assert loaded == ["read_only"]   # loaded once, in middle; never_read was never unpickled


def test_fork_and_spawn_give_identical_artifacts(workdir, store):
    nb = make_notebook(workdir / "same.ipynb", [
        "%%flow SameFlow\nimport numpy as np\nimport pandas as pd",
        ("%%step start -> a, b\nself.arr = np.arange(100_000) % 7\n"
        "self.df = pd.DataFrame({'x': np.arange(1000), 'y': ['s'] * 1000})\nself.items = [1, 'x']"),
        "%%step a -> j\nself.v = self.arr.sum()", "%%step b -> j\nself.v = self.df.x.sum()",
        ("%%step j -> f\nself.vs = sorted(int(i.v) for i in inputs)\n"
        "self.merge_artifacts(inputs, exclude=['v'])"),
        "%%step f -> g --foreach items", "%%step g -> h\nself.r = repr(self.input) * 2",
        "%%step h -> end\nself.rs = [i.r for i in inputs]\nself.merge_artifacts(inputs, exclude=['r'])",
        "%%step end"])
    keys = []
    for args in ([], ["--no-fork"]):
        res = run_nbflow("run", nb, *args, cwd=workdir)
        assert res.returncode == 0, res.stderr
        end = store.tasks("SameFlow", run_id_of(res.stdout), "end")[0]["artifacts"]
        keys.append({k: v["key"] for k, v in end.items()})
    assert keys[0] == keys[1]
    assert set(keys[0]) == {"arr", "df", "items", "vs", "rs"}


@pytest.mark.parametrize("flow_cell, message", [
    ("x = Parameter('tag', default=1)", ("parameter 'x' uses the option name '--tag', which `nbflow run` "
                                        "uses itself")),
    ("x = Parameter('x', default=1 / 0)", ("the flow cell's parameter 'x' cannot be created: "
                                          "ZeroDivisionError: division by zero")),
    ("a = Parameter('same')\nb = Parameter('same')", ("parameters 'a' and 'b' both use the option "
                                                     "name 'same'")),
])
def test_bad_parameter_declarations(workdir, flow_cell, message):
    nb = make_notebook(workdir / "decl.ipynb", [f"%%flow DeclFlow\n{flow_cell}",
                                                "%%step start -> end", "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert flows_in_store(workdir) == []


def test_reserved_parameter_names_cover_every_run_option():
    import argparse

    from nbflow.cli.main import build_parser
    from nbflow.notebook.params import RESERVED_OPTIONS

    sub = next(a for a in build_parser()[0]._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("run", "resume"):
        if command not in sub.choices:
            continue
        for action in sub.choices[command]._actions:
            for opt in action.option_strings:
                if opt.startswith("--"):
                    assert opt[2:] in RESERVED_OPTIONS, (command, opt)


def test_parameter_values_in_process():
    from nbflow.errors import ParameterError
    from nbflow.notebook.params import find_parameters, parse_param_args, resolve_values

    params = find_parameters(
        "import math\n"
        "a = Parameter('alpha', default=lambda ctx: ctx.parameter_name.upper())\n"
        "b = Parameter('beta', default=lambda: 5)\n"
        "c = Parameter('gamma', type=int, separator=';', default='1;2')\n"
        "d = Parameter('delta', default=math.pi)\n"   # needs the cell's own names: runs the cell
        "e = Parameter('eps', type=bool, default=True)\n")
    assert [p.option for p in params] == ["alpha", "beta", "gamma", "delta", "eps"]
    assert resolve_values(params, {}, {}) == {"a": "ALPHA", "b": 5, "c": [1, 2], "d": 3.141592653589793,
                                               "e": True}
    given = parse_param_args(["--gamma=3;4", "--eps", "no", "--delta", "2"], params)
    env = {"NBFLOW_RUN_ALPHA": "from-env", "NBFLOW_RUN_DELTA": "9"}
    assert resolve_values(params, given, env) == {"a": "from-env", "b": 5, "c": [3, 4], "d": 2.0,
                                                   "e": False}
    with pytest.raises(ParameterError, match="parameter '--gamma' needs a value"):
        parse_param_args(["--gamma"], params)
    with pytest.raises(ParameterError, match="unexpected argument 'x'"):
        parse_param_args(["x"], params)
    bad = find_parameters("f = Parameter('f', default=lambda: 1 / 0)")
    with pytest.raises(ParameterError, match="parameter 'f': its default function failed: "
                                             "ZeroDivisionError"):
        resolve_values(bad, {}, {})


def test_the_flow_cell_sees_current_while_its_parameters_are_read():
    """`current` is predefined in the flow cell (docs/reference.md section 1), also when the cell runs to find its
    parameters outside any task (Metaflow's `current` exists at module level too)."""
    from nbflow.notebook.params import find_parameters

    params = find_parameters("WHERE = 'task' if current.is_running_flow else 'launcher'\n"
                             "p = Parameter('p', default=WHERE)")
    assert [(p.option, p.param.default) for p in params] == [("p", "launcher")]


def test_store_location(workdir):
    sub = workdir / "project"
    sub.mkdir()
    nb = make_notebook(sub / "where.ipynb", ["%%step start -> end\nself.x = 1", "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    assert (sub / ".nbflow" / "WhereFlow" / run_id / "_end.json").exists()   # beside the notebook
    res = run_nbflow("run", nb, "--datastore", workdir / "elsewhere", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert (workdir / "elsewhere" / "WhereFlow" / run_id_of(res.stdout) / "_end.json").exists()
    env = cli_env(NBFLOW_DATASTORE=f"file://{workdir / 'from_env'}")
    res = run_nbflow("run", nb, cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    assert (workdir / "from_env" / "WhereFlow" / run_id_of(res.stdout) / "_end.json").exists()


def test_merge_artifacts_loads_nothing(workdir, store):
    log = workdir / "loads"
    log.mkdir()
    nb = make_notebook(workdir / "lazyjoin.ipynb", [
        LAZY_FLOW[0].replace("LazyFlow", "LazyJoinFlow"),
        "%%step start -> a, b\nself.big = Tracked('big')",
        "%%step a -> join\nself.v = 1", "%%step b -> join\nself.v = 2",
        ("%%step join -> end\nself.merge_artifacts(inputs, exclude=['v'])\n"
        "self.names = sorted(dir(inputs[0]))"),
        "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir, env=cli_env(LOAD_LOG=log))
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    start = store.tasks("LazyJoinFlow", run_id, "start")[0]["artifacts"]
    end = store.tasks("LazyJoinFlow", run_id, "end")[0]["artifacts"]
    assert end["big"] == start["big"]
    assert store.ds.get_object(end["names"]["key"]) == ["big", "v"]
    assert list(log.iterdir()) == []   # passed on by reference through branches and the join


def test_step_header_after_blank_lines_runs(workdir, store):
    """IPython drops leading blank lines before a cell magic; so does nbflow."""
    nb = make_notebook(workdir / "blank.ipynb", [
        "%%flow BlankLineFlow",
        "\n\n%%step start -> end\nself.x = 1\nraise_here = False",
        "\n%%step end\nself.y = self.x + 1",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert store.artifacts("BlankLineFlow", run_id_of(res.stdout), "end")["y"] == 2
