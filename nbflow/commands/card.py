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


def card(pathspec: str, output: str | None = None, *, force: bool = False) -> CardPage:
    """The card of the task named (a step with one task names that task). The client's
    datastore and namespace are the caller's to choose."""
    from ..cards.html import page

    task = _task(pathspec)
    bundles = list(zip(task.card, task.card.metadata))
    status = "successful" if task.successful else "failed"
    when = task.finished_at.strftime("%Y-%m-%d %H:%M:%S") if task.finished_at else ""
    subtitle = f"step {task.step.id}, {status}, finished {when}; {len(bundles)} output(s)"
    text = page(bundles, f"Card of {task.pathspec}", subtitle)
    if output is not None:
        from ..convert.files import write_output

        write_output(text, output, force=force)
    return CardPage(task.pathspec, bundles, text, output)


def _task(pathspec: str):
    from .. import client

    parts = client.parse_pathspec(pathspec)
    if len(parts) == 4:
        return client.Task(pathspec)
    if len(parts) == 3:
        tasks = list(client.Step(pathspec))
        if len(tasks) == 1:
            return tasks[0]
        names = ", ".join(t.pathspec for t in tasks[:3]) + (" ..." if len(tasks) > 3 else "")
        raise UsageError(f"step {pathspec} has {len(tasks)} tasks; name one: {names}")
    raise UsageError(f"'{pathspec}' names a {['flow', 'run'][len(parts) - 1]}; give a task: "
                     "Flow/run_id/step/task_id")
