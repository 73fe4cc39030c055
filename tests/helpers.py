"""Test helpers (import them: `from helpers import ...`): real notebooks on disk, the real
CLI in a subprocess, and a direct reader of the store (independent of the client API)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


def make_notebook(path, cells: list[str]) -> Path:
    """Write a notebook; a cell starting with 'md:' is a markdown cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for src in cells:
        if src.startswith("md:"):
            nb.cells.append(nbformat.v4.new_markdown_cell(src[3:]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(src))
    path = Path(path)
    nbformat.write(nb, str(path))
    return path


def cli_env(**extra) -> dict:
    """The environment a CLI subprocess gets: user 'tester', no stray datastore."""
    env = dict(os.environ)
    env.pop("NBFLOW_DATASTORE", None)
    env["NBFLOW_USER"] = "tester"
    env.update({k: str(v) for k, v in extra.items()})
    return env


test_env = cli_env
test_env.__test__ = False  # a helper, not a test, when a test module imports it


def run_nbflow(*args, cwd, env=None, timeout=240) -> subprocess.CompletedProcess:
    """`nbflow ARGS...` as a user runs it, in a fresh process."""
    return subprocess.run([sys.executable, "-m", "nbflow", *map(str, args)], cwd=str(cwd),
                          env=env or cli_env(), capture_output=True, text=True, timeout=timeout)


def run_id_of(output: str) -> str:
    import re

    m = re.search(r"Workflow starting \(run-id (\w+)\)", output)
    assert m, output
    return m.group(1)


def read_task_json(ds, flow: str, run_id: str, step: str, task_id: str,
                   attempt: int | None = None) -> dict | None:
    """A task attempt's record as the JSON stored (the latest attempt by default)."""
    from nbflow.datastore import records

    rec = records.read_task(ds, flow, run_id, step, str(task_id), attempt)
    return None if rec is None else rec.to_json()


def read_run_json(ds, flow: str, run_id: str) -> dict:
    """A run's record as the JSON stored."""
    from nbflow.datastore import records

    return records.read_run(ds, flow, run_id).to_json()


def create_run_json(ds, flow: str, fields: dict) -> str:
    """Write a run record made of `fields` (JSON as stored) under a fresh run id; the id."""
    from nbflow.datastore import records
    from nbflow.records import RunRecord

    return records.create_run(ds, RunRecord.from_json({**fields, "flow": flow, "run_id": ""})).run_id


class StoreReader:
    """Reads runs straight from the datastore files (no client API)."""

    def __init__(self, root):
        from nbflow.datastore import Datastore

        self.ds = Datastore(str(root))

    def tasks(self, flow: str, run_id: str, step: str) -> list[dict]:
        from nbflow.datastore import records

        out = []   # the records' JSON as stored
        for task_id, attempt in records.list_tasks(self.ds, flow, run_id, step).items():
            out.append(self.ds.get_json(self.ds.task_prefix(flow, run_id, step, task_id, attempt)
                                        + ".json"))
        out.sort(key=lambda r: ((r.get("foreach_stack") or [{}])[-1].get("index", 0) or 0,
                                int(r["task_id"])))
        return out

    def artifacts(self, flow: str, run_id: str, step: str, index: int = 0) -> dict:
        rec = self.tasks(flow, run_id, step)[index]
        return {k: self.ds.get_object(v["key"]) for k, v in rec["artifacts"].items()}

    def run_end(self, flow: str, run_id: str) -> dict | None:
        from nbflow.datastore import records

        return records.read_run_end(self.ds, flow, run_id)


def dump_json(obj) -> str:
    return json.dumps(obj, indent=1, default=str)


def task_records(ds, flow: str, run_id: str) -> list[dict]:
    """Every task attempt's record of a run, as the JSON stored."""
    from nbflow.datastore import records

    out = []
    for step in records.list_steps(ds, flow, run_id):
        for name in ds.storage.list(f"{flow}/{run_id}/{step}"):
            if name.endswith(".json"):
                out.append(ds.get_json(f"{flow}/{run_id}/{step}/{name}"))
    return out


def assert_store_consistent(root) -> int:
    """Every blob under its final name loads; every record's artifacts exist and load.
    Returns how many task records were checked."""
    from nbflow.datastore import Datastore, records

    ds = Datastore(str(root))
    root = Path(root)
    for path in (root / "blobs").rglob("*"):
        if path.is_file() and ".tmp-" not in path.name:
            ds.get_object(path.name)   # raises if truncated or damaged
    checked = 0
    for flow in records.list_flows(ds):
        for run_id in records.list_runs(ds, flow):
            read_run_json(ds, flow, run_id)
            for rec in task_records(ds, flow, run_id):
                checked += 1
                for name, ref in (rec.get("artifacts") or {}).items():
                    assert ds.blob_exists(ref["key"]), (rec["pathspec"], name)
                    ds.get_object(ref["key"])
    return checked
