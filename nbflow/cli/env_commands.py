"""`nbflow env PATHSPEC [--diff OTHER]`: print a run's environment, or what changed."""
from __future__ import annotations


def add_commands(sub) -> dict:
    p = sub.add_parser("env", help="the environment a run ran with (Python, platform, "
                                   "packages), or what changed (--diff)")
    p.add_argument("target", nargs="?", default=None, help="PATHSPEC (Flow/run_id), or a NOTEBOOK")
    p.add_argument("pathspec", nargs="?", default=None, help="after a NOTEBOOK: run_id")
    p.add_argument("--diff", nargs="+", default=None, metavar="RUN",
                   help="RUN_B: what changed from the run given to RUN_B (Flow/run_id, or a run "
                        "id of the same flow); or --diff RUN_A RUN_B")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default: nearest .nbflow/)")
    return {"env": cmd_env}


def env_runs(args) -> tuple[str, str | None, str | None]:
    """(target, rest, other) for commands.env.env from `env A [--diff B]`,
    `env --diff A B` and `env NOTEBOOK|FLOW --diff A B` (A then B: what changed from A to B)."""
    from ..errors import UsageError

    usage = ("env PATHSPEC [--diff OTHER], env [NOTEBOOK|FLOW] --diff RUN_A RUN_B, or env "
             "NOTEBOOK RUN_ID [--diff OTHER]")
    diff = args.diff or []
    if len(diff) > 2 or (len(diff) == 2 and args.pathspec is not None):
        raise UsageError(f"--diff takes one run, or two without a run before it: {usage}")
    if len(diff) == 2:
        if args.target is None:
            return diff[0], None, diff[1]
        if args.target.endswith(".ipynb"):
            return args.target, diff[0], diff[1]   # the notebook's flow: two run ids
        if "/" in args.target.strip("/"):
            raise UsageError(f"--diff takes one run after a run: {usage}")
        return f"{args.target.strip('/')}/{diff[0]}", None, diff[1]   # FLOW, two run ids
    if args.target is None:
        raise UsageError(f"name a run: {usage}")
    return args.target, args.pathspec, diff[0] if diff else None


def cmd_env(args, extra) -> int:
    from ..commands.env import env

    target, rest, other = env_runs(args)
    report = env(target, rest, other, datastore=args.datastore)
    lines = (diff_lines(report) if report.other else environment_lines(report.pathspec,
                                                                        report.environment))
    print("\n".join(lines))
    return 0


def environment_lines(pathspec: str, env: dict | None) -> list[str]:
    if env is None:
        return [f"{pathspec}: no environment recorded (the run predates environment records)"]
    lines = [f"run {pathspec}"]
    if env.get("python"):
        packages = env.get("packages") or {}
        lines += [f"python      {env['python']} ({env.get('implementation', '?')})",
                  f"platform    {env.get('platform', '?')}",
                  f"executable  {env.get('executable', '?')}",
                  f"packages    {len(packages)}"]
        lines += [f"  {name} {version}" for name, version in packages.items()]
    for step, pinned in (env.get("steps") or {}).items():
        reqs = " ".join(pinned["requirements"]) or "(none)"
        lines.append(f"step {step}: --pypi {reqs}; python {pinned.get('python') or '?'}; "
                     f"{len(pinned['packages'])} packages")
        lines += [f"  {name} {version}" for name, version in pinned["packages"].items()]
    return lines


def diff_lines(report) -> list[str]:
    from ..environment.record import is_empty

    diff = report.diff
    head = f"environment {report.pathspec} -> {report.other}"
    if is_empty(diff):
        return [head, "no difference"]
    lines = [head]
    lines += [f"{field}: {old} -> {new}" for field, (old, new) in diff["fields"].items()]
    if any(diff["packages"].values()):
        lines.append("packages:")
        lines += _package_lines(diff["packages"])
    for step, d in diff["steps"].items():
        was, now = d["pinned"]
        state = "" if was and now else (" (now pinned)" if now else " (no longer pinned)")
        lines.append(f"step {step}{state}:")
        old, new = (" ".join(r or []) or "(none)" for r in d["requirements"])
        if old != new:
            lines.append(f"  --pypi {old} -> {new}")
        if d["python"][0] != d["python"][1]:
            lines.append(f"  python {d['python'][0]} -> {d['python'][1]}")
        lines += _package_lines(d["packages"])
    return lines


def _package_lines(pkgs: dict) -> list[str]:
    return ([f"  + {n} {v}" for n, v in pkgs["added"].items()]
            + [f"  - {n} {v}" for n, v in pkgs["removed"].items()]
            + [f"  ~ {n} {a} -> {b}" for n, (a, b) in pkgs["changed"].items()])
