"""The test bodies of Metaflow's test/core/tests that apply to a notebook flow, each
rewritten for nbflow (same intent and checks; nbflow's names and client). This part:
artifacts, merges, lineage, foreach, catch/retry, exceptions, logs, parameters,
current; bodies_more.py and bodies_client.py hold the rest, bodies_extra.py the latest."""
from __future__ import annotations

from itertools import product

from .harness import GRAPHS, Body, CoreTest, parents

# The shapes beyond Metaflow's (harness.GRAPHS), crossed with the tests that fit them.
NEW_SHAPES = ("foreach_in_branch", "branch_in_foreach")


def every_task(run):
    for step in run:
        for task in step:
            yield step.id, task


def assert_everywhere(run, name: str, value) -> None:
    for step, task in every_task(run):
        got = getattr(task.data, name)
        assert got == value, f"{step}: {name} = {got!r}, expected {value!r}"


# -- basic_artifact: an artifact set in start is seen by every step downstream --------
def _check_basic_artifact(run, graph):
    from helpers import run_nbflow

    assert_everywhere(run, "data", "abc")
    # Metaflow's CliCheck reads artifacts with its `dump` command
    task = run["end"].task
    res = run_nbflow("dump", task.pathspec, "--name", "data", cwd=".")
    assert res.returncode == 0 and "data: str" in res.stdout and "\nabc\n" in res.stdout, res


BASIC_ARTIFACT = CoreTest("basic_artifact", [
    Body(0, ("start",), "self.data = 'abc'"),
    Body(1, ("join",), "seen = {i.data for i in inputs}\nassert_equals({'abc'}, seen)\n"
                       "self.data = seen.pop()"),
    Body(2, ("all",), "pass"),
], _check_basic_artifact)


# -- merge_artifacts: what merges, what conflicts, include/exclude, non-joins ----------
MERGE_JOIN = '''
error = assert_raises(ArtifactError, lambda: self.merge_artifacts(inputs))
assert "manual_merge_required" in str(error), str(error)
assert not hasattr(self, "non_modified_passdown")     # a failed merge sets nothing
assert_raises(ArtifactError, lambda: self.merge_artifacts(
    inputs, exclude=["ignore_me"], include=["non_modified_passdown"]))
assert not hasattr(self, "manual_merge_required")
self.manual_merge_required = current.task_id
self.merge_artifacts(inputs, exclude=["ignore_me"])
assert_equals("a", self.non_modified_passdown)
assert_equals("e", self.modified_to_same_value)
assert_equals(current.task_id, self.manual_merge_required)
assert not hasattr(self, "ignore_me")
'''
MERGE_END = '''
assert_raises(ArtifactError, lambda: self.merge_artifacts([]))
assert_equals("a", self.non_modified_passdown)
assert_equals("e", self.modified_to_same_value)
assert hasattr(self, "manual_merge_required")
'''


def _check_merge(run, graph):
    assert_everywhere(run, "non_modified_passdown", "a")
    assert run["end"].task.data.modified_to_same_value == "e"


MERGE_ARTIFACTS = CoreTest("merge_artifacts", [
    Body(0, ("start",), "self.non_modified_passdown = 'a'\nself.modified_to_same_value = 'b'\n"
                       "self.manual_merge_required = 'c'\nself.ignore_me = 'd'"),
    Body(2, ("linear",), "self.manual_merge_required = current.task_id\n"
                         "self.ignore_me = current.task_id\nself.modified_to_same_value = 'e'\n"
                         "assert_equals('a', self.non_modified_passdown)"),
    Body(0, ("join",), MERGE_JOIN, required=True),
    Body(0, ("end",), MERGE_END),
    Body(3, ("all",), "assert_equals('a', self.non_modified_passdown)"),
], _check_merge)


# -- merge_artifacts_propagation: names set on one split only are merged too ----------
def _check_propagation(run, graph):
    data = run["foreach_join"].task.data
    assert [getattr(data, f"var{i}") for i in range(3)] == [0, 1, 2]


MERGE_PROPAGATION = CoreTest("merge_artifacts_propagation", [
    Body(0, ("start",), "self.non_modified_passdown = 'a'"),
    Body(0, ("foreach-inner-small",), "setattr(self, f'var{self.index}', self.index)",
         required=True),
    Body(0, ("foreach-join-small",), "self.merge_artifacts(inputs)\n"
         "assert_equals('a', self.non_modified_passdown)\n"
         "for i, _ in enumerate(inputs):\n    assert_equals(i, getattr(self, f'var{i}'))",
         required=True),
    Body(1, ("all",), "assert_equals('a', self.non_modified_passdown)"),
], _check_propagation)


# -- lineage: the path of steps each task came through --------------------------------
def expected_lineages(graph: str) -> dict[str, tuple]:
    ins = parents(graph)
    arrived: dict[str, set] = {}
    out: dict[str, tuple] = {}

    def walk(step: str, lineage: tuple) -> None:
        if GRAPHS[graph][step].join:
            arrived.setdefault(step, set()).add(lineage)
            if len(arrived[step]) < len(ins[step]):
                return
            lineage = (tuple(sorted(arrived[step], key=repr)),)
        out[step] = lineage + (step,)
        for target in GRAPHS[graph][step].targets:
            walk(target, lineage + (step,))

    walk("start", ())
    return out


def _check_lineage(run, graph):
    expected = expected_lineages(graph)
    for step, task in every_task(run):
        assert task.data.lineage == expected[step], (step, task.data.lineage)


LINEAGE = CoreTest("lineage", [
    Body(0, ("start",), "self.lineage = (current.step_name,)"),
    Body(1, ("join",), "self.lineage = (tuple(sorted({i.lineage for i in inputs}, key=repr)), "
                       "current.step_name)"),
    Body(2, ("all",), "self.lineage += (current.step_name,)"),
], _check_lineage)


# -- basic_foreach: index and input inside a foreach, the join sees every split -------
def _check_basic_foreach(run, graph):
    assert sorted(t.data.my_input for t in run["foreach_inner_second"]) == list(range(8))
    assert [t.index for t in run["foreach_inner_first"]] == list(range(8))


BASIC_FOREACH = CoreTest("basic_foreach", [
    Body(0, ("foreach-split",), "self.my_index = None\nself.arr = range(8)", required=True),
    Body(0, ("foreach-inner",), "if self.my_index is None:\n    self.my_index = self.index\n"
         "assert_equals(self.my_index, self.index)\n"
         "assert_equals(self.arr[self.index], self.input)\nself.my_input = self.input",
         required=True),
    Body(0, ("foreach-join",), "assert_equals(list(range(8)), "
         "sorted(i.my_input for i in inputs))", required=True),
    Body(1, ("all",), "pass"),
], _check_basic_foreach, graphs=("foreach",))


# -- nested_foreach: foreach_stack() three levels deep ---------------------------------
NESTED_INNER = '''
x, y, z = self.foreach_stack()
for frame, items in ((x, self.x), (y, self.y), (z, self.z)):
    assert_equals(len(items), frame[1])
    assert_equals(items[frame[0]], frame[2])
self.combo = x[2] + y[2] + z[2]
'''


def _check_nested(run, graph):
    got = sorted(t.data.combo for t in run["foreach_inner"])
    assert got == sorted("".join(p) for p in product("abc", "de", "fghijk"))


NESTED_FOREACH = CoreTest("nested_foreach", [
    Body(0, ("foreach-nested-inner",), NESTED_INNER, required=True),
    Body(1, ("all",), "pass"),
], _check_nested, graphs=("nested_foreach",))


# -- catch_retry: retries as new attempts, --catch keeps the error --------------------
CATCH_START = '''
import sys
self.test_attempt = current.retry_count
print(f"stdout testing logs {self.test_attempt}")
print(f"stderr testing logs {self.test_attempt}", file=sys.stderr)
if self.test_attempt < 3:
    self.invisible = True
    raise TestRetry()
'''


def _check_catch_retry(run, graph):
    start = run["start"].task
    assert start.data.test_attempt == 3 and start.current_attempt == 3
    assert "invisible" not in start and "stdout testing logs 3" in start.stdout
    assert "stderr testing logs 3" in start.stderr
    end = run["end"].task
    assert end.data.here is True and end.data.test_attempt == 3 and end.exception is None
    assert end.data.end_ex.type == "KeyError" and "catch me!" in end.data.end_ex.message
    assert end.caught and not end.successful and not run.successful
    for step in run:
        node = GRAPHS[graph][step.id]
        for task in step:
            if node.foreach:
                assert task.data.this_is_split is True and task.current_attempt == 2
            elif step.id not in ("start", "end") and not node.join:
                assert task.data.ex.type == "TestRetry" and task.data.retry_with_catch == 2
                # a soft failure is caught in its last try: 1 + 2 retries, no extra
                # attempt (Metaflow's count; a killed try needs one: tag_catch)
                assert task.current_attempt == 2, (task.pathspec, task.current_attempt)


CATCH_RETRY = CoreTest("catch_retry", [
    Body(0, ("start",), CATCH_START, options="--retry 3"),
    Body(0, ("foreach-split",), "if current.retry_count == 2:\n    self.this_is_split = True\n"
         "else:\n    raise TestRetry()", options="--retry 2"),
    Body(0, ("join",), "if current.retry_count == 2:\n"
         "    self.test_attempt = inputs[0].test_attempt\nelse:\n    raise TestRetry()",
         options="--retry 2"),
    Body(0, ("end",), "assert_equals(3, self.test_attempt)\nself.here = True\n"
         "raise KeyError('catch me!')", options="--catch end_ex", required=True),
    Body(1, ("all",), "self.retry_with_catch = current.retry_count\nraise TestRetry()",
         options="--catch ex --retry 2"),
], _check_catch_retry, graphs=("branch", "small_foreach", *NEW_SHAPES))


# -- task_exception: a failed task keeps its exception --------------------------------
def _check_task_exception(run, graph):
    assert not run.successful
    [task] = list(run["end"])
    assert task.exception.type == "KeyError"
    assert "Something has gone wrong" in task.exception.message


TASK_EXCEPTION = CoreTest("task_exception", [
    Body(0, ("singleton-end",), "raise KeyError('Something has gone wrong')", required=True),
    Body(2, ("all",), "pass"),
], _check_task_exception, should_fail=True, graphs=("branch", "small_foreach"))


# -- basic_log: what a step prints is its task's stdout/stderr -------------------------
LOG_BODY = '''
import sys
sys.stdout.write("stdout: A regular message.\\n")
sys.stdout.write("stdout: A message with unicode: \\u5e74\\n")
sys.stderr.write("stderr: A regular message.\\n")
sys.stderr.write("stderr: A message with unicode: \\u5e74\\n")
'''


def _check_log(run, graph):
    for step, task in every_task(run):
        if step not in ("start", "end") and not GRAPHS[graph][step].inside_foreach:
            assert "stdout: A regular message.\nstdout: A message with unicode: \u5e74\n" \
                in task.stdout, (step, task.stdout)
            assert "stderr: A message with unicode: \u5e74\n" in task.stderr, step
    # Metaflow's CliCheck reads the same logs through its `logs` command
    from helpers import run_nbflow

    task = next(t for s, t in every_task(run) if s not in ("start", "end"))
    for stream, text in (("--stdout", task.stdout), ("--stderr", task.stderr)):
        res = run_nbflow("logs", task.pathspec, stream, cwd=".")
        assert res.returncode == 0, res.stderr
        assert "A message with unicode: \u5e74\n" in res.stdout + res.stderr, (stream, res)
        assert text in res.stdout + res.stderr, (stream, res)


BASIC_LOG = CoreTest("basic_log", [
    Body(0, ("singleton",), LOG_BODY, required=True),
    Body(1, ("all",), "pass"),
], _check_log, graphs=("branch", "foreach", *NEW_SHAPES))


# -- basic_parameters: parameter kinds, values from the environment, immutability -----
PARAMS = '''
no_default_param = Parameter("no_default_param", default=None)
bool_param = Parameter("bool_param", default=True)
bool_true_param = Parameter("bool_true_param", default=True)
int_param = Parameter("int_param", default=123)
str_param = Parameter("str_param", default="foobar")
list_param = Parameter("list_param", separator=",", default="a,b,c")
json_param = Parameter("json_param", type=JSONType, default='{"a": [1,2,3]}')
'''
PARAM_BODY = '''
assert_equals("test_str", self.no_default_param)
assert_equals(False, self.bool_param)
assert_equals(True, self.bool_true_param)
assert_equals(123, self.int_param)
assert_equals("foobar", self.str_param)
assert_equals(["a", "b", "c"], self.list_param)
assert_equals({"a": [1, 2, 3]}, self.json_param)
assert_raises(AttributeError, lambda: setattr(self, "int_param", 5))
'''


def _check_params(run, graph):
    for name, value in (("no_default_param", "test_str"), ("bool_param", False),
                        ("int_param", 123), ("list_param", ["a", "b", "c"]),
                        ("json_param", {"a": [1, 2, 3]})):
        assert_everywhere(run, name, value)


BASIC_PARAMETERS = CoreTest("basic_parameters", [Body(0, ("all",), PARAM_BODY)], _check_params,
                            module_code=PARAMS, graphs=("branch", "small_foreach"),
                            env={"NBFLOW_RUN_NO_DEFAULT_PARAM": "test_str",
                                 "NBFLOW_RUN_BOOL_PARAM": "False"})


# -- current_singleton: `current` in every task, checked through the client ------------
CURRENT_FIELDS = '''
self.step_name = current.step_name
self.uuid = str(uuid4())
self.task_data[current.pathspec] = self.uuid
for field in ("flow_name", "run_id", "origin_run_id", "namespace", "username"):
    getattr(self, field + "s").add(getattr(current, field))
self.tags.update(current.tags)
'''
CURRENT_START = '''
from uuid import uuid4
self.task_data = {}
self.tags = set()
for field in ("flow_name", "run_id", "origin_run_id", "namespace", "username"):
    setattr(self, field + "s", set())
''' + CURRENT_FIELDS
CURRENT_JOIN = '''
from uuid import uuid4
self.task_data = {}
for i in inputs:
    self.task_data.update(i.task_data)
self.tags = set().union(*(i.tags for i in inputs))
for field in ("flow_name", "run_id", "origin_run_id", "namespace", "username"):
    setattr(self, field + "s", set().union(*(getattr(i, field + "s") for i in inputs)))
''' + CURRENT_FIELDS


def _check_current(run, graph):
    from nbflow import Task

    data = run.data
    for pathspec, uuid in data.task_data.items():
        assert Task(pathspec).data.uuid == uuid
    for step, task in every_task(run):
        assert task.data.step_name == step
        assert task.data.uuid == data.task_data[task.pathspec]
    assert data.flow_names == {run.path_components[0]} and data.run_ids == {run.id}
    assert data.origin_run_ids == {None} and data.namespaces == {"user:tester"}
    assert data.usernames == {"tester"}
    assert data.tags == {"\u523a\u8eab means sashimi", "multiple tags should be ok"}


CURRENT_SINGLETON = CoreTest("current_singleton", [
    Body(0, ("start",), CURRENT_START),
    Body(1, ("join",), CURRENT_JOIN),
    Body(2, ("all",), "from uuid import uuid4\n" + CURRENT_FIELDS),
], _check_current, graphs=("branch", "small_foreach", *NEW_SHAPES),
    run_args=("--tag", "\u523a\u8eab means sashimi", "--tag", "multiple tags should be ok"))


ALL = [BASIC_ARTIFACT, MERGE_ARTIFACTS, MERGE_PROPAGATION, LINEAGE, BASIC_FOREACH,
       NESTED_FOREACH, CATCH_RETRY, TASK_EXCEPTION, BASIC_LOG, BASIC_PARAMETERS,
       CURRENT_SINGLETON]
