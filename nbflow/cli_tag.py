"""`nbflow tag add|remove|replace|list PATHSPEC [TAG...]`: a run's user tags, changeable
after the run as in Metaflow (system tags are not)."""
from __future__ import annotations

from .cli_client import _command, client


def add_commands(sub, run_options) -> dict:
    p = sub.add_parser("tag", help="add, remove, replace or list a run's user tags")
    p.add_argument("action", choices=("add", "remove", "replace", "list"))
    p.add_argument("pathspec", help="Flow/run_id")
    p.add_argument("tags", nargs="*", help="tags (replace: OLD NEW)")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default: nearest .nbflow/)")
    return {"tag": cmd_tag}


@_command
def cmd_tag(args, extra) -> int:
    from .commands.tag import tag
    from .datastore.tags import TaggingError
    from .errors import UsageError

    client.namespace(None)
    client.set_datastore(args.datastore)
    try:
        report = tag(args.action, args.pathspec, args.tags, datastore=client.get_datastore())
    except TaggingError as e:
        raise UsageError(f"{args.pathspec}: {e.message}") from None
    print(f"{report.pathspec}")
    print(f"user tags:   {', '.join(report.user_tags) or '(none)'}")
    print(f"system tags: {', '.join(report.system_tags)}")
    return 0
