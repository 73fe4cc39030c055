"""Environments: what a run ran with (capture), and the pinned environments that
`--pypi` steps run in (requirements, build/cache with uv, the task runtime in them)."""
