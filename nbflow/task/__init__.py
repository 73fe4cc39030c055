"""The task runtime, inside the task's own process: `python -m nbflow.task` reads one request,
loads inputs lazily, runs the flow cell and the step body, persists `self.*`, and commits the
task record last. Imports neither IPython, widgets nor the scheduler: a task starts fast."""
