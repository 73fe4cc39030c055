"""Plain-text renderings of command results, shared by the CLI and the kernel's %nbflow."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .inspect import RunList, RunRow, TaskDump


def table(headers: list[str], rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)] + [str(row[-1])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def cell_text(column: str, value) -> str:
    """One cell of the experiment table (`nbflow compare`, `%nbflow compare`)."""
    import math
    from datetime import datetime

    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if column == "duration":
        return duration(value)
    from ..client.summary import short_repr

    return value if isinstance(value, str) else short_repr(value, 40)


def dump_text(found: list[TaskDump]) -> str:
    from ..client.summary import human_size

    out = []
    for task in found:
        if len(found) > 1 or not task.successful:
            out.append(f"=== {task.pathspec}{'' if task.successful else '  (failed)'} ===")
        if task.detail is not None:
            art = task.artifacts[0]
            out.append(f"{art.name}: {art.type}, {human_size(art.size)}, {art.value}")
            out.append(task.detail)
        elif task.artifacts:
            out.append(table(["NAME", "TYPE", "SIZE", "VALUE"],
                             [(a.name, a.type, human_size(a.size), a.value)
                              for a in task.artifacts]))
        else:
            out.append("(no artifacts)")
        if task.error is not None:
            out.append(f"error: {task.error}")
    return "\n".join(out)


def runs_text(listing: RunList) -> str:
    """The table of runs ('' when there is none: see `no_runs_text`)."""
    if not listing.rows:
        return ""
    return table(["RUN ID", "STATUS", "STARTED", "DURATION", "TAGS"],
                 [_run_row(r) for r in listing.rows])


def no_runs_text(listing: RunList) -> str:
    where = f" in namespace '{listing.namespace}'" if listing.namespace else ""
    tags = f" with tags {', '.join(listing.tags)}" if listing.tags else ""
    return f"no runs of {listing.flow}{where}{tags}; --all lists every namespace"


def _run_row(r: RunRow) -> tuple:
    if r.problem:
        return (r.run_id, r.status, "", "", r.problem)
    tags = list(r.tags) + ([f"(resumed from {r.origin_run_id})"] if r.origin_run_id else [])
    return (r.run_id, r.status, r.started,
            duration(r.duration) if r.duration is not None else "-", " ".join(tags))


def tag_text(report) -> str:
    return (f"{report.pathspec}\nuser tags:   {', '.join(report.user_tags) or '(none)'}\n"
            f"system tags: {', '.join(report.system_tags)}")
