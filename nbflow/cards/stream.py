"""How a task's displays travel with its stdout to the kernel: one marker line each.

A line that starts with MARKER carries one stored bundle as JSON (large forms are blob
references in the task's datastore). The scheduler turns such lines into `task_display`
events and keeps them out of the stdout log. Tasks write them only when asked
(`card_stream` in the request: the kernel's cell-by-cell runs)."""
from __future__ import annotations

MARKER = "\x1fnbflow-display\x1f"
MARKER_BYTES = MARKER.encode()
