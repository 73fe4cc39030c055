"""`%nbflow card PATHSPEC [-o card.html] [--force] [--datastore URL]`: a task's card shown
in the notebook (its outputs, as the task displayed them); with -o also written as the
same self-contained HTML page `nbflow card` writes. `run_id/step/task_id` is relative to
this notebook's flow."""
from __future__ import annotations

import argparse

from ..errors import UsageError


def cmd_card(session, shell, rest: list[str]) -> None:
    from IPython.display import display

    from .. import client
    from ..commands.card import card
    from .commands import _qualify

    parser = argparse.ArgumentParser(prog="%nbflow card", add_help=False)
    parser.add_argument("pathspec")
    parser.add_argument("-o", "--output", default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--datastore", default=None)
    args, unknown = parser.parse_known_args(rest)
    if unknown:
        raise UsageError(f"%nbflow card: unknown argument(s) {' '.join(unknown)}; usage: "
                         "%nbflow card PATHSPEC [-o card.html] [--force] [--datastore URL]")
    saved = client._namespace, client._datastore_url
    try:
        client.namespace(None)
        run = session.run   # this notebook's store, where its interactive run is
        client.set_datastore(args.datastore or (run.datastore.url if run else None))
        page = card(_qualify(session, args.pathspec), args.output, force=args.force)
    except client.PathspecError as e:
        raise UsageError(e.message) from None
    finally:
        client._namespace, client._datastore_url = saved
    if args.output:
        print(f"Wrote {args.output}: the card of {page.pathspec}")
    if not page.bundles:
        print(f"(task {page.pathspec} displayed nothing)")
    for data, metadata in page.bundles:
        display(data, raw=True, metadata=metadata)
