"""`%%flow Name --schedule daily|hourly|weekly|"CRON" --project NAME`: the hints that
take a notebook to production, checked as Metaflow's @schedule and @project check
them, recorded with every run and exported as those decorators."""
from __future__ import annotations

import re

SCHEDULES = ("hourly", "daily", "weekly")
PROJECT_NAME = re.compile(r"^[a-z0-9_]+$")   # Metaflow's rule for @project(name=...)
PROJECT_NAME_MAX = 128


def check_schedule(value: str) -> str | None:
    """A problem with a --schedule value, or None."""
    if value in SCHEDULES:
        return None
    fields = value.split()
    if len(fields) in (5, 6):
        return None
    return (f"'{value}' is not a schedule: give {', '.join(SCHEDULES)} or a cron expression "
            "in quotes (5 or 6 fields, e.g. \"0 10 * * ? *\" as Metaflow's @schedule(cron=...))")


def check_project(name: str) -> str | None:
    if not PROJECT_NAME.match(name):
        return (f"'{name}' is not a project name: only lowercase letters, digits and '_' "
                "(Metaflow's @project rule)")
    if len(name) > PROJECT_NAME_MAX:
        return f"the project name is longer than {PROJECT_NAME_MAX} characters (Metaflow's limit)"
    return None


def schedule_decorator(value: str) -> str:
    """'daily' -> '@schedule(daily=True)', a cron -> '@schedule(cron="...")'."""
    if value in SCHEDULES:
        return f"@schedule({value}=True)"
    return f'@schedule(cron="{value}")'


def from_decorator(name: str, kwargs: dict) -> tuple[str | None, str | None]:
    """(header option, problem) for Metaflow's @schedule/@project on an imported flow."""
    if name == "project":
        if set(kwargs) - {"name"} or not isinstance(kwargs.get("name"), str):
            return None, "only @project(name=...) has a notebook form"
        problem = check_project(kwargs["name"])
        return (None, problem) if problem else (f"--project {kwargs['name']}", None)
    if kwargs.get("cron"):
        return f'--schedule "{kwargs["cron"]}"', None
    for kind in ("weekly", "hourly", "daily"):
        if kwargs.get(kind):
            return f"--schedule {kind}", None
    return ("--schedule daily", None) if not kwargs else (None, "no schedule given")


def project_context(notebook, user: str) -> dict:
    """What `current` knows of the run's project (Metaflow's names), for every task."""
    fc = notebook.flow_cell
    if fc is None or not fc.project:
        return {}
    branch = f"user.{user}"
    return {"project": {"project_name": fc.project, "branch_name": branch,
                        "project_flow_name": f"{fc.project}.{branch}.{notebook.flow_name}",
                        "is_user_branch": True, "is_production": False}}


def project_tags(notebook, user: str) -> list[str]:
    """The system tags a run of a `--project` notebook gets (Metaflow's @project adds them)."""
    project = project_context(notebook, user).get("project")
    if not project:
        return []
    return [f"project:{project['project_name']}", f"project_branch:{project['branch_name']}"]
