"""Artifact browser (`%nbflow inspect [PATHSPEC]`): flows -> runs -> steps -> tasks ->
artifacts (name, type, size, a short preview) and a button that loads an artifact
into a kernel variable. Reads the store directly; loads a value only to preview it
(small ones) or when asked."""
from __future__ import annotations

import html

import ipywidgets as w

from ...client.summary import describe, human_size, short_repr
from ...datastore import Datastore, records
from ...errors import UsageError
from ...records import TaskRecord

PREVIEW_LIMIT = 8 * 1024 * 1024   # bytes: larger artifacts are previewed only when loaded
TASK_LABELS = 200   # tasks of a step listed with their state and duration (the rest: ids)


class ArtifactBrowser:
    def __init__(self, shell, ds: Datastore):
        self.shell, self.ds = shell, ds
        self.flows = w.Select(description="flow", rows=4)
        self.runs = w.Select(description="run", rows=4)
        self.steps = w.Select(description="step", rows=4)
        self.tasks = w.Select(description="task", rows=4)
        self.table = w.HTML()
        self.graph = w.HTML()
        self.artifact = w.Dropdown(description="artifact")
        self.variable = w.Text(description="as variable", value="")
        self.load = w.Button(description="load into variable", layout=w.Layout(width="auto"))
        self.logs = w.Button(description="logs")
        self.card = w.Button(description="card")
        self.message = w.HTML()
        self.peek = w.HTML()          # the chosen artifact: a DataFrame's head, an array's values
        self.preview = w.Output()
        self.load.on_click(lambda _b: self.load_artifact())
        self.logs.on_click(lambda _b: self.show_logs())
        self.card.on_click(lambda _b: self.show_card())
        for sel, nxt in ((self.flows, self._fill_runs), (self.runs, self._fill_steps),
                         (self.steps, self._fill_tasks), (self.tasks, self._fill_artifacts)):
            sel.observe(lambda ch, f=nxt: f(), names="value")
        self.artifact.observe(lambda ch: self._chose_artifact(), names="value")
        self.widget = w.VBox([
            w.HBox([self.flows, self.runs, self.steps, self.tasks],
                   layout=w.Layout(flex_flow="row wrap")), self.graph, self.table,
            w.HBox([self.artifact, self.variable, self.load]),
            self.peek, w.HBox([self.logs, self.card]), self.message, self.preview])
        self.flows.options = records.list_flows(ds)

    # -- navigation ------------------------------------------------------------------
    def open(self, pathspec: str | None) -> None:
        parts = pathspec.strip("/").split("/") if pathspec else []
        for sel, value in zip((self.flows, self.runs, self.steps, self.tasks), parts):
            values = [o[1] if isinstance(o, tuple) else o for o in sel.options]
            if value not in values:
                raise UsageError(f"'{pathspec}': {value} is not among {values[:10]}")
            sel.value = value

    def _fill_runs(self) -> None:
        self.runs.options = records.list_runs(self.ds, self.flows.value) if self.flows.value else []

    def _fill_steps(self) -> None:
        f, r = self.flows.value, self.runs.value
        self.steps.options = records.list_steps(self.ds, f, r) if f and r else []
        self.graph.value = self._graph_html(f, r) if f and r else ""

    def _graph_html(self, flow: str, run_id: str) -> str:
        from .graph import run_html

        try:
            return run_html(self.ds, flow, run_id)
        except Exception as e:  # noqa: BLE001 - a run record from an older nbflow: no drawing
            return f"<i>(no graph for {html.escape(flow)}/{html.escape(run_id)}: {html.escape(str(e))})</i>"

    def _fill_tasks(self) -> None:
        """A step's tasks, the first one chosen (a step opened shows a task at once)."""
        f, r, s = self.flows.value, self.runs.value, self.steps.value
        tasks = records.list_tasks(self.ds, f, r, s) if f and r and s else {}
        ids = sorted(tasks, key=_num)
        self.tasks.options = [
            (task_label(t, records.read_task(self.ds, f, r, s, t, tasks[t])) if i < TASK_LABELS
             else t, t) for i, t in enumerate(ids)]
        if self.tasks.options and self.tasks.value is None:
            self.tasks.index = 0

    def record(self) -> TaskRecord | None:
        f, r, s, t = (x.value for x in (self.flows, self.runs, self.steps, self.tasks))
        return records.read_task(self.ds, f, r, s, t) if f and r and s and t else None

    def _fill_artifacts(self) -> None:
        rec = self.record()
        refs = rec.artifacts if rec else {}
        self.table.value = self.artifacts_html(rec, refs)
        self.artifact.options = sorted(refs)

    def artifacts_html(self, rec: TaskRecord | None, refs: dict) -> str:
        if rec is None:
            return ""
        rows = []
        for name in sorted(refs):
            ref = refs[name]
            if (ref.get("size") or 0) <= PREVIEW_LIMIT:
                try:
                    preview = short_repr(self.ds.get_object(ref["key"], artifact=name,
                                                            task=rec.pathspec))
                except Exception as e:  # noqa: BLE001 - a class the kernel cannot import, a damaged blob
                    preview = f"(cannot load: {type(e).__name__}: {e})"
            else:
                preview = "(large: load it to look)"
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(ref.get('type', '?'))}"
                        f"</td><td>{human_size(ref.get('size'))}</td>"
                        f"<td><code>{html.escape(preview)}</code></td></tr>")
        return (f"{task_summary(rec)}<table class='nbflow-artifacts'>"
                "<tr><th>name</th><th>type</th><th>size</th><th>preview</th></tr>"
                + "".join(rows) + "</table>")

    def _chose_artifact(self) -> None:
        """Its name suggested as the variable; a few lines of it, unless it is big (the
        store's metadata says so: a big one is read only when loaded)."""
        rec, name = self.record(), self.artifact.value
        self.peek.value = ""
        if not name or rec is None or name not in rec.artifacts:
            return
        self.variable.value = name
        ref = rec.artifacts[name]
        if (ref.get("size") or 0) > PREVIEW_LIMIT:
            self.peek.value = (f"<i>{html.escape(name)}: {html.escape(ref.get('type', '?'))}, "
                               f"{human_size(ref.get('size'))}: load it to look</i>")
            return
        try:
            value = self.ds.get_object(ref["key"], artifact=name, task=rec.pathspec)
        except Exception as e:  # noqa: BLE001 - a class the kernel cannot import, a damaged blob
            self.peek.value = f"<i>(cannot load: {html.escape(f'{type(e).__name__}: {e}')})</i>"
            return
        self._show(value)

    def _show(self, value) -> None:
        self.peek.value = f"<pre class='nbflow-peek'>{html.escape(describe(value))}</pre>"

    def load_artifact(self) -> None:
        """The chosen artifact into the kernel variable named in the text box."""
        rec, name, var = self.record(), self.artifact.value, self.variable.value.strip()
        if rec is None or not name:
            self.message.value = "choose a task and an artifact first"
            return
        if not var.isidentifier():
            self.message.value = f"'{html.escape(var)}' is not a valid variable name"
            return
        value = self.ds.get_object(rec.artifacts[name]["key"], artifact=name, task=rec.pathspec)
        self.shell.user_ns[var] = value
        self.message.value = f"loaded {html.escape(rec.pathspec)}.{html.escape(name)} into " \
                             f"<code>{html.escape(var)}</code>"
        self._show(value)


    def _chosen(self) -> TaskRecord | None:
        """The chosen task's record, the preview cleared for it (a hint when none is chosen)."""
        rec = self.record()
        self.preview.clear_output()
        if rec is None:
            with self.preview:
                print("choose a task first")
        return rec

    def show_logs(self) -> None:
        """The chosen task's stdout and stderr, below."""
        rec = self._chosen()
        if rec is None:
            return
        with self.preview:
            for stream in ("stdout", "stderr"):
                data = records.read_record_log(self.ds, rec, stream).decode("utf-8", "replace")
                print(f"--- {rec.pathspec} {stream} ---\n{data or '(empty)'}")

    def show_card(self) -> None:
        """The chosen task's card (what it displayed), below."""
        from ..card import show_task_card

        rec = self._chosen()
        if rec is None:
            return
        with self.preview:
            show_task_card(rec.pathspec, self.ds.url)


def _took(rec: TaskRecord) -> str:
    if rec.started_at and rec.finished_at:
        return f"{float(rec.finished_at) - float(rec.started_at):.2f} s"
    return ""


def task_label(task_id: str, rec: TaskRecord | None) -> str:
    """A task in the step's list: its id, state and duration."""
    if rec is None:
        return task_id
    took = _took(rec)
    return f"{task_id} · {'done' if rec.successful else 'failed'}" + (f" · {took}" if took else "")


def task_summary(rec: TaskRecord) -> str:
    """A task's pathspec, state, duration and (failed) its error."""
    state = "successful" if rec.successful else "failed"
    took = f", {_took(rec)}" if _took(rec) else ""
    exc = rec.exception or {}
    error = (f"<div style='color:#e53935'>{html.escape(str(exc.get('type', '')))}: "
             f"{html.escape(str(exc.get('message', '')))}</div>") if exc else ""
    return f"<b>{html.escape(rec.pathspec)}</b> ({state}{took}){error}"


def _num(task_id: str):
    return (0, int(task_id)) if task_id.isdigit() else (1, task_id)


def open_browser(shell, pathspec: str | None, ds: Datastore) -> ArtifactBrowser:
    from IPython.display import display

    browser = ArtifactBrowser(shell, ds)
    browser.open(pathspec)
    display(browser.widget)
    return browser
