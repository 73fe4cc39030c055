"""`nbflow tag add|remove|replace|list PATHSPEC [TAG...]`: a run's user tags, changeable
after the run as in Metaflow (system tags are not)."""
from __future__ import annotations


def add_commands(sub) -> dict:
    p = sub.add_parser("tag", help="add, remove, replace or list a run's user tags")
    p.add_argument("action", choices=("add", "remove", "replace", "list"))
    p.add_argument("pathspec", help="Flow/run_id")
    p.add_argument("tags", nargs="*", help="tags (replace: OLD NEW)")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default: nearest .nbflow/)")
    return {"tag": cmd_tag}


def cmd_tag(args, extra) -> int:
    from ..commands.tag import tag
    from ..commands.text import tag_text

    print(tag_text(tag(args.action, args.pathspec, args.tags, datastore=args.datastore)))
    return 0
