"""The test bodies of Metaflow's test/core/tests that apply to a notebook flow, each
rewritten for nbflow (same intent and checks; nbflow's names and client)."""
from __future__ import annotations

import os
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


# -- resume_foreach_join / resume_end_step: resume reruns from the failed step --------
RESUME_HERE = '''
self.after = True
if is_resumed():
    self.data = "resume"
else:
    self.data = "run"
    raise ResumeFromHere()
'''
RESUME_JOIN = RESUME_HERE + "self.var = sorted(v for i in inputs for v in i.var)"


def _check_resume_join(run, graph):
    assert run.origin_run_id is not None
    assert run["start"].task.data.data == "start"
    assert run["start"].task.origin_pathspec is not None     # reused from the failed run
    assert run["end"].task.data.data == "resume"


RESUME_FOREACH_JOIN = CoreTest("resume_foreach_join", [
    Body(0, ("start",), "self.data = 'start'\nself.after = False"),
    Body(0, ("foreach-split",), "assert_equals('resume' if self.after else 'start', "
         "self.data)", required=True),
    Body(0, ("foreach-inner",), "self.var = [str(f[2]) for f in self.foreach_stack()]",
         required=True),
    Body(0, ("join",), RESUME_JOIN, required=True),
    Body(2, ("all",), "assert_equals('resume' if self.after else 'start', self.data)"),
], _check_resume_join, resume=True, graphs=("foreach", "nested_foreach", "branch_in_foreach"))

RESUME_END = '''
if is_resumed():
    self.data = "foo"
else:
    self.data = "bar"
    raise ResumeFromHere()
'''


def _check_resume_end(run, graph):
    assert run["end"].task.data.data == "foo"
    for step in run:
        if step.id != "end":
            for task in step:
                assert task.data.data == "start" and task.origin_pathspec is not None


RESUME_END_STEP = CoreTest("resume_end_step", [
    Body(0, ("start",), "self.data = 'start'"),
    Body(0, ("end",), RESUME_END, required=True),
    Body(1, ("join",), "self.data = inputs[0].data"),
    Body(2, ("all",), "pass"),
], _check_resume_end, resume=True, graphs=("branch", "small_foreach", *NEW_SHAPES))


# -- merge_artifacts_include: include= merges only what is named ----------------------
INCLUDE_JOIN = '''
self.manual_merge_required = current.task_id
error = assert_raises(ArtifactError, lambda: self.merge_artifacts(
    inputs, include=["manual_merge_required", "foobar"]))
assert "foobar" in str(error), str(error)
assert not hasattr(self, "non_modified_passdown")
self.merge_artifacts(inputs, include=["non_modified_passdown"])
assert_equals("a", self.non_modified_passdown)
assert_equals(current.task_id, self.manual_merge_required)
assert not hasattr(self, "ignore_me") and not hasattr(self, "modified_to_same_value")
'''


def _check_merge_include(run, graph):
    assert_everywhere(run, "non_modified_passdown", "a")
    assert "ignore_me" not in run["end"].task


MERGE_INCLUDE = CoreTest("merge_artifacts_include", [
    MERGE_ARTIFACTS.bodies[0], MERGE_ARTIFACTS.bodies[1],
    Body(0, ("join",), INCLUDE_JOIN, required=True),
    Body(0, ("end",), "assert_equals('a', self.non_modified_passdown)\n"
                      "assert hasattr(self, 'manual_merge_required')"),
    MERGE_ARTIFACTS.bodies[4],
], _check_merge_include, graphs=("branch", "foreach", *NEW_SHAPES))


# -- basic_include: IncludeFile text, encodings, binary, from the environment ----------
INCLUDES = '''
myfile_txt = IncludeFile("myfile_txt", default="./reg.txt")
myfile_utf8 = IncludeFile("myfile_utf8", default="./utf8.txt", encoding="utf8")
myfile_binary = IncludeFile("myfile_binary", default="./utf8.txt", is_text=False)
myfile_overriden = IncludeFile("myfile_overriden", default="./reg.txt")
absent_file = IncludeFile("absent_file", required=False)
'''
INCLUDE_BODY = '''
assert_equals("Regular Text File", self.myfile_txt)
assert_equals("UTF Text File \\u5e74", self.myfile_utf8)
assert_equals("UTF Text File \\u5e74".encode("utf8"), self.myfile_binary)
assert_equals("Override Text File", self.myfile_overriden)
assert_equals(None, self.absent_file)
assert_raises(AttributeError, lambda: setattr(self, "myfile_txt", 5))
'''


def _check_include(run, graph):
    assert_everywhere(run, "myfile_txt", "Regular Text File")
    assert_everywhere(run, "myfile_binary", "UTF Text File \u5e74".encode())
    assert run["end"].task.data.myfile_overriden == "Override Text File"


BASIC_INCLUDE = CoreTest("basic_include", [Body(0, ("all",), INCLUDE_BODY)], _check_include,
                         module_code=INCLUDES, graphs=("branch", "small_foreach"),
                         env={"NBFLOW_RUN_MYFILE_OVERRIDEN": "./override.txt"},
                         files={"reg.txt": "Regular Text File",
                                "utf8.txt": "UTF Text File \u5e74",
                                "override.txt": "Override Text File"})


# -- foreach_join_order: a foreach join sees its inputs in foreach order ---------------
def _check_join_order(run, graph):
    assert [t.data.my_input for t in run["foreach_inner_second"]] == [5, 3, 1, 4, 2, 6]


FOREACH_JOIN_ORDER = CoreTest("foreach_join_order", [
    Body(0, ("foreach-split",), "self.arr = [5, 3, 1, 4, 2, 6]", required=True),
    Body(0, ("foreach-inner",), "self.my_input = self.input", required=True),
    Body(0, ("foreach-join",), "assert_equals(list(range(len(inputs))), "
         "[i.index for i in inputs])\nassert_equals(list(inputs[0].arr), "
         "[i.my_input for i in inputs])", required=True),
    Body(1, ("all",), "pass"),
], _check_join_order, graphs=("foreach",))


# -- resume_foreach_inner: resuming inside a foreach reruns the splits -----------------
RESUME_INNER = RESUME_HERE + 'self.var = ["".join(str(f[2]) for f in self.foreach_stack())]'
RESUME_INNER_JOIN = '''
self.var = sorted(v for i in inputs for v in i.var)
self.data = inputs[0].data
self.after = inputs[0].after
assert_equals("resume" if self.after else "start", self.data)
'''


def _check_resume_inner(run, graph):
    assert run["start"].task.data.data == "start" and run["end"].task.data.data == "resume"
    assert run["end"].task.data.var == ["1", "2", "3"]


RESUME_FOREACH_INNER = CoreTest("resume_foreach_inner", [
    *RESUME_FOREACH_JOIN.bodies[:2],      # start, and the split's check
    Body(0, ("foreach-inner-small",), RESUME_INNER, required=True),
    Body(0, ("join",), RESUME_INNER_JOIN, required=True),
    RESUME_FOREACH_JOIN.bodies[4],        # every other step's check
], _check_resume_inner, resume=True, graphs=("small_foreach",))


# -- basic_tags / tag_mutation: tags on every object, filters, changes -----------------
TAGS = ("\u523a\u8eab means sashimi", "multiple tags should be ok")
TAG_STEP = '''
from nbflow import Run, get_namespace
assert_equals("user:tester", get_namespace())
run = Run(f"{current.flow_name}/{current.run_id}")
for i in range(3):   # foreach splits tag the run at once: each its own tags
    mine = f"{current.step_name}-{current.task_id}-{i}"
    run.add_tag(mine)
    assert mine in run.user_tags
    run.remove_tag(mine)
    assert mine not in run.user_tags
'''


def _check_tags(run, graph):
    from nbflow import Flow
    from nbflow.datastore.tags import TaggingError

    tags = (*TAGS, "user:tester")
    flow = Flow(run.path_components[0])
    assert all(t in run.tags for t in tags) and flow.tags == frozenset()
    assert list(flow.runs("not_a_tag")) == [] and list(flow.runs("not_a_tag", TAGS[0])) == []
    assert {s.id for s in run.steps(*tags)} == set(GRAPHS[graph])
    for step in run:
        assert all(t in step.tags for t in tags) and list(step.tasks("not_a_tag")) == []
        assert [t.id for t in step] == [t.id for t in step.tasks(TAGS[0])]
        for task in step.tasks(*tags):
            assert all(t in task.tags for t in tags)
            assert all(all(t in a.tags for t in tags) for a in task)
    assert run.user_tags == set(TAGS)                 # the steps' changes all undone
    run.add_tags(["tag_along"])
    for bad in ("", "a" * 600, 4, b"bytes", "user:tester"):
        for change in (run.add_tag, run.remove_tag):
            try:
                change(bad)
            except TaggingError:
                pass
            else:
                raise AssertionError(f"tag {bad!r} was accepted")
    run.add_tags(["AAA", "BBB"])
    run.replace_tags(["AAA", "BBB"], ["BBB", "CCC"])
    assert run.user_tags == {*TAGS, "tag_along", "BBB", "CCC"}
    try:
        run.replace_tags([], [])
    except TaggingError:
        pass
    else:
        raise AssertionError("an empty change was accepted")
    assert run.end_task.tags == run.tags


BASIC_TAGS = CoreTest("basic_tags", [Body(0, ("all",), TAG_STEP)], _check_tags,
                      graphs=("branch", "small_foreach"),
                      run_args=("--tag", TAGS[0], "--tag", TAGS[1]))


# -- param_names / dynamic_parameters: current.parameter_names, functions as defaults --
DYNAMIC = '''
def str_func(ctx):
    import os
    assert ctx.parameter_name == "str_param"
    assert ctx.flow_name == "DynamicParametersBranchFlow"
    assert ctx.user_name == "tester"
    if os.path.exists("str_func.only_once"):
        raise Exception("dynamic parameter function invoked more than once")
    with open("str_func.only_once", "w") as f:
        f.write("foo")
    return "does this work?"

def json_func(ctx):
    import json
    return json.dumps({"a": [8]})

str_param = Parameter("str_param", default=str_func)
json_param = Parameter("json_param", default=json_func, type=JSONType)
nondefault_param = Parameter("nondefault_param", default=lambda _: True, type=bool)
'''


def _check_dynamic(run, graph):
    assert_everywhere(run, "str_param", "does this work?")
    assert_everywhere(run, "json_param", {"a": [8]})
    assert_everywhere(run, "nondefault_param", False)


DYNAMIC_PARAMETERS = CoreTest("dynamic_parameters", [
    Body(0, ("singleton",), "assert_equals('does this work?', self.str_param)\n"
         "assert_equals(False, self.nondefault_param)\n"
         "assert_equals({'a': [8]}, self.json_param)\n"
         "assert_equals(['json_param', 'nondefault_param', 'str_param'], "
         "current.parameter_names)", required=True),
    Body(1, ("all",), "pass"),
], _check_dynamic, module_code=DYNAMIC, graphs=("branch",),
    env={"NBFLOW_RUN_NONDEFAULT_PARAM": "False"})


# -- nonmonotonic_foreach: inputs in foreach order whatever the values -----------------
NONMONOTONIC_FOREACH = CoreTest("nonmonotonic_foreach", [
    Body(0, ("foreach-split",), "self.arr = [5, 3, 1, 4, 2, 6]", required=True),
    Body(0, ("foreach-inner-small",), "assert_equals(self.arr[self.index], self.input)\n"
         "self.my_input = self.input", required=True),
    Body(0, ("foreach-join-small",), "for i, inp in enumerate(inputs):\n"
         "    assert_equals(i, inp.index)\n"
         "assert_equals([5, 3, 1, 4, 2, 6], [i.my_input for i in inputs])", required=True),
    Body(1, ("all",), "pass"),
], lambda run, graph: None, graphs=("small_foreach",))


# -- resume_succeeded_step: resume from a step that succeeded --------------------------
def _check_resume_succeeded(run, graph):
    assert run["start"].task.data.data == "start"       # reused
    assert run["a"].task.data.data == "test_r"          # rerun: the named step
    assert run["end"].task.data.data == "end_r"


RESUME_SUCCEEDED_STEP = CoreTest("resume_succeeded_step", [
    Body(0, ("start",), "self.data = 'start_r' if is_resumed() else 'start'"),
    Body(0, ("singleton-end",), "if is_resumed():\n    self.data = 'end_r'\nelse:\n"
         "    self.data = 'end'\n    raise ResumeFromHere()", required=True),
    Body(1, ("join",), "self.data = 'test_r' if is_resumed() else 'test'"),
    Body(2, ("all",), "self.data = 'test_r' if is_resumed() else 'test'"),
], _check_resume_succeeded, resume=True, resume_args=("a",), graphs=("branch",))


# -- detect_segfault: a crash keeps the output before it and says what happened --------
def _check_segfault(run, graph):
    task = run["end"].task
    assert "Crash and burn!" in task.stdout
    assert "segmentation fault" in task.exception.message


DETECT_SEGFAULT = CoreTest("detect_segfault", [
    Body(0, ("singleton-end",), "import ctypes\nprint('Crash and burn!')\nctypes.string_at(0)",
         required=True),
    Body(1, ("all",), "pass"),
], _check_segfault, should_fail=True, graphs=("branch",))


# -- resume_start_step / resume_foreach_split: resume from the first step, or a split --
def _check_resume_start(run, graph):
    for step, task in every_task(run):
        assert task.data.data == "resumed" and task.origin_pathspec is None, step


RESUME_START_STEP = CoreTest("resume_start_step", [
    Body(0, ("start",), "if not is_resumed():\n    raise ResumeFromHere()\n"
         "self.data = 'resumed'", required=True),
    Body(1, ("join",), "self.data = inputs[0].data"),
    Body(2, ("all",), "assert_equals('resumed', self.data)"),
], _check_resume_start, resume=True, graphs=("branch", "small_foreach", *NEW_SHAPES))


def _check_resume_split(run, graph):
    assert run["start"].task.origin_pathspec is not None          # reused
    assert [t.data.data for t in run["foreach_inner"]] == ["resumed"] * 3
    assert run["end"].task.data.data == "resumed"


RESUME_FOREACH_SPLIT = CoreTest("resume_foreach_split", [
    Body(0, ("start",), "self.data = 'start'"),
    Body(0, ("foreach-split",), "if not is_resumed():\n    raise ResumeFromHere()\n"
         "self.data = 'resumed'", required=True),
    Body(1, ("join",), "self.data = inputs[0].data"),
    Body(2, ("all",), "pass"),
], _check_resume_split, resume=True, graphs=("small_foreach",))


ALL = [BASIC_ARTIFACT, MERGE_ARTIFACTS, MERGE_PROPAGATION, LINEAGE, BASIC_FOREACH,
       NESTED_FOREACH, CATCH_RETRY, TASK_EXCEPTION, BASIC_LOG, BASIC_PARAMETERS,
       CURRENT_SINGLETON, RESUME_FOREACH_JOIN, RESUME_END_STEP, MERGE_INCLUDE, BASIC_INCLUDE,
       FOREACH_JOIN_ORDER, RESUME_FOREACH_INNER, BASIC_TAGS, DYNAMIC_PARAMETERS,
       NONMONOTONIC_FOREACH, RESUME_SUCCEEDED_STEP, DETECT_SEGFAULT, RESUME_START_STEP,
       RESUME_FOREACH_SPLIT]


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


ALL += [RUNTIME_DAG, RESUME_ORIGINPATH, RESUME_TAG_PROPAGATION, TAG_CATCH, LIST_RUNS,
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
