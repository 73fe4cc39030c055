"""DAG shapes (after Metaflow's test/core/graphs) crossed with step bodies.

Each shape runs as a real notebook through `nbflow run`; the artifacts reaching `end`
must equal what a small reference interpreter of Metaflow's semantics computes
(every task gets its own copy of its parent's artifacts; a join starts empty and sees
its parents as `inputs`; merge_artifacts copies what agrees). One test checks the
reference itself against the real `metaflow` package on the richest shapes.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap

import pytest
from helpers import make_notebook, read_task_json, run_id_of, run_nbflow

from nbflow.datastore import Datastore, records

# step -> {"next": [...], "foreach": (var, python literal), "join_at": the step closing a split,
#          "silent": a join that does not read `inputs` (its role is inferred by nbflow)}
SHAPES = {
    "linear": {
        "start": {"next": ["a"]}, "a": {"next": ["b"]}, "b": {"next": ["end"]}, "end": {}},
    "branch": {
        "start": {"next": ["a", "b"], "join_at": "join"}, "a": {"next": ["join"]},
        "b": {"next": ["join"]}, "join": {"next": ["end"]}, "end": {}},
    "nested_branches": {
        "start": {"next": ["a", "b", "c"], "join_at": "join"},
        "a": {"next": ["a1", "a2"], "join_at": "ajoin"}, "a1": {"next": ["ajoin"]},
        "a2": {"next": ["a2b"]}, "a2b": {"next": ["ajoin"]}, "ajoin": {"next": ["join"]},
        "b": {"next": ["join"]}, "c": {"next": ["join"]}, "join": {"next": ["end"]}, "end": {}},
    "foreach": {
        "start": {"next": ["split"]},
        "split": {"next": ["inner1"], "foreach": ("arr", "[1, 2, 3]"), "join_at": "fjoin"},
        "inner1": {"next": ["inner2"]}, "inner2": {"next": ["fjoin"]}, "fjoin": {"next": ["end"]},
        "end": {}},
    "nested_foreach": {
        "start": {"next": ["split_x"]},
        "split_x": {"next": ["split_y"], "foreach": ("x", "'abc'"), "join_at": "join_x"},
        "split_y": {"next": ["split_z"], "foreach": ("y", "'de'"), "join_at": "join_y"},
        "split_z": {"next": ["inner"], "foreach": ("z", "'fghijk'"), "join_at": "join_z"},
        "inner": {"next": ["join_z"]}, "join_z": {"next": ["join_y"]},
        "join_y": {"next": ["join_x"]}, "join_x": {"next": ["end"]}, "end": {}},
    "foreach_in_branch": {
        "start": {"next": ["a", "b"], "join_at": "join"},
        "a": {"next": ["f"], "foreach": ("items", "('p', 'q')"), "join_at": "fjoin"},
        "f": {"next": ["fjoin"]}, "fjoin": {"next": ["join"]},
        "b": {"next": ["join"]}, "join": {"next": ["end"]}, "end": {}},
    "branch_in_foreach": {
        "start": {"next": ["s"], "foreach": ("items", "[10, 20]"), "join_at": "fjoin"},
        "s": {"next": ["a", "b"], "join_at": "bjoin"}, "a": {"next": ["bjoin"]},
        "b": {"next": ["bjoin"]}, "bjoin": {"next": ["fjoin"]}, "fjoin": {"next": ["end"]},
        "end": {}},
    "small_foreach": {
        "start": {"next": ["inner"], "foreach": ("arr", "['only']"), "join_at": "fjoin"},
        "inner": {"next": ["fjoin"]}, "fjoin": {"next": ["end"]}, "end": {}},
    "large_fanout": {
        "start": {"next": ["inner"], "foreach": ("arr", "range(40)"), "join_at": "fjoin"},
        "inner": {"next": ["fjoin"]}, "fjoin": {"next": ["end"]}, "end": {}},
    "wide_branch": {
        "start": {"next": [f"b{i}" for i in range(6)], "join_at": "join"},
        **{f"b{i}": {"next": ["join"]} for i in range(6)},
        "join": {"next": ["end"]}, "end": {}},
    "inferred_foreach_joins": {   # no join reads `inputs`: nbflow finds them by position
        "start": {"next": ["split_x"]},
        "split_x": {"next": ["split_y"], "foreach": ("x", "[1, 2]"), "join_at": "join_x"},
        "split_y": {"next": ["inner"], "foreach": ("y", "'ab'"), "join_at": "join_y"},
        "inner": {"next": ["join_y"]}, "join_y": {"next": ["join_x"], "silent": True},
        "join_x": {"next": ["end"], "silent": True}, "end": {}},
    "inferred_join_after_branch": {
        "start": {"next": ["s"], "foreach": ("items", "[1, 2, 3]"), "join_at": "fjoin"},
        "s": {"next": ["a", "b"], "join_at": "bjoin"}, "a": {"next": ["bjoin"]},
        "b": {"next": ["bjoin"]}, "bjoin": {"next": ["fjoin"], "silent": True},
        "fjoin": {"next": ["end"], "silent": True}, "end": {}},
    "inferred_join_in_branch": {
        "start": {"next": ["a", "b"], "join_at": "join"},
        "a": {"next": ["f"], "foreach": ("items", "'xyz'"), "join_at": "fjoin"},
        "f": {"next": ["fjoin"]}, "fjoin": {"next": ["join"], "silent": True},
        "b": {"next": ["join"]}, "join": {"next": ["end"]}, "end": {}},
}


def parents_of(shape: dict, step: str) -> list[str]:
    return [s for s, node in shape.items() if step in node.get("next", [])]


def joins_of(shape: dict) -> dict[str, str]:
    """join step -> the split it closes."""
    return {node["join_at"]: s for s, node in shape.items() if "join_at" in node}


# -- step bodies ---------------------------------------------------------------------

def token(shape: dict, step: str) -> str:
    """What a step adds to the trail: its name, and its item when it opens a foreach body."""
    parent = parents_of(shape, step)
    if len(parent) == 1 and "foreach" in shape[parent[0]]:
        return f"f'{step}[{{self.index}}:{{self.input}}]'"
    return repr(step)


def body(kind: str, shape: dict, step: str) -> str:
    node, split = shape[step], joins_of(shape).get(step)
    lines = []
    if step == "start":
        lines += ["self.trail = ['start']", "self.n = 0", "self.const = 'c'"]
    elif split is not None and node.get("silent"):
        lines += [f"self.closed = {step!r}", f"self.trail = [{step!r}]", "self.n = 0"]
    elif split is not None:
        foreach = "foreach" in shape[split]
        ordered = "inputs" if foreach else "sorted(inputs, key=lambda i: i.trail)"
        lines += [f"self.trail = [t for i in {ordered} for t in i.trail] + [{step!r}]",
                  "self.n = sum(i.n for i in inputs)",
                  f"self.sizes = {'[i.index for i in inputs]' if foreach else 'len(list(inputs))'}"]
        if not foreach:
            names = parents_of(shape, step)
            lines += [f"self.by_name = [getattr(inputs, s).n for s in {names!r}]"]
        lines += ["self.merge_artifacts(inputs, exclude=['closed', 'by_name'])"]
    elif kind == "mutate":
        lines += [f"self.trail.append({token(shape, step)})", "self.n += 1"]
    elif kind == "reassign":
        lines += [f"self.trail = self.trail + [{token(shape, step)}]", "self.n = self.n + 1"]
    elif kind == "readonly":
        lines += ["assert self.trail and self.n >= 0"]
    if "foreach" in node:
        var, items = node["foreach"]
        lines += [f"self.{var} = {items}"]
    return "\n".join(lines) or "pass"


def notebook_cells(kind: str, shape: dict, flow: str) -> list[str]:
    cells = [f"%%flow {flow}"]
    for step, node in shape.items():
        header = f"%%step {step}"
        if node.get("next"):
            header += " -> " + ", ".join(node["next"])
        if "foreach" in node:
            header += f" --foreach {node['foreach'][0]}"
        cells.append(f"{header}\n{body(kind, shape, step)}")
    return cells


# -- the reference: Metaflow's semantics, in process ----------------------------------

class RefSelf:
    """`self` with Metaflow's rules: copies of the parent's artifacts, input/index."""

    def __init__(self, artifacts: dict, frames: list):
        self.__dict__["_art"] = copy.deepcopy(artifacts)
        self.__dict__["_frames"] = frames

    def __getattr__(self, name):
        if name == "input":
            return self._frames[-1][0] if self._frames else None
        if name == "index":
            return self._frames[-1][1] if self._frames else None
        try:
            return self._art[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self._art[name] = value

    def merge_artifacts(self, inputs, exclude=()):
        merged, conflicts = {}, []
        for inp in inputs:
            for name, value in inp._art.items():
                if name in exclude or name in self._art:
                    continue
                if name in merged and merged[name] != value:
                    conflicts.append(name)
                merged.setdefault(name, value)
        assert not conflicts, conflicts
        self._art.update(merged)


class RefInputs(list):
    def __getattr__(self, step):
        return next(i for i in self if i._step == step)


def run_reference(kind: str, shape: dict) -> dict:
    code = {}
    for step in shape:
        ns: dict = {}
        source = "def f(self, inputs):\n" + textwrap.indent(body(kind, shape, step), "    ")
        exec(source, ns)  # noqa: S102 - the reference runs the very same bodies
        code[step] = ns["f"]

    def run(step, artifacts, frames, inputs=None):
        me = RefSelf(artifacts, frames)
        code[step](me, inputs)
        me.__dict__["_step"] = step
        return me

    def walk(step, me, frames, stop):
        """Run from `step` until `stop` (the join closing the caller's split)."""
        while step != stop:
            me = run(step, me._art if me else {}, frames)
            node = shape[step]
            if "join_at" not in node:
                step = node["next"][0] if node.get("next") else stop
                continue
            if "foreach" in node:
                items = list(getattr(me, node["foreach"][0]))
                outs = [walk(node["next"][0], me, frames + [(item, i)], node["join_at"])
                        for i, item in enumerate(items)]
            else:
                outs = [walk(t, me, frames, node["join_at"]) for t in node["next"]]
            me = run(node["join_at"], {}, frames, RefInputs(outs))
            step = shape[node["join_at"]].get("next", [stop])[0]
        return me

    end = walk("start", None, [], None)
    return dict(end._art)


# -- the tests ----------------------------------------------------------------------------

def end_artifacts(workdir, flow: str, run_id: str) -> dict:
    ds = Datastore(str(workdir / ".nbflow"))
    (task_id, attempt), = records.list_tasks(ds, flow, run_id, "end").items()
    rec = read_task_json(ds, flow, run_id, "end", task_id, attempt)
    return {k: ds.get_object(v["key"]) for k, v in rec["artifacts"].items()}


@pytest.mark.parametrize("kind", ["mutate", "reassign", "readonly"])
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_shape_matches_metaflow_semantics(workdir, shape_name, kind):
    shape = SHAPES[shape_name]
    flow = "".join(p.title() for p in shape_name.split("_")) + "Flow"
    nb = make_notebook(workdir / "shape.ipynb", notebook_cells(kind, shape, flow))
    res = run_nbflow("run", nb, "--quiet", cwd=workdir)
    assert res.returncode == 0, res.stdout + res.stderr
    assert end_artifacts(workdir, flow, run_id_of(res.stdout)) == run_reference(kind, shape)


def test_reference_sample_values():
    """The reference on its own, for a reader: what these bodies compute."""
    got = run_reference("mutate", SHAPES["foreach_in_branch"])
    assert got["trail"] == ["start", "a", "f[0:p]", "start", "a", "f[1:q]", "fjoin",
                            "start", "b", "join", "end"]
    assert (got["n"], got["sizes"], got["by_name"]) == (6, 2, [4, 1])
    assert (got["const"], got["items"]) == ("c", ("p", "q"))


def metaflow_source(kind: str, shape: dict, flow: str) -> str:
    out = ["from metaflow import FlowSpec, step", "", f"class {flow}(FlowSpec):"]
    joins = joins_of(shape)
    for name, node in shape.items():
        args = "self, inputs" if name in joins else "self"
        out += ["    @step", f"    def {name}({args}):",
                textwrap.indent(body(kind, shape, name), "        ")]
        if node.get("next"):
            targets = ", ".join(f"self.{t}" for t in node["next"])
            extra = f", foreach={node['foreach'][0]!r}" if "foreach" in node else ""
            out.append(f"        self.next({targets}{extra})")
        out.append("")
    out += ["if __name__ == '__main__':", f"    {flow}()"]
    return "\n".join(out) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("shape_name", ["branch_in_foreach", "foreach_in_branch", "nested_branches"])
def test_reference_agrees_with_real_metaflow(tmp_path, shape_name):
    """Run the same bodies with the real metaflow package and compare end artifacts."""
    pytest.importorskip("metaflow")
    shape, kind = SHAPES[shape_name], "mutate"
    flow = "Ref" + "".join(p.title() for p in shape_name.split("_")) + "Flow"
    (tmp_path / "flow.py").write_text(metaflow_source(kind, shape, flow))
    home = tmp_path / "mfhome"
    home.mkdir()
    env = dict(os.environ, USERNAME="tester", METAFLOW_HOME=str(home),
               METAFLOW_DEFAULT_METADATA="local", METAFLOW_DEFAULT_DATASTORE="local",
               METAFLOW_DATASTORE_SYSROOT_LOCAL=str(tmp_path))
    res = subprocess.run([sys.executable, "flow.py", "--no-pylint", "run"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    reader = ("import json, metaflow\nmetaflow.namespace(None)\n"
              "print(json.dumps({a.id: a.data for a in metaflow.Flow("
              f"{flow!r}).latest_run['end'].task.artifacts if not a.id.startswith('_') "
              "and a.id != 'name'}))")
    out = subprocess.run([sys.executable, "-c", reader], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(json.dumps(run_reference(kind, shape)))
