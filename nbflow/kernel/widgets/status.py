"""Status widget: tasks done/total with a progress bar, a row per step (status, tasks,
duration), a failed task's error with its logs one click away, and each task's card
(what it displayed) one click away."""
from __future__ import annotations

import html

import ipywidgets as w

from ...datastore import records
from .model import RunModel

CARD_BUTTONS = 20   # tasks with a card shown as buttons; the rest in a list (a wide foreach)


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def status_text(model: RunModel) -> str:
    """One line, also the plain-text fallback's progress line."""
    run = f"{model.flow}/{model.run_id}" if model.run_id else "starting"
    return f"{run}: {model.status}, {model.tasks_done()}/{model.tasks_total()} tasks done"


def rows_html(model: RunModel) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s.name)}</td><td>{s.status}</td><td>{s.progress()}</td>"
        f"<td>{_seconds(s.duration())}</td></tr>" for s in model.steps.values())
    return ('<table class="nbflow-status"><tr><th>step</th><th>status</th><th>tasks</th>'
            f"<th>duration</th></tr>{rows}</table>")


class StatusWidget:
    def __init__(self, model: RunModel):
        self.model = model
        self.title = w.HTML(value=html.escape(status_text(model)))
        self.bar = w.IntProgress(value=0, min=0, max=1, description="tasks")
        self.table = w.HTML(value=rows_html(model))
        self.errors = w.VBox([])
        self.logs = w.Output()
        self._shown_errors = 0
        self.cards = w.HBox([], layout=w.Layout(flex_flow="row wrap"))
        self.more_cards = w.Dropdown(description="more cards", options=[("", None)], value=None)
        self.more_cards.observe(lambda ch: ch["new"] and self.show_card(ch["new"]), names="value")
        self.card_view = w.Output()
        self._shown_cards = 0
        self.widget = w.VBox([self.title, self.bar, self.table, self.errors, self.logs,
                              self.cards, self.card_view])

    def refresh(self) -> None:
        m = self.model
        self.title.value = html.escape(status_text(m)) + (
            f"<br><span style='color:#e53935'>{html.escape(m.message)}</span>" if m.message else "")
        self.bar.max = max(1, m.tasks_total())
        self.bar.value = m.tasks_done()
        self.bar.bar_style = {"done": "success", "failed": "danger"}.get(m.status, "info")
        self.table.value = rows_html(m)
        errors = [e for s in m.steps.values() for e in s.errors]
        for pathspec, message in errors[self._shown_errors:]:
            self.errors.children += (self._error_row(pathspec, message),)
        self._shown_errors = len(errors)
        self._add_cards()

    def _add_cards(self) -> None:
        """A button per task that displayed something (past CARD_BUTTONS, a list entry)."""
        new = list(self.model.cards.items())[self._shown_cards:]
        if not new:
            return
        if not self.cards.children:
            self.cards.children = (w.HTML(value="<b>cards:</b>"),)
        buttons, more = [], []
        for pathspec, count in new:
            label = "/".join(pathspec.split("/")[2:])
            if len(self.cards.children) + len(buttons) <= CARD_BUTTONS:
                button = w.Button(description=label, tooltip=f"the card of {pathspec}: "
                                  f"{count} output(s)", layout=w.Layout(width="auto"))
                button.on_click(lambda _b, p=pathspec: self.show_card(p))
                buttons.append(button)
            else:
                more.append((label, pathspec))
        self.cards.children += tuple(buttons)
        if more:
            self.more_cards.options = list(self.more_cards.options) + more
            if self.more_cards not in self.cards.children:
                self.cards.children += (self.more_cards,)
        self._shown_cards += len(new)

    def show_card(self, pathspec: str) -> None:
        """The task's card below the status (replacing the one shown before)."""
        from ..card import show_task_card

        self.card_view.clear_output()
        with self.card_view:
            show_task_card(pathspec, self.model.ds.url)

    def _error_row(self, pathspec: str, message: str):
        button = w.Button(description="show logs", layout=w.Layout(width="auto"))
        button.on_click(lambda _b, p=pathspec: self._show_logs(p))
        label = w.HTML(value=f"<span style='color:#e53935'>{html.escape(pathspec)}: "
                             f"{html.escape(message)}</span>")
        return w.HBox([label, button])

    def _show_logs(self, pathspec: str) -> None:
        flow, run_id, step, task_id = pathspec.split("/")
        attempt = records.list_tasks(self.model.ds, flow, run_id, step).get(task_id, 0)
        self.logs.clear_output()
        with self.logs:
            for stream in ("stdout", "stderr"):
                data = records.read_log(self.model.ds, flow, run_id, step, task_id, attempt, stream)
                print(f"--- {pathspec} {stream} ---\n{data.decode('utf-8', 'replace')}")
