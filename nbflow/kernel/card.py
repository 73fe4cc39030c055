"""`%nbflow card PATHSPEC [-o card.html] [--force] [--datastore URL]`: a task's card shown
in the notebook (its outputs, as the task displayed them); with -o also written as the
same self-contained HTML page `nbflow card` writes. `run_id/step/task_id` is relative to
this notebook's flow, read from this notebook's store."""
from __future__ import annotations


def cmd_card(session, shell, rest: list[str]) -> None:
    from ..commands.card import card
    from .args import parse, qualify

    args, _ = parse("card", [qualify(session, a) for a in rest])
    run = session.run   # this notebook's store, where its interactive run is
    datastore = args.datastore or (run.datastore.url if run else None)
    page = card(args.target, args.pathspec, args.output, force=args.force, datastore=datastore)
    if args.output:
        print(f"Wrote {args.output}: the card of {page.pathspec}")
    show(page)


def show(page) -> None:
    """A card's outputs displayed where the code runs (a cell, or a widget's Output)."""
    from IPython.display import display

    if not page.bundles:
        print(f"(task {page.pathspec} displayed nothing)")
    for data, metadata in page.bundles:
        display(data, raw=True, metadata=metadata)


def show_task_card(pathspec: str, datastore: str) -> None:
    """The card of one task (a full pathspec) read from `datastore`, displayed."""
    from ..commands.card import card

    show(card(pathspec, datastore=datastore))
