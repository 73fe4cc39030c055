"""`%nbflow compare [FLOW|NOTEBOOK] [--artifact NAME]... [...]`: the experiment table as a
widget (text without widgets), reading this notebook's store unless told otherwise."""
from __future__ import annotations

from ..errors import UsageError
from .session import KernelSession


def cmd_compare(session: KernelSession, shell, rest: list[str]):
    """The CLI's options; the flow defaults to this notebook's; returns the widget."""
    from ..commands.compare import compare
    from ..commands.locate import USER_NAMESPACE
    from .args import parse
    from .widgets import widgets_available

    rest = list(rest)
    if not rest or rest[0].startswith("-"):
        rest.insert(0, session.path or session.flow_name())
    args, _ = parse("compare", rest)
    if args.last is not None and args.last < 1:
        raise UsageError(f"--last must be at least 1, got {args.last}")
    store = args.datastore or _kernel_store(session, args.flow)
    ns = None if args.all else (args.namespace or USER_NAMESPACE)
    table = compare(args.flow, args.artifact, step=args.step, last=args.last, tags=args.tag,
                    status=args.status, datastore=store, namespace=ns)
    if args.csv or not widgets_available():
        from ..cli.compare_commands import print_csv, print_table

        for message in table.warnings:
            print(f"warning: {message}")
        (print_csv if args.csv else print_table)(table.columns, table.rows)
        return None
    from ..datastore import Datastore
    from .widgets.compare import CompareWidget

    return CompareWidget(table, shell, Datastore(table.datastore))


def _kernel_store(session: KernelSession, target: str) -> str | None:
    """A flow named without a store: this notebook's store (as `%nbflow inspect`)."""
    if target.endswith(".ipynb"):
        return None
    if session.run is not None:
        return session.run.datastore.url
    from ..run.runner import datastore_for

    return datastore_for(session.known_spec(session.saved_notebook()), None).url
