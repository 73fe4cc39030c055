"""`%nbflow` arguments: parsed once, by the CLI's own option grammar
(`nbflow.cli.main.build_parser`), and pathspecs relative to this notebook's flow."""
from __future__ import annotations

from ..errors import UsageError


def parse(cmd: str, rest: list[str]):
    """The CLI's options for `cmd`, parsed once (flow parameters stay in `extra`)."""
    from ..cli.main import TAKES_FLOW_PARAMETERS, build_parser

    parser, _ = build_parser()
    args, extra = parser.parse_known_args([cmd, *rest])
    if extra and cmd not in TAKES_FLOW_PARAMETERS:
        raise UsageError(f"%nbflow {cmd}: unrecognized arguments: {' '.join(extra)}")
    return args, extra


def qualify(session, arg: str) -> str:
    """`run_id/step/task_id` (run ids are numbers) is relative to this notebook's flow."""
    if not arg.startswith("-") and arg.count("/") == 2 and arg.split("/")[0].isdigit():
        return f"{session.flow_name()}/{arg}"
    return arg
