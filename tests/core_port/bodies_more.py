"""More of Metaflow's core test bodies (see bodies.py): resume, IncludeFile and
merge include=, foreach join order, tags, dynamic parameters, segfaults."""
from __future__ import annotations

from .bodies import MERGE_ARTIFACTS, NEW_SHAPES, assert_everywhere, every_task
from .harness import GRAPHS, Body, CoreTest

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


ALL = [RESUME_FOREACH_JOIN, RESUME_END_STEP, MERGE_INCLUDE, BASIC_INCLUDE,
       FOREACH_JOIN_ORDER, RESUME_FOREACH_INNER, BASIC_TAGS, DYNAMIC_PARAMETERS,
       NONMONOTONIC_FOREACH, RESUME_SUCCEEDED_STEP, DETECT_SEGFAULT, RESUME_START_STEP,
       RESUME_FOREACH_SPLIT]
