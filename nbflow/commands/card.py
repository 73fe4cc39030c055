"""`card PATHSPEC [-o card.html] [--force]`: a task's card as one self-contained HTML page.

A plain function: the CLI writes the page (to -o, else stdout); the kernel's
`%nbflow card` shows the outputs in the notebook."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


@dataclass
class CardPage:
    pathspec: str
    bundles: list          # [(data, metadata)] in order
    html: str
    written: str | None    # the file written (-o), else None


def card(target: str, rest: str | None = None, output: str | None = None, *,
         force: bool = False, datastore: str | None = None) -> CardPage:
    """The card of the task named (a pathspec, or a NOTEBOOK and `rest`; a step with one
    task names that task)."""
    from ..cards.html import page
    from .locate import resolve_target

    ctx, pathspec = resolve_target(target, rest, datastore)
    task = _task(ctx, pathspec)
    bundles = list(zip(task.card, task.card.metadata))
    status = "successful" if task.successful else "failed"
    when = task.finished_at.strftime("%Y-%m-%d %H:%M:%S") if task.finished_at else ""
    subtitle = f"step {task.step.id}, {status}, finished {when}; {len(bundles)} output(s)"
    text = page(bundles, f"Card of {task.pathspec}", subtitle)
    if output is not None:
        from ..convert.files import write_output

        write_output(text, output, force=force)
    return CardPage(task.pathspec, bundles, text, output)


def _task(ctx, pathspec: str):
    from ..client.core import Step, Task, parse_pathspec

    parts = parse_pathspec(pathspec)
    if len(parts) == 4:
        return Task(pathspec, _context=ctx)
    if len(parts) == 3:
        tasks = list(Step(pathspec, _context=ctx))
        if len(tasks) == 1:
            return tasks[0]
        names = ", ".join(t.pathspec for t in tasks[:3]) + (" ..." if len(tasks) > 3 else "")
        raise UsageError(f"step {pathspec} has {len(tasks)} tasks; name one: {names}")
    raise UsageError(f"'{pathspec}' names a {['flow', 'run'][len(parts) - 1]}; give a task: "
                     "Flow/run_id/step/task_id")
