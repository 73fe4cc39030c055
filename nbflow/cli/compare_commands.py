"""`nbflow compare FLOW ...` and `nbflow diff RUN_A RUN_B`: argparse and printing over
nbflow.commands.compare / nbflow.commands.diff."""
from __future__ import annotations

import math
import sys
from datetime import datetime

from ..commands.text import cell_text
from ..commands.text import table as text_table
from ..errors import UsageError


def add_commands(sub) -> dict:
    p = sub.add_parser("compare", help="the experiment table: a row per run, its parameters "
                       "and the named artifacts")
    p.add_argument("flow", help="a flow name, or a notebook (its flow, in its store)")
    p.add_argument("--artifact", action="append", default=[], metavar="NAME",
                   help="an artifact of the step's task (repeatable; a.b reads an attribute)")
    p.add_argument("--step", default="end", help="the step whose artifacts are read (default end)")
    p.add_argument("--last", type=int, default=50, help="at most this many runs (default 50)")
    p.add_argument("--tag", action="append", default=[], help="only runs with this tag")
    p.add_argument("--status", action="append", default=[],
                   choices=["successful", "failed", "running", "died"], help="only runs in it")
    p.add_argument("--csv", action="store_true", help="print CSV")
    _store_options(p)
    p.add_argument("--namespace", default=None, help="list this namespace (default user:<you>)")
    p.add_argument("--all", action="store_true", help="list the runs of every namespace")
    p = sub.add_parser("diff", help="what differs between two runs: parameters, code, "
                       "environment, artifacts")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="RUN_A RUN_B as Flow/run_id, or FLOW|NOTEBOOK RUN_A RUN_B with run ids")
    _store_options(p)
    return {"compare": cmd_compare, "diff": cmd_diff}


def _store_options(p) -> None:
    p.add_argument("--datastore", default=None, help="an fsspec URL (default: nearest .nbflow/)")


# -- compare --------------------------------------------------------------------------------

def cmd_compare(args, extra) -> int:
    from ..commands.compare import compare
    from ..commands.locate import USER_NAMESPACE

    if args.last is not None and args.last < 1:
        raise UsageError(f"--last must be at least 1, got {args.last}")
    ns = None if args.all else (args.namespace or USER_NAMESPACE)
    table = compare(args.flow, args.artifact, step=args.step, last=args.last, tags=args.tag,
                    status=args.status, datastore=args.datastore, namespace=ns)
    for message in table.warnings:
        print(f"warning: {message}", file=sys.stderr)
    if args.csv:
        print_csv(table.columns, table.rows)
    elif not table.rows:
        print(f"no runs of {table.flow} to compare", file=sys.stderr)
    else:
        print_table(table.columns, table.rows)
    return 0


def print_table(columns, rows) -> None:
    headers = [c.upper() if c in ("run_id", "status", "started", "duration", "tags") else c
               for c in columns]
    headers = [h.replace("_", " ") if h == "RUN_ID" else h for h in headers]
    print(text_table(headers, [tuple(cell_text(c, r[c]) for c in columns) for r in rows]))


def print_csv(columns, rows) -> None:
    import csv

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(columns)
    for r in rows:
        out.writerow([_csv_value(r[c]) for c in columns])


def _csv_value(value):
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (str, int, float, bool)):
        return value
    from ..client.summary import short_repr

    return short_repr(value, 200)


# -- diff ---------------------------------------------------------------------------------------

def cmd_diff(args, extra) -> int:
    from ..commands.diff import diff

    if len(args.runs) not in (2, 3):
        raise UsageError("diff takes RUN_A RUN_B (Flow/run_id), or FLOW|NOTEBOOK RUN_A RUN_B")
    where = args.runs[0] if len(args.runs) == 3 else None
    result = diff(*args.runs[-2:], where, datastore=args.datastore)
    print(render_diff(result), end="")
    return 0


def render_diff(d) -> str:
    lines = [f"diff {d.run_a} -> {d.run_b}"]
    lines += _render_params(d) + _render_cells(d) + _render_env(d) + _render_artifacts(d)
    return "\n".join(lines) + "\n"


def _render_params(d) -> list[str]:
    if not d.parameters:
        return ["parameters: unchanged"]
    return ["parameters:"] + [f"  {p.name}: {_or_absent(p.old)} -> {_or_absent(p.new)}"
                              for p in d.parameters]


def _or_absent(text: str | None) -> str:
    return "(absent)" if text is None else text


def _render_cells(d) -> list[str]:
    same = [c.name for c in d.cells if c.status == "unchanged"]
    if not d.changed_cells:
        return [f"code: unchanged ({', '.join(same)})" if same else "code: not recorded"]
    out = ["code:"]
    for c in d.changed_cells:
        cell = c.cell_b or c.cell_a
        out.append(f"  {c.name} (cell {cell}): {c.status}")
        out += ["    " + line for line in c.diff.rstrip("\n").splitlines()]
    if same:
        out.append(f"  unchanged: {', '.join(same)}")
    return out


def _render_env(d) -> list[str]:
    from ..commands.env import EnvReport
    from ..environment.record import is_empty
    from .env_commands import diff_lines

    if d.environment is None:
        return ["environment: not recorded by both runs"]
    if is_empty(d.environment):
        return ["environment: unchanged"]
    lines = diff_lines(EnvReport(d.run_a, None, d.run_b, d.environment))[1:]
    return ["environment:"] + ["  " + line for line in lines]


def _render_artifacts(d) -> list[str]:
    out = ["artifacts:"]
    quiet = []
    for t in d.artifacts:
        if t.task_a is None or t.task_b is None:
            out.append(f"  {t.label}: only in {d.run_a if t.task_b is None else d.run_b}")
            continue
        if not t.changes:
            quiet.append(t.label)
            continue
        counts = {s: sum(c.status == s for c in t.changes) for s in ("changed", "added", "removed")}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        out.append(f"  {t.label}: {summary}, {t.unchanged} unchanged")
        out += [f"    {_change_line(c)}" for c in t.changes]
    if quiet:
        out.append(f"  unchanged: {', '.join(quiet)}")
    return out if len(out) > 1 else ["artifacts: none"]


def _change_line(c) -> str:
    if c.status == "added":
        return f"+ {c.name}: {c.repr_b or c.type_b}"
    if c.status == "removed":
        return f"- {c.name}: {c.repr_a or c.type_a}"
    values = f"{c.repr_a} -> {c.repr_b}" if c.repr_a is not None and c.repr_b is not None \
        else f"{c.type_a} -> {c.type_b}"
    return f"~ {c.name}: {values}  (sha {c.sha_a[:12]} -> {c.sha_b[:12]})"
