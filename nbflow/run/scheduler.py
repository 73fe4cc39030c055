"""The scheduler: FlowGraph + parameters -> task attempts, N at once, in DAG order.

Event-driven: executors report output and exits as events; the loop takes an
event, records what it means, queues the tasks it unblocked and launches into
free slots. A local executor is pumped by this thread (`executor.pump`: one selector
over every task's pipes, no threads); others report from their threads into a queue.
Nothing here grows with the run's size per task: a foreach's tasks are made as slots
free up (planner.Splits), a join waits holding only its parents' refs, packed.
It never imports nbflow.task: tasks only ever run in their own processes.
"""
from __future__ import annotations

import os
import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import field

from ..cards.stream import MARKER_BYTES
from ..datastore import Datastore, records
from ..datastore.logs import LogWriter, log_path
from ..executors.base import Executor, TaskHandle, kill_group
from ..graph import FlowGraph
from ..lite_dataclass import dataclass
from ..records import EventKind, RunContext, RunEvent, TaskRecord, TaskRequest
from ..task import options as taskopts
from .died import ENDED, ended_record
from .planner import JoinBarrier, PendingTask, Splits, successors, task_key
from .ready import ReadyQueue
from .slots import CpuSlots, machine_cores

Listener = Callable[[RunEvent], None]
LOCAL_EXECUTORS = ("local", "spawn")   # their task pids are process groups on this machine
MAX_LINE = 1 << 16       # a longer line (or output without newlines) is shown in pieces
MAX_EVENTS = 256         # output chunks (64 KiB each at most) waiting for the loop: the
                         # reader threads wait beyond that, and the tasks with them
INFRA_RETRIES = 1                      # retries of a task lost with its worker, at least


@dataclass
class Running:
    task: PendingTask
    request: TaskRequest
    handle: TaskHandle
    started: float
    logs: dict = field(default_factory=dict)   # stream -> LogWriter, made at its first output
    partial: dict = field(default_factory=lambda: {"stdout": b"", "stderr": b""})
    deadline: float | None = None    # --timeout: killed (with its processes) if alive then
    timed_out: bool = False
    ended: str = ""                  # why the run ended it (another task failed; interrupted)
    announced: bool = False          # TASK_STARTED emitted (once its pid is known)


@dataclass
class RunResult:
    run_id: str
    successful: bool
    failed: list[str] = field(default_factory=list)   # pathspecs of failed tasks
    message: str = ""
    ended: list[str] = field(default_factory=list)    # pathspecs of tasks the run's stop ended


class Scheduler:
    def __init__(self, graph: FlowGraph, ds: Datastore, run_id: str, *, params: dict,
                 executor: Executor, max_workers: int | None = None, max_num_splits: int = 100,
                 listeners: list[Listener] | None = None, context: RunContext | None = None,
                 first_task_id: int = 1, follow: bool = True, environments: dict | None = None,
                 cache=None):
        self.graph = graph
        self.cache = cache                   # a StepCache (run/cache.py): --cache
        self.environments = environments or {}   # pinned steps: {step: pinned.launch_info}
        self.follow = follow                 # False: run only the seeded tasks (kernel cells)
        self.ds = ds
        self.run_id = run_id
        self.params = params
        self.executor = executor
        self.max_workers = max_workers or 16
        # --resources cpu=N claims cores, unless the user set --max-workers (see slots.py)
        self.cpu = CpuSlots(None if max_workers else machine_cores())
        self.max_num_splits = max_num_splits
        self.listeners = listeners or []
        self.context = context or RunContext()   # what every task is told (`current`)
        self.events: queue.Queue = queue.Queue(MAX_EVENTS)   # from executors' threads
        claim = getattr(executor, "claim_loop", None)       # or: we run its event loop
        self.pump = executor.pump if claim is not None and claim() else None
        self.inbox: deque = deque()   # events of a pumped executor (read when we pump)
        self.ready = ReadyQueue()
        self.running: dict[str, Running] = {}
        self.barrier = JoinBarrier(graph)    # inputs arriving at joins
        self.next_task_id = first_task_id
        self.done_keys: set[tuple] = set()   # resume: tasks cloned from the origin run
        self.failed: list[str] = []
        self.ended: list[str] = []           # running tasks that stop() ended
        self.stopping = False
        fc = graph.notebook.flow_cell
        self.flow_cell = None if fc is None else fc.to_json()   # sent with every request
        self.step_cells: dict[str, dict] = {}   # step -> its cell as sent; made when first run

    def _step_cell(self, step: str) -> dict:
        """(A kernel's step cell runs one step of a big notebook: only that one is made.)"""
        cell = self.step_cells.get(step)
        if cell is None:
            cell = self.step_cells[step] = self.graph[step].spec.to_json()
        return cell

    # -- public --------------------------------------------------------------
    def emit(self, event: RunEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def run(self, seed: list[PendingTask] | None = None,
            completed: list[TaskRecord] | None = None) -> RunResult:
        """Run from `start` (or from `seed` tasks, after `completed` records: resume)."""
        # resume: tasks already done (cloned) are never enqueued again; what they unblock is
        self.done_keys = {task_key(r.step, r.foreach_stack) for r in completed or []}
        for rec in completed or []:
            self._on_success(rec)
        if seed is None and not completed:
            seed = [PendingTask("start", (), ())]
        for t in seed or []:
            self._enqueue(t)
        try:
            self._loop()
        except KeyboardInterrupt:
            self.stop("ended: the run was interrupted")
            self._drain()
            self.failed.append("interrupted")
        ok = not self.failed
        return RunResult(self.run_id, ok, [f for f in self.failed if f != "interrupted"],
                         "" if ok else "the run was interrupted" if "interrupted" in self.failed
                         else f"task(s) failed: {', '.join(self.failed)}", self.ended)

    def stop(self, reason: str = "") -> None:
        """Start no new task; end the running ones (their records say `reason`)."""
        self.stopping = True
        self.ready.clear()
        for key, r in list(self.running.items()):
            pathspec = f"{self.graph.name}/{self.run_id}/{key}"
            r.ended = r.ended or reason
            if pathspec not in self.ended:  # a second stop (a killed task "failing") kills again
                self.ended.append(pathspec)
            r.handle.kill()

    # -- the loop --------------------------------------------------------------
    def _loop(self) -> None:
        while self.ready or self.running:
            self._launch_ready()
            if not self.running:
                if self.ready:  # only delayed retries are waiting
                    time.sleep(max(0.0, (self.ready.next_due() or 0.0) - time.time()))
                continue
            event = self._next_event(self._wait_time())
            # and the events that came with it, before the launches and checks: a task's
            # start, output and exit often come in one wake-up
            handled = 0
            while event is not None:
                self._handle(*event)
                handled += 1
                event = self._next_event(0, wait=False) if handled < MAX_EVENTS else None
            self._end_overdue()

    def _post(self, event: tuple) -> None:
        if self.pump is not None:
            self.inbox.append(event)
        else:
            self.events.put(event)

    def _next_event(self, timeout: float | None, wait: bool = True) -> tuple | None:
        """The next output or exit, waiting up to `timeout` (None: for one) if `wait`, else
        one come already; None when none came (or only other I/O)."""
        if self.pump is None:
            try:
                return self.events.get(timeout=timeout) if wait else self.events.get_nowait()
            except queue.Empty:
                return None
        if wait and not self.inbox:
            self.pump(timeout)
        return self.inbox.popleft() if self.inbox else None

    def _wait_time(self) -> float | None:
        """Until the next delayed retry may start or the next --timeout deadline."""
        now = time.time()
        times = [r.deadline for r in self.running.values() if r.deadline and not r.timed_out]
        if len(self.running) < self.max_workers:  # else no retry could start anyway
            # only delayed retries: a ready task with no delay waits for a slot (an event),
            # and counting it here would spin this loop instead of blocking
            due = self.ready.next_due()
            if due is not None:
                times.append(due)
        return max(0.0, min(times) - time.time()) if times else None

    def _end_overdue(self) -> None:
        """--timeout: a task still alive past its deadline is killed with its process group."""
        now = time.time()
        for r in self.running.values():
            if r.deadline and not r.timed_out and now >= r.deadline:
                r.timed_out = True
                r.handle.kill()

    def _drain(self) -> None:
        while self.running:
            event = self._next_event(None)
            if event is not None:
                self._handle(*event)

    def _handle(self, kind: str, key: str, payload) -> None:
        r = self.running.get(key)
        if r is None:
            return
        if kind == "started":
            if not r.announced:
                r.announced = True
                self._started(r)
        elif kind == "output":
            self._on_output(r, *payload)
        elif kind == "exit":
            del self.running[key]
            self.cpu.release(key)
            self._on_exit(r, payload)

    def _launch_ready(self) -> None:
        now = time.time()
        self.ready.promote(now)
        while self.ready and len(self.running) < self.max_workers and not self.stopping:
            task = self.ready.take(now, self.cpu.fits)
            if task is None:
                return
            self._launch(task)

    def _enqueue(self, task: PendingTask) -> None:
        if task.key in self.done_keys:
            return
        if not task.task_id:
            task.task_id = str(self.next_task_id)
            self.next_task_id += 1
        self.ready.push(task, self._cpu(task), time.time())

    def _enqueue_splits(self, splits: Splits) -> None:
        """A foreach's tasks: their ids now (in item order, as one at a time would get
        them), the tasks themselves when they are taken."""
        done = self.done_keys   # resume: items whose task was cloned are skipped
        items = range(len(splits)) if not done else \
            [i for i in range(len(splits)) if splits.task_key(i) not in done]
        first = self.next_task_id
        self.next_task_id += len(items)

        def tasks():
            for task_id, i in enumerate(items, first):
                task = splits[i]
                task.task_id = str(task_id)
                yield task

        self.ready.push_many(tasks(), len(items), self._cpu_of(splits.step))

    def _launch(self, task: PendingTask) -> None:
        key = f"{task.step}/{task.task_id}"
        request = self._request(task)
        if self.cache is not None and self._cached(task, request):
            return

        def on_output(stream, chunk, key=key):
            self._post(("output", key, (stream, chunk)))

        def on_exit(code, key=key):
            self._post(("exit", key, code))

        # register before launching: output may arrive before launch() returns
        placeholder = Running(task, request, TaskHandle(), time.time())
        timeout = self.graph[task.step].spec.options.timeout
        if timeout and not task.fallback:
            placeholder.deadline = placeholder.started + timeout + taskopts.KILL_GRACE
        self.running[key] = placeholder
        self.cpu.take(key, self._cpu(task))
        if self.pump is None:
            placeholder.handle = self.executor.launch(request, on_output, on_exit)
        else:   # it may fork while we go on: TASK_STARTED once its pid is known
            placeholder.handle = self.executor.launch(
                request, on_output, on_exit, lambda pid, key=key: self._post(("started", key, pid)))
        if placeholder.handle.pid is not None:
            placeholder.announced = True
            self._started(placeholder)

    def _started(self, r: Running) -> None:
        t = r.task
        self.emit(RunEvent(EventKind.TASK_STARTED, self.run_id, t.step, t.task_id, r.handle.pid,
                           t.attempt, info={"index": _index(t.foreach_stack)}))

    def _request(self, task: PendingTask) -> TaskRequest:
        """The one place a TaskRequest is built."""
        node = self.graph[task.step]
        opts = node.spec.options
        return TaskRequest(
            datastore=self.ds.url, flow=self.graph.name, run_id=self.run_id, step=task.step,
            task_id=task.task_id, attempt=task.attempt,
            parents=task.parents,
            params=self.params, foreach_stack=task.foreach_stack,
            step_cell=self._step_cell(task.step), flow_cell=self.flow_cell,
            notebook_path=self.graph.notebook.path, foreach_var=node.foreach,
            is_join=node.is_join, max_num_splits=self.max_num_splits,
            max_attempts=opts.retry + 1, catch=opts.catch, timeout=opts.timeout,
            resources=opts.resources_dict(), catch_fallback=task.fallback,
            scheduler_pid=os.getpid(), environment=self.environments.get(task.step),
            context=self.context)

    def _cached(self, task: PendingTask, request: TaskRequest) -> bool:
        """--cache: an earlier task with the same code and inputs, reused by reference."""
        clone = self.cache.lookup(request)
        if clone is None:
            return False
        self.emit(RunEvent(EventKind.TASK_CLONED, self.run_id, task.step, task.task_id,
                           successful=True, text=f"Cached: reusing task {clone.origin}",
                           info={"origin": clone.origin, "index": clone.index, "cached": True,
                                 "card": (clone.card or {}).get("count", 0)}))
        if not self.stopping and self.follow:
            self._on_success(clone)
        return True

    # -- output and exits --------------------------------------------------------
    def _on_output(self, r: Running, stream: str, chunk: bytes) -> None:
        lines = (r.partial[stream] + chunk).split(b"\n")
        r.partial[stream] = lines.pop() if chunk else b""   # at EOF (b""), the last is the tail
        cut = len(r.partial[stream]) > MAX_LINE and not r.partial[stream].startswith(MARKER_BYTES)
        if cut:   # no newline in sight: show (and log) what came
            lines.append(r.partial[stream])
            r.partial[stream] = b""
        for i, line in enumerate(lines):
            tail = (cut or not chunk) and i == len(lines) - 1      # no newline after it
            if tail and not line:
                break
            at = line.find(MARKER_BYTES) if stream == "stdout" else -1
            if at >= 0:   # a displayed output (cards/stream.py), maybe after unended text
                if at:
                    self._log(r, stream).write(line[:at])
                    self._emit_line(r, stream, line[:at])
                self.emit(RunEvent(EventKind.TASK_DISPLAY, self.run_id, r.task.step, r.task.task_id,
                                   r.handle.pid, r.task.attempt, stream,
                                   line[at + len(MARKER_BYTES):].decode("utf-8", "replace")))
                continue
            self._log(r, stream).write(line if tail else line + b"\n")
            self._emit_line(r, stream, line)

    def _log(self, r: Running, stream: str) -> LogWriter:
        log = r.logs.get(stream)
        if log is None:
            t = r.task
            log = r.logs[stream] = LogWriter(self.ds, log_path(
                self.ds, self.graph.name, self.run_id, t.step, t.task_id, t.attempt, stream))
        return log

    def _emit_line(self, r: Running, stream: str, line: bytes) -> None:
        self.emit(RunEvent(EventKind.TASK_OUTPUT, self.run_id, r.task.step, r.task.task_id,
                           r.handle.pid, r.task.attempt, stream, line.decode("utf-8", "replace")))

    def _on_exit(self, r: Running, code: int) -> None:
        t = r.task
        for log in r.logs.values():
            log.close()
        rec = records.read_task(self.ds, self.graph.name, self.run_id, t.step, t.task_id,
                                t.attempt)
        if rec is None:  # the process died before its commit: say so in the store
            rec = self._died_record(r, code)
        error = rec.exception or {}
        timed_out = r.timed_out or error.get("type") == "TimeoutException"
        if timed_out and self.executor.name in LOCAL_EXECUTORS:
            kill_group(r.handle.pid)  # what the timed-out task started must not outlive it
        # the record is the commit: a task killed after writing it (while exiting) did
        # its work, and the run agrees with what the store says about the task
        ok = rec.successful
        ended = not ok and error.get("type") == ENDED
        self.emit(RunEvent(EventKind.TASK_FINISHED, self.run_id, t.step, t.task_id, r.handle.pid,
                           t.attempt, successful=ok, text=None if ok else error.get("message"),
                           info={"duration": time.time() - r.started, "exit_code": code,
                                 "index": _index(t.foreach_stack), "ended": ended,
                                 "card": (rec.card or {}).get("count", 0)}))
        if ok:
            if self.cache is not None:
                self.cache.remember(r.request, rec)
            if not self.stopping and self.follow:
                self._on_success(rec)
            return
        if ended:   # listed by stop() already: not a failure of its own
            return
        node = self.graph[t.step]
        if t.attempt < self._retries(node, r, rec) and not self.stopping:
            delay = node.spec.options.retry_delay
            retry = PendingTask(t.step, t.parents, t.foreach_stack, t.task_id, t.attempt + 1,
                                time.time() + delay)
            self.emit(RunEvent(EventKind.TASK_RETRYING, self.run_id, t.step, t.task_id, r.handle.pid,
                               t.attempt + 1, info={"delay": delay}))
            self.ready.push(retry, self._cpu(retry), time.time())
            return
        if node.spec.options.catch and not t.fallback and not self.stopping:
            self._enqueue_catch_fallback(t, rec, code)
            return
        pathspec = f"{self.graph.name}/{self.run_id}/{t.step}/{t.task_id}"
        self.failed.append(pathspec)
        self.stop(f"ended: the run stopped after {pathspec} failed")

    def _enqueue_catch_fallback(self, t: PendingTask, rec: TaskRecord, code: int) -> None:
        """--catch when the last attempt could not catch its own error (it was killed):
        one more attempt, running no user code, stores the recorded error in self.VAR."""
        error = rec.exception or {"type": "TaskFailed", "traceback": "",
                                         "message": f"the task exited with status {code}"}
        self.ready.push(PendingTask(t.step, t.parents, t.foreach_stack, t.task_id,
                                    t.attempt + 1, fallback=error), None, time.time())

    @staticmethod
    def _retries(node, r: Running, rec: TaskRecord) -> int:
        """--retry; a task lost with its machine (not its own fault) is retried once anyway."""
        lost = (rec.exception or {}).get("type") == "WorkerLost"
        return max(node.spec.options.retry, INFRA_RETRIES) if lost else node.spec.options.retry

    def _cpu(self, task: PendingTask) -> float | None:
        return None if task.fallback else self._cpu_of(task.step)

    def _cpu_of(self, step: str) -> float | None:
        return self.graph[step].spec.options.resources_dict().get("cpu")

    def _died_record(self, r: Running, code: int) -> TaskRecord:
        """The record of an attempt that ended without a commit, written exclusively."""
        rec = ended_record(self.graph, r, code)
        if not records.write_task(self.ds, rec):
            # the attempt committed after all (its process ended after its commit):
            # the record in the store is the one word on it
            t = r.task
            return records.read_task(self.ds, self.graph.name, self.run_id, t.step,
                                     t.task_id, t.attempt) or rec
        return rec

    # -- what a finished task unblocks ---------------------------------------------
    def _on_success(self, rec: TaskRecord) -> None:
        tasks = successors(self.graph, rec, self.barrier)
        if isinstance(tasks, Splits):
            self._enqueue_splits(tasks)
            return
        for task in tasks:
            self._enqueue(task)


def _index(stack) -> int | None:
    return stack[-1].index if stack else None
