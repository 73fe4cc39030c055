"""`nbflow fsck | du | rm | gc`: check a store, see what it holds, delete runs, collect
blobs no run references. Thin: the work is in nbflow/commands/{fsck,du,rm,gc}.py."""
from __future__ import annotations

import sys


def human_size(n) -> str:
    from ..client.summary import human_size as size  # the client loads on use, not at start

    return size(n)


DATASTORE_HELP = "an fsspec URL (default: NBFLOW_DATASTORE, else the nearest .nbflow/)"


def add_commands(sub) -> dict:
    p = sub.add_parser("fsck", help="verify every blob, record and run of the store")
    p.add_argument("--repair", action="store_true",
                   help="move damaged blobs aside (under .damaged/) so a rerun rewrites them")
    p.add_argument("--datastore", default=None, help=DATASTORE_HELP)
    p = sub.add_parser("du", help="bytes per flow, run and step (shared blobs counted once)")
    p.add_argument("target", nargs="?", default="", help="FLOW or FLOW/RUN_ID (default: every flow)")
    p.add_argument("--bytes", action="store_true", help="exact byte counts")
    p.add_argument("--datastore", default=None, help=DATASTORE_HELP)
    p = sub.add_parser("rm", help="delete runs (records and logs; `gc` then frees their blobs)")
    p.add_argument("pathspecs", nargs="+", metavar="PATHSPEC", help="FLOW/RUN_ID, or FLOW with "
                   "--older-than, --keep-last or --interactive")
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted")
    p.add_argument("--interactive", action="store_true", help="only the kernel's interactive runs")
    p.add_argument("--older-than", default=None, metavar="AGE", help="runs started before "
                   "AGE ago (7d, 12h, 30m)")
    p.add_argument("--keep-last", type=int, default=None, metavar="N",
                   help="keep the newest N runs selected, delete the others")
    p.add_argument("--force", action="store_true", help="delete running runs and resume origins too")
    p.add_argument("--datastore", default=None, help=DATASTORE_HELP)
    p = sub.add_parser("gc", help="remove blobs no remaining record references")
    p.add_argument("--grace", default="1d", metavar="AGE",
                   help="never collect a blob younger than this (default 1d; 0 for tests)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed")
    p.add_argument("--datastore", default=None, help=DATASTORE_HELP)
    return {"fsck": cmd_fsck, "du": cmd_du, "rm": cmd_rm, "gc": cmd_gc}


def cmd_fsck(args, extra) -> int:
    from ..commands.fsck import fsck

    report = fsck(args.datastore, repair=args.repair)
    print("\n".join(fsck_lines(report)))
    return 1 if report.damaged else 0


def fsck_lines(report) -> list[str]:
    from ..datastore import fsck as f

    lines = [f"checked {report.blobs} blobs ({human_size(report.blob_bytes)}), {report.records} "
             f"task records and {report.runs} runs in {report.url}"]
    for finding in [x for x in report.findings if x.is_damage]:
        runs = f" (runs: {', '.join(finding.runs)})" if finding.runs else ""
        lines.append(f"{finding.kind.upper()} {finding.path}: {finding.detail}{runs}")
        if finding.moved_to:
            lines.append(f"  moved aside to {finding.moved_to}")
    loose = report.of_kind(f.UNREFERENCED_BLOB)
    if loose:
        lines.append(f"{len(loose)} unreferenced blobs: `nbflow gc` collects them")
    stray = report.of_kind(f.STRAY_FILE)
    lines += [f"stray {x.path}: {x.detail}" for x in stray[:10]]
    if len(stray) > 10:
        lines.append(f"... and {len(stray) - 10} more stray files")
    if not report.damaged:
        lines.append("no damage found")
        return lines
    affected = sorted({r for x in report.findings if x.is_damage for r in x.runs})
    counts = {}
    for x in report.findings:
        if x.is_damage:
            counts[x.kind] = counts.get(x.kind, 0) + 1
    lines.append("damage found: " + ", ".join(f"{n} {k}{'s' if n > 1 else ''}"
                                              for k, n in counts.items())
                 + (f"; runs affected: {', '.join(affected)}" if affected else ""))
    if report.of_kind(f.DAMAGED_BLOB) and not any(x.moved_to for x in report.findings):
        lines.append("`nbflow fsck --repair` moves damaged blobs aside; a rerun or "
                     "`nbflow resume` then writes them again")
    return lines


def cmd_du(args, extra) -> int:
    from ..commands.du import du

    report = du(args.target, args.datastore)
    size = (lambda n: str(n)) if args.bytes else human_size
    parts = [p for p in report.target.split("/") if p]
    if not parts:
        _table(["FLOW", "RUNS", "SIZE", "ALONE"],
               [(r.name, r.count, size(r.size.total), size(r.size.alone)) for r in report.rows])
    elif len(parts) == 1:
        _table(["RUN ID", "STATUS", "TASKS", "SIZE", "ALONE"],
               [(r.name, r.status, r.count, size(r.size.total), size(r.size.alone))
                for r in report.rows])
    else:
        _table(["STEP", "TASKS", "SIZE"], [(r.name, r.count, size(r.size.total))
                                           for r in report.rows])
    if report.total is not None:
        print(f"{report.target}: {size(report.total.total)}, of which {size(report.total.alone)} "
              "only it holds (what `nbflow rm` and then `nbflow gc` would free)")
    blobs, loose = report.unreferenced
    if blobs:
        print(f"unreferenced: {blobs} blobs, {size(loose)} (`nbflow gc` collects them)")
    print(f"store: {size(report.store_bytes)} in {report.url}")
    return 0


def cmd_rm(args, extra) -> int:
    from ..commands.rm import rm

    result = rm(args.pathspecs, dry_run=args.dry_run, interactive=args.interactive,
                older_than=args.older_than, keep_last=args.keep_last, force=args.force,
                datastore=args.datastore)
    verb = "would delete" if result.dry_run else "deleted"
    for pathspec in result.deleted:
        print(f"{verb} run {pathspec}")
    for why in result.refused.values():
        print(f"error: {why}", file=sys.stderr)
    if result.deleted:
        print(f"{verb} {len(result.deleted)} runs ({result.files} files); `nbflow gc` then frees "
              f"{human_size(result.freed_later)} of blobs only they used")
    elif not result.refused:
        print("no run selected")
    return 1 if result.refused else 0


def cmd_gc(args, extra) -> int:
    from ..commands.gc import gc

    result = gc(args.grace, dry_run=args.dry_run, datastore=args.datastore)
    verb = "would remove" if result.dry_run else "removed"
    print(f"{verb} {len(result.collected)} unreferenced blobs and temporary files, "
          f"{human_size(result.freed)} ({result.freed} bytes) freed" if not result.dry_run else
          f"{verb} {len(result.collected)} unreferenced blobs and temporary files, "
          f"{human_size(result.freed)} ({result.freed} bytes)")
    if result.kept_young:
        print(f"kept {result.kept_young} unreferenced blobs younger than the grace period "
              f"(--grace {args.grace})")
    return 0


def _table(headers: list[str], rows: list[tuple]) -> None:
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
