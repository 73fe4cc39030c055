"""More of Metaflow's core test bodies (see bodies.py): the client's view of a run
(runtime_dag, origin pathspecs, tags through resume and catch, list_runs), flow-cell
constants, @project, large artifacts, merge conflicts."""
from __future__ import annotations

import os

from .bodies import CATCH_RETRY, NEW_SHAPES, assert_everywhere, every_task
from .harness import GRAPHS, Body, CoreTest, parents

# -- runtime_dag (client_parent_tasks, client_child_tasks, client_ancestors, ...) ------
# Every task notes its own pathspec and the pathspecs it started from; the client's
# parent_tasks / child_tasks (and parent_steps / child_steps) must agree.
DAG_START = "self.step_name = current.step_name\nself.task_pathspec = current.pathspec\n" \
            "self.parent_pathspecs = set()"
# The running task sees itself through the client too (as in Metaflow): its parents, and
# that it has not finished.
DAG_SELF = "\nfrom nbflow import Task\nme = Task(current.pathspec)\n" \
           "assert_equals(self.parent_pathspecs, {t.pathspec for t in me.parent_tasks})\n" \
           "assert not me.finished and me.parent.parent.id == current.run_id"
DAG_JOIN = "self.step_name = current.step_name\n" \
           "self.parent_pathspecs = {i.task_pathspec for i in inputs}\n" \
           "self.task_pathspec = current.pathspec" + DAG_SELF
DAG_ALL = "self.step_name = current.step_name\n" \
          "self.parent_pathspecs = {self.task_pathspec}\n" \
          "self.task_pathspec = current.pathspec" + DAG_SELF
SAME_TASK = ("pathspec", "id", "index", "successful", "finished", "created_at", "finished_at",
             "current_attempt", "origin_pathspec", "tags")


def _same_task(got, expected) -> None:
    for name in SAME_TASK:
        assert getattr(got, name) == getattr(expected, name), (name, got, expected)


def _check_runtime_dag(run, graph):
    from nbflow import Task

    ins = parents(graph)
    assert run.parent.id == run.path_components[0] and run.parent.parent is None
    for step in run:
        assert step.parent == run
        assert [s.id for s in step.parent_steps] == ins[step.id]
        assert [s.id for s in step.child_steps] == list(GRAPHS[graph][step.id].targets)
        for task in step:
            assert task.parent == step and task.data.task_pathspec == task.pathspec
            assert task["step_name"].parent == task
            expected = task.data.parent_pathspecs
            got = list(task.parent_tasks)
            assert {t.pathspec for t in got} == expected, (task.pathspec, got, expected)
            assert set(task.parent_task_pathspecs) == expected
            for parent in got:
                _same_task(parent, Task(parent.pathspec))
            children = list(task.child_tasks)
            want = {c.pathspec for s in step.child_steps for c in s
                    if task.pathspec in c.data.parent_pathspecs}
            assert {c.pathspec for c in children} == want, (task.pathspec, children, want)
            assert set(task.child_task_pathspecs) == want
            assert bool(want) == (step.id != "end")
            for child in children:
                _same_task(child, Task(child.pathspec))


RUNTIME_DAG = CoreTest("runtime_dag", [
    Body(0, ("start",), DAG_START),
    Body(1, ("join",), DAG_JOIN),
    Body(2, ("all",), DAG_ALL),
], _check_runtime_dag)


# -- resume_originpath: Run/Step/Task.origin_pathspec after a resume -------------------
def _check_originpath(run, graph):
    start = run["start"]
    origin = start.task.data.origin_pathspec        # current.pathspec in the origin run
    assert origin.split("/")[1] != run.id
    assert start.task.origin_pathspec == origin
    assert start.origin_pathspec == origin.rsplit("/", 1)[0]
    assert run.origin_pathspec == "/".join(origin.split("/")[:2])
    assert run["end"].task.origin_pathspec is None          # ran again: nothing reused


RESUME_ORIGINPATH = CoreTest("resume_originpath", [
    Body(0, ("start",), "self.origin_pathspec = current.pathspec\nself.data = 'start'"),
    Body(0, ("singleton-end",), "if not is_resumed():\n    raise ResumeFromHere()",
         required=True),
    Body(2, ("all",), "pass"),
], _check_originpath, resume=True, graphs=("branch", "small_foreach", *NEW_SHAPES),
    module_code='int_param = Parameter("int_param", default=123)')


# -- resume_tag_propagation: tags added to the origin run go on to the resumed run ------
TAG_ONCE = '''
if not is_resumed():
    from nbflow import Task
    Task(current.pathspec).parent.parent.add_tags(["propagated-tag"])   # Metaflow's way
    raise ResumeFromHere()
self.resumed = True
assert "propagated-tag" in current.tags, current.tags
'''


def _check_tag_propagation(run, graph):
    assert run.origin_run_id is not None
    assert "propagated-tag" in run.user_tags and "given-tag" in run.user_tags
    assert "propagated-tag" in run.parent[run.origin_run_id].user_tags


RESUME_TAG_PROPAGATION = CoreTest("resume_tag_propagation", [
    Body(0, ("singleton-start",), TAG_ONCE, required=True),
    Body(2, ("all",), "pass"),
], _check_tag_propagation, resume=True, graphs=("branch",), run_args=("--tag", "given-tag"))


# -- tag_catch: retries, then --catch, around a task that kills itself ----------------
TAG_CATCH_END = '''
class ExternalCommandFailed(Exception):
    """Hard to pickle on purpose: its constructor takes two arguments."""
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code

assert_equals(3, self.test_attempt)
self.here = True
raise ExternalCommandFailed("catch me!", 7)
'''


def _check_tag_catch(run, graph):
    from nbflow import Task

    start = run["start"].task
    assert "stdout testing logs 3\n" in start.stdout and "stderr testing logs 3\n" in start.stderr
    assert start.data.test_attempt == 3 and "invisible" not in start.data
    end = run["end"].task
    assert end.data.here is True and end.data.test_attempt == 3 and end.exception is None
    assert end.data.end_ex.type == "ExternalCommandFailed"
    assert end.data.end_ex.message == "catch me!"
    # the end step's error was caught: the run went on to its end but, as in Metaflow (a
    # run is as successful as its end task), is not successful
    assert end.caught and not end.successful and not run.successful and run.finished
    for step in run:
        node = GRAPHS[graph][step.id]
        for task in step:
            if step.id == "end":
                continue
            # start: 1 try + 3 retries; --catch steps: 1 + 2 retries + the fallback attempt
            # that stores the error (as Metaflow counts them); split and join: 1 + 2 retries
            tries = 3 if node.foreach or node.join else 4
            assert task.current_attempt == tries - 1, (task.pathspec, task.current_attempt)
            for attempt in range(tries - 1):          # every earlier try is kept, failed
                assert not Task(task.pathspec, attempt).successful
            if node.foreach:
                assert task.data.this_is_split is True
            elif step.id not in ("start", "end") and not node.join:
                assert task.data.ex is not None and "kill" in task.data.ex.message.lower(), \
                    task.data.ex.message
                assert not task.successful and task.caught     # Metaflow: not successful


TAG_CATCH = CoreTest("tag_catch", [
    CATCH_RETRY.bodies[0], CATCH_RETRY.bodies[1], CATCH_RETRY.bodies[2],
    Body(0, ("end",), TAG_CATCH_END, options="--catch end_ex", required=True),
    Body(1, ("all",), "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
         options="--catch ex --retry 2"),
], _check_tag_catch, graphs=("branch", "small_foreach", *NEW_SHAPES))


# -- list_runs: `nbflow runs FLOW` lists the run ---------------------------------------
LIST_RUNS = CoreTest("list_runs", [Body(1, ("all",), "self.flow_run_id = current.run_id")],
                     lambda run, graph: _check_list_runs(run), graphs=("branch",))


def _check_list_runs(run):
    from helpers import run_nbflow

    flow = run.path_components[0]
    assert run.data.flow_run_id == run.id
    res = run_nbflow("runs", flow, cwd=".")
    assert res.returncode == 0, res.stdout + res.stderr
    assert run.id in res.stdout and "successful" in res.stdout.lower(), res.stdout


# -- constants: module constants of the flow cell are names, not parameters ------------
CONSTANTS = '''
str_const = "this is a constant"
int_const = 123
obj_const = []
int_param = Parameter("int_param", default=456)
str_param = Parameter("str_param", default="foobar")
'''
CONSTANTS_BODY = '''
assert_equals("this is a constant", str_const)
assert_equals(123, int_const)
assert_equals([], obj_const)
assert_equals(456, self.int_param)
assert_equals("foobar", self.str_param)
assert_equals({"int_param", "str_param"}, set(current.parameter_names))
assert not hasattr(self, "int_const")
assert_raises(AttributeError, lambda: setattr(self, "int_param", 5))
'''


def _check_constants(run, graph):
    assert_everywhere(run, "int_param", 456)
    for _, task in every_task(run):
        assert "int_const" not in task.data and "str_const" not in task


CONSTANTS_TEST = CoreTest("constants", [Body(0, ("all",), CONSTANTS_BODY)], _check_constants,
                          module_code=CONSTANTS, graphs=("branch", "small_foreach"))


ALL = [RUNTIME_DAG, RESUME_ORIGINPATH, RESUME_TAG_PROPAGATION, TAG_CATCH, LIST_RUNS,
        CONSTANTS_TEST]


# -- project_branch: a --project run on the user's branch (Metaflow's @project default) --
PROJECT_BODY = '''
assert_equals("project_branch", current.project_name)
assert_equals("user.tester", current.branch_name)
assert_equals(f"project_branch.user.tester.{current.flow_name}", current.project_flow_name)
assert_equals((True, False), (current.is_user_branch, current.is_production))
'''


def _check_project(run, graph):
    from nbflow import Flow

    for tag in ("project:project_branch", "project_branch:user.tester"):
        assert tag in run.system_tags and tag not in run.user_tags, run.tags
    flow = Flow(run.path_components[0])
    assert [r.id for r in flow.runs("project:project_branch")] == [run.id]
    assert list(flow.runs("project:another")) == []


PROJECT_BRANCH = CoreTest("project_branch", [Body(0, ("all",), PROJECT_BODY)], _check_project,
                          graphs=("branch", "small_foreach"),
                          flow_options="--project project_branch")

ALL.append(PROJECT_BRANCH)


# -- large_artifact: an artifact over 4 GiB (pickle protocol 4+, 32-bit lengths) -------
# Opt-in (about 10 GB of memory at its peak): NBFLOW_TEST_LARGE_ARTIFACT=<GiB>, 4.1 as
# in Metaflow's test.
LARGE_GIB = os.environ.get("NBFLOW_TEST_LARGE_ARTIFACT") or "4.1"
LARGE = f"b'x' * int({LARGE_GIB} * 1024**3)"


def _check_large(run, graph):
    end = run["end"].task
    assert end["large"].size >= int(float(LARGE_GIB) * 1024**3)
    value = end.data.large
    assert len(value) == int(float(LARGE_GIB) * 1024**3) and value == eval(LARGE)


LARGE_ARTIFACT = CoreTest("large_artifact", [
    Body(0, ("end",), f"assert self.large == {LARGE}, 'the large artifact came back changed'"),
    Body(0, ("singleton",), f"self.large = {LARGE}\nself.noop = False", required=True),
    Body(1, ("all",), "pass"),
], _check_large, graphs=("small_foreach",), opt_in="NBFLOW_TEST_LARGE_ARTIFACT",
    env={"NBFLOW_ARTIFACT_WARN": "100 GiB"})

ALL.append(LARGE_ARTIFACT)


# -- merge_artifacts_conflicts (nbflow's, in the spirit of merge_artifacts): what a static
# join sees before and after merging, excluding a conflict and a name no input has, an
# artifact only one branch set, merging twice; also compared with real Metaflow.
CONFLICT_JOIN = '''
def outcome(fn):   # the error's class differs (Metaflow's own): its message must name it
    try:
        fn()
        return "ok"
    except Exception as e:
        return "error naming it" if "conflicting" in str(e) else f"error: {e}"
self.before_x = hasattr(self, "conflicting")
self.by_name = inputs.a.conflicting
self.r_exclude_missing = outcome(lambda: self.merge_artifacts(inputs, exclude=["conflicting", "nonexistent"]))
self.after_same = getattr(self, "same", "missing")
self.after_x = getattr(self, "conflicting", "missing")
self.r_conflict = outcome(lambda: self.merge_artifacts(inputs))
self.r_again = outcome(lambda: self.merge_artifacts(inputs, exclude=["conflicting"]))
'''


def _check_conflicts(run, graph):
    data = run["join"].task.data
    got = {name: getattr(data, name) for name in ("before_x", "by_name", "r_exclude_missing",
                                                 "after_same", "after_x", "only_a", "r_again")}
    assert got == {"before_x": False, "by_name": "a", "r_exclude_missing": "ok",
                   "after_same": "s", "after_x": "missing", "only_a": 1, "r_again": "ok"}, got
    assert data.r_conflict == "error naming it" and "conflicting" not in data


MERGE_CONFLICTS = CoreTest("merge_artifacts_conflicts", [
    Body(0, ("start",), "self.same = 's'\nself.conflicting = 0"),
    Body(0, ("single-branch-split",), "self.conflicting = current.step_name\n"
         "if current.step_name == 'a':\n    self.only_a = 1"),
    Body(0, ("join",), CONFLICT_JOIN, required=True),
    Body(1, ("all",), "pass"),
], _check_conflicts, graphs=("branch",))

ALL.append(MERGE_CONFLICTS)
