"""The experiment table widget (`%nbflow compare FLOW --artifact NAME`): a row per run,
sortable by clicking a column's header, a small line chart of a chosen numeric column
over the runs (oldest on the left), and a click on a run's id opens that run in the
artifact browser below the table."""
from __future__ import annotations

import html
import math
import numbers

import ipywidgets as w

from ...commands.text import cell_text

CHART_W, CHART_H, PAD = 360, 120, 8


def _missing(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not _missing(value)


def sort_key(value):
    """Numbers before text; a missing value always last."""
    if _missing(value):
        return (2, 0, "")
    if _number(value):
        return (0, float(value), "")
    return (1, 0, str(value))


def numeric_columns(columns, rows) -> list[str]:
    return [c for c in columns if c != "run_id"
            and any(_number(r[c]) for r in rows)
            and all(_number(r[c]) or _missing(r[c]) for r in rows)]


def default_chart(numeric: list[str], rows, artifacts) -> str | None:
    """The first requested artifact that varies over the runs, else any column that
    varies (a parameter, the duration), else the first numeric one."""
    varies = [c for c in numeric if len({r[c] for r in rows if _number(r[c])}) > 1]
    for group in ([c for c in artifacts if c in varies], varies, numeric):
        if group:
            return group[0]
    return None


def chart_svg(rows, column: str) -> str:
    """A polyline of `column` over the runs, oldest first; a point per run with a tooltip."""
    points = [(r["run_id"], float(r[column])) for r in reversed(rows) if _number(r[column])]
    if not points:
        return f"<i>no numeric values of {html.escape(column)}</i>"
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    n = max(len(points) - 1, 1)
    left, top, height = PAD + 40, PAD, CHART_H - 2 * PAD
    xy = [(left + i * (CHART_W - left - PAD) / n,
           top + (height / 2 if hi == lo else (hi - v) / (hi - lo) * height))
          for i, (_, v) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1976d2"><title>'
                   f"{html.escape(rid)}: {v:g}</title></circle>"
                   for (x, y), (rid, v) in zip(xy, points))
    return (f'<svg class="nbflow-compare-chart" width="{CHART_W}" height="{CHART_H + 16}" '
            f'data-column="{html.escape(column)}">'
            f'<polyline fill="none" stroke="#1976d2" stroke-width="1.5" points="{line}"/>{dots}'
            f'<text x="{PAD}" y="{top + 4}" font-size="10">{hi:g}</text>'
            + (f'<text x="{PAD}" y="{top + height}" font-size="10">{lo:g}</text>' if hi != lo
               else "") +
            f'<text x="{left}" y="{CHART_H + 12}" font-size="10">{html.escape(column)} over '
            f"{len(points)} runs, oldest first</text></svg>")


class CompareWidget:
    def __init__(self, table, shell=None, ds=None):
        self.table, self.shell, self.ds = table, shell, ds
        self.columns, self.rows = list(table.columns), list(table.rows)
        self.sorted_by: tuple[str, bool] | None = None
        self.headers = [w.Button(description=c, tooltip=f"sort by {c}",
                                 layout=w.Layout(width="max-content")) for c in self.columns]
        for button, column in zip(self.headers, self.columns):
            button.on_click(lambda _b, c=column: self.sort(c))
        self.cells = {r["run_id"]: self._row_widgets(r) for r in self.rows}
        self.grid = w.GridBox(layout=w.Layout(
            grid_template_columns=f"repeat({len(self.columns)}, auto)", grid_gap="2px 12px",
            overflow="auto"))
        numeric = numeric_columns(self.columns, self.rows)
        self.chart_column = w.Dropdown(options=numeric, description="chart",
                                       value=default_chart(numeric, self.rows, table.artifacts))
        self.chart = w.HTML()
        self.chart_column.observe(lambda _ch: self.draw_chart(), names="value")
        self.browser_out = w.Output()
        self.browser = None
        notes = "".join(f"<br><span style='color:#e65100'>{html.escape(m)}</span>"
                        for m in table.warnings)
        self.title = w.HTML(f"<b>{html.escape(table.flow)}</b>: {len(self.rows)} run(s); click a "
                            f"header to sort, a run id to browse its artifacts{notes}")
        self.widget = w.VBox([self.title, self.grid, self.chart_column, self.chart,
                              self.browser_out])
        self._layout()
        self.draw_chart()

    def _row_widgets(self, row) -> list:
        button = w.Button(description=row["run_id"], tooltip="open in the artifact browser",
                          layout=w.Layout(width="max-content"))
        button.on_click(lambda _b, rid=row["run_id"]: self.open_run(rid))
        return [button] + [w.HTML(f"<span style='white-space:nowrap'>"
                                  f"{html.escape(cell_text(c, row[c]))}</span>")
                           for c in self.columns[1:]]

    def _layout(self) -> None:
        self.grid.children = tuple(self.headers) + tuple(
            cell for r in self.rows for cell in self.cells[r["run_id"]])

    def sort(self, column: str, descending: bool | None = None) -> None:
        """Sort by `column`; clicking the same header again reverses the order."""
        if descending is None:
            descending = not (self.sorted_by == (column, True))
        self.rows.sort(key=lambda r: sort_key(r[column]))
        if descending:   # missing values stay last either way
            present = [r for r in self.rows if not _missing(r[column])]
            self.rows = present[::-1] + [r for r in self.rows if _missing(r[column])]
        self.sorted_by = (column, descending)
        for button, c in zip(self.headers, self.columns):
            button.description = c + ((" ▼" if descending else " ▲") if c == column else "")
        self._layout()

    def draw_chart(self) -> None:
        column = self.chart_column.value
        by_time = sorted(self.rows, key=lambda r: r["started"], reverse=True)
        self.chart.value = chart_svg(by_time, column) if column else \
            "<i>no numeric column to chart</i>"

    def open_run(self, run_id: str) -> None:
        """The run in the artifact browser, below the table."""
        from IPython.display import display

        from .browser import ArtifactBrowser

        self.browser = ArtifactBrowser(self.shell, self.ds)
        self.browser.open(f"{self.table.flow}/{run_id}")
        self.browser_out.clear_output()
        with self.browser_out:
            display(self.browser.widget)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
