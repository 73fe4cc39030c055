"""The step cache (`nbflow run --cache`, NBFLOW_CACHE=1): a task whose step code (its
body and options, the flow cell included), input artifacts (by content key), parameters,
foreach position and pinned environment match an earlier successful task reuses that task
by reference, as resume's clones do (no byte copied, logs read from the origin).

The index is `.stepcache/<flow>/<key>.json` in the store, naming the task; an entry whose
task or blobs are gone (gc) is a miss. Steps that read `current` (run id, task id, ...
differ between runs) are never cached, nor those named by `--no-cache-step`."""
from __future__ import annotations

import ast
import json
from dataclasses import replace

from ..datastore import Datastore, records
from ..records import TaskRecord, TaskRequest, stack_to_json

CACHE_DIR = ".stepcache"


def enabled(flag: bool | None) -> bool:
    import os

    return bool(flag) or os.environ.get("NBFLOW_CACHE", "") not in ("", "0")


class StepCache:
    def __init__(self, ds: Datastore, graph, excluded=()):
        self.ds = ds
        self.flow = graph.name
        self.never: dict[str, str] = {s: "--no-cache-step" for s in excluded}
        for node in graph:
            if node.name not in self.never and _reads_current(node.spec.body):
                self.never[node.name] = "it reads `current`, which differs between runs"
        self.reads = {node.name: _param_reads(node) for node in graph}
        fc = graph.notebook.flow_cell
        self.flow_code = None if fc is None else \
            {k: v for k, v in fc.to_json().items() if k not in ("cell", "body_line")}

    def notes(self) -> list[str]:
        return [f"step '{s}' is never cached: {why}" for s, why in self.never.items()]

    def key(self, req: TaskRequest) -> str | None:
        if req.step in self.never or req.attempt or req.catch_fallback:
            return None
        cell = req.step_cell or {}
        params, reads = req.params or {}, self.reads.get(req.step)
        options = {k: v for k, v in (cell.get("options") or {}).items() if k != "cache"}
        what = {
            "step": req.step, "body": cell.get("body"), "options": options,
            "flow": self.flow_code,
            # parameters count where the step reads them (lineage.py), not as inherited
            "parents": [[p.step, sorted((n, _key(a)) for n, a in p.artifacts.items()
                                        if n not in params),
                         stack_to_json(p.foreach_stack)] for p in req.parents],
            "params": sorted((n, _key(v)) for n, v in params.items()
                             if reads is None or n in reads),
            "foreach": stack_to_json(req.foreach_stack),
            "environment": req.environment, "is_join": req.is_join,
        }
        text = json.dumps(what, sort_keys=True, default=str)
        import hashlib  # (imported only when the cache is on)

        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, key: str) -> str:
        return f"{CACHE_DIR}/{self.flow}/{key}.json"

    def lookup(self, req: TaskRequest) -> TaskRecord | None:
        """The cached task cloned into `req`'s run as `req`'s task, or None."""
        key = self.key(req)
        if key is None or not self.ds.storage.exists(self._path(key)):
            return None
        try:
            entry = self.ds.get_json(self._path(key))
            rec = records.read_task(self.ds, self.flow, entry["run_id"], entry["step"],
                                    entry["task_id"], entry["attempt"])
        except Exception:  # noqa: BLE001 - a damaged entry is only a miss
            return None
        if rec is None or not rec.successful or rec.caught or \
                not all(self.ds.blob_exists(a["key"]) for a in rec.artifacts.values()):
            return None
        log_prefix = rec.log_prefix or self.ds.task_prefix(rec.flow, rec.run_id, rec.step,
                                                           rec.task_id, rec.attempt)
        # this run's parameter values, even where the step did not read them
        artifacts = {n: (req.params[n] if n in (req.params or {}) else a)
                     for n, a in rec.artifacts.items()}
        clone = replace(rec.cloned_into(req.run_id, log_prefix), task_id=req.task_id,
                        pathspec=req.pathspec, parents=tuple(p.pathspec for p in req.parents),
                        foreach_stack=req.foreach_stack, artifacts=artifacts)
        if not records.write_task(self.ds, clone):
            return None
        return clone

    def remember(self, req: TaskRequest, rec: TaskRecord) -> None:
        key = self.key(req)
        if key is None or not rec.successful or rec.caught or rec.origin:
            return
        self.ds.put_json(self._path(key), {"run_id": rec.run_id, "step": rec.step,
                                           "task_id": rec.task_id, "attempt": rec.attempt})


def _key(ref) -> str:
    return ref.get("key") if isinstance(ref, dict) else repr(ref)


def _param_reads(node) -> set[str] | None:
    """The names a step's body reads on `self` and its inputs (None: it cannot tell)."""
    from ..graph.uses import step_uses

    try:
        uses = step_uses(ast.parse(node.spec.body))
    except SyntaxError:
        return None
    if uses.opaque_reads is not None:
        return None
    names = set(uses.reads) | {n for _, n, _ in uses.input_reads}
    if node.foreach:
        names.add(node.foreach)
    return names


def _reads_current(body: str) -> bool:
    try:
        tree = ast.parse(body)
    except SyntaxError:
        return True
    return any(isinstance(n, ast.Name) and n.id == "current" for n in ast.walk(tree))
