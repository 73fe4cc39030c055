"""Parameter, JSONType and IncludeFile (Metaflow's names and arguments), finding
them in the flow cell, and resolving their values: command line > NBFLOW_RUN_* > default."""
from __future__ import annotations

import ast
import json
import os
from typing import Any

from ..errors import ParameterError
from ..lite_dataclass import dataclass


class _JSONTypeClass:
    """`type=JSONType`: the value is parsed as JSON."""

    name = "JSON"

    def __call__(self, value):
        if not isinstance(value, str):
            return value
        return json.loads(value)

    def __repr__(self):
        return "JSONType"


JSONType = _JSONTypeClass()


class Parameter:
    """A run-time value of the flow, readable as `self.<variable>` in every step."""

    IS_FILE = False

    def __init__(self, name: str, help: str | None = None, default: Any = None, type: Any = None,
                 required: bool = False, separator: str | None = None,
                 show_default: bool = True, **kwargs):
        self.name = name
        self.help = help
        self.default = default
        self.required = required
        self.separator = separator
        self.show_default = show_default
        self.kwargs = kwargs
        if type is None:
            type = _infer_type(default)
        self.type = type

    @property
    def env_var(self) -> str:
        return "NBFLOW_RUN_" + self.name.upper().replace("-", "_")

    def __repr__(self):
        return f"{self.__class__.__name__}({self.name!r})"

    def convert(self, raw: Any, origin: str) -> Any:
        """A value from the command line or the environment (a string) -> typed value."""
        if self.separator and isinstance(raw, str):
            return [self._convert_one(v, origin) for v in raw.split(self.separator)]
        return self._convert_one(raw, origin)

    def _convert_one(self, raw: Any, origin: str) -> Any:
        if not isinstance(raw, str):
            return raw
        kind = self.type
        try:
            if kind is bool:
                low = raw.strip().lower()
                if low in ("1", "true", "yes", "y", "on"):
                    return True
                if low in ("0", "false", "no", "n", "off"):
                    return False
                raise ValueError(raw)
            return kind(raw) if kind is not None else raw
        except (ValueError, TypeError) as e:
            wanted = {int: "an integer", float: "a number", bool: "true or false"}.get(
                kind, "JSON" if kind is JSONType else getattr(kind, "__name__", str(kind)))
            detail = f" ({e.msg})" if isinstance(e, json.JSONDecodeError) else ""
            raise ParameterError(f"parameter '{self.name}' ({origin}) needs {wanted}, got "
                                 f"{raw!r}{detail}") from None


class IncludeFile(Parameter):
    """A file read when the run starts; its contents become the artifact."""

    IS_FILE = True

    def __init__(self, name: str, help: str | None = None, default: Any = None,
                 required: bool = False, is_text: bool = True, encoding: str = "utf-8", **kwargs):
        super().__init__(name, help=help, default=default, type=str, required=required, **kwargs)
        self.is_text = is_text
        self.encoding = encoding

    def convert(self, raw: Any, origin: str) -> Any:
        return raw  # the path; read by read_include

    def read(self, path: str) -> Any:
        if not os.path.isfile(path):
            raise ParameterError(f"IncludeFile '{self.name}': file '{path}' not found "
                                 f"(relative paths start at {os.getcwd()})")
        with open(path, "rb") as f:
            data = f.read()
        if not self.is_text:
            return data
        try:
            return data.decode(self.encoding)
        except (UnicodeDecodeError, LookupError) as e:
            raise ParameterError(f"IncludeFile '{self.name}': file '{path}' is not {self.encoding} "
                                 f"text ({e}); use is_text=False for binary files") from None


def _infer_type(default):
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    return str


@dataclass(frozen=True)
class ParamDef:
    """A parameter as found in the flow cell: the artifact and its declaration."""

    artifact: str
    param: Parameter

    @property
    def option(self) -> str:
        return self.param.name


_PREDEFINED = {"Parameter": Parameter, "IncludeFile": IncludeFile, "JSONType": JSONType}


def find_parameters(module_code: str, module_ns: dict | None = None,
                    path: str | None = None) -> list[ParamDef]:
    """Parameters of the flow cell: top-level names bound to Parameter/IncludeFile.

    The calls are evaluated alone (no imports run); a call that needs other names
    of the cell falls back to running the cell once, with `__file__` = `path` (the
    notebook), as in every task."""
    if not module_code.strip():
        return []
    tree = ast.parse(module_code)
    found: list[ParamDef] = []
    for stmt in tree.body:
        variable = param_variable(stmt)
        if variable is None:
            continue
        try:
            value = eval(compile(ast.Expression(stmt.value), "<flow cell>", "eval"),
                         dict(_PREDEFINED))
        except NameError:
            return _parameters_by_running(module_code, module_ns, path)
        except Exception as e:  # noqa: BLE001 - the user's declaration: report it
            raise ParameterError(f"the flow cell's parameter '{variable}' cannot be "
                                 f"created: {type(e).__name__}: {e}") from None
        found.append(ParamDef(variable, value))
    _check_unique(found)
    return found


def param_variable(stmt: ast.stmt) -> str | None:
    """The variable of `x = Parameter(...)` / `x: float = IncludeFile(...)`, else None."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target = stmt.target
    else:
        return None
    call = stmt.value
    if isinstance(target, ast.Name) and isinstance(call, ast.Call) and \
            isinstance(call.func, ast.Name) and call.func.id in ("Parameter", "IncludeFile"):
        return target.id
    return None


def _parameters_by_running(module_code: str, module_ns: dict | None,
                           path: str | None) -> list[ParamDef]:
    from ..task.current import current  # predefined in the flow cell (not in a task here)

    ns = dict(_PREDEFINED, current=current, __file__=path or "") if module_ns is None \
        else module_ns
    try:
        exec(compile(module_code, "<flow cell>", "exec"), ns)  # noqa: S102 - the user's flow cell
    except Exception as e:  # noqa: BLE001 - the user's module code: report it
        raise ParameterError(f"the flow cell failed while its parameters were read: "
                             f"{type(e).__name__}: {e}") from None
    found = [ParamDef(k, v) for k, v in ns.items() if isinstance(v, Parameter)]
    _check_unique(found)
    return found


# options of `nbflow run`/`resume` themselves: a parameter with one of these names could
# never be given on the command line (tests/test_run_core.py keeps this list in step)
RESERVED_OPTIONS = ("max-workers", "max-num-splits", "tag", "executor", "datastore", "namespace",
                    "no-fork", "quiet", "help", "origin-run-id", "with", "scheduler",
                    "datastore-shared", "cache", "no-cache-step")


def _check_unique(found: list[ParamDef]) -> None:
    seen: dict[str, str] = {}
    for p in found:
        if p.option in RESERVED_OPTIONS:
            raise ParameterError(f"parameter '{p.artifact}' uses the option name '--{p.option}', "
                                 "which `nbflow run` uses itself; give the Parameter another name")
        if p.option in seen:
            raise ParameterError(f"parameters '{seen[p.option]}' and '{p.artifact}' both use the "
                                 f"option name '{p.option}'")
        seen[p.option] = p.artifact


def parse_param_args(args: list[str], params: list[ParamDef]) -> dict[str, str]:
    """['--creature', 'cat', '--ratio=0.2'] -> {'creature': 'cat', ...}; unknown -> error."""
    by_option = {p.option: p for p in params}
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        tok = args[i]
        if not tok.startswith("--"):
            raise ParameterError(f"unexpected argument '{tok}'; parameters are given as --NAME VALUE")
        opt, eq, val = tok[2:].partition("=")
        if opt not in by_option:
            known = ", ".join("--" + o for o in by_option) or "none (this flow has no parameters)"
            raise ParameterError(f"unknown parameter '--{opt}'; known parameters: {known}")
        if eq:
            i += 1
        elif i + 1 < len(args) and not (args[i + 1].startswith("--") and by_option[opt].param.type is bool):
            val, i = args[i + 1], i + 2
        elif by_option[opt].param.type is bool:
            val, i = "true", i + 1
        else:
            raise ParameterError(f"parameter '--{opt}' needs a value")
        out[opt] = val
    return out


def _call_default(p: ParamDef, fn, flow_name: str | None = None) -> Any:
    """A function as default: called when the run starts; Metaflow's deploy-time
    functions take a context (parameter_name, user_name, flow_name)."""
    import inspect
    from types import SimpleNamespace

    try:
        takes_context = len(inspect.signature(fn).parameters) > 0
    except (TypeError, ValueError):
        takes_context = False
    ctx = SimpleNamespace(parameter_name=p.option, flow_name=flow_name,
                          user_name=os.environ.get("NBFLOW_USER") or os.environ.get("USER"))
    try:
        return fn(ctx) if takes_context else fn()
    except Exception as e:  # noqa: BLE001 - the user's function: report it
        raise ParameterError(f"parameter '{p.option}': its default function failed: "
                             f"{type(e).__name__}: {e}") from None


def resolve_values(params: list[ParamDef], given: dict[str, Any],
                   environ: dict[str, str] | None = None,
                   flow_name: str | None = None) -> dict[str, Any]:
    """Artifact name -> value, in the order: given, NBFLOW_RUN_<OPTION>, default.

    IncludeFile values are the file contents, read now."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    missing = []
    for p in params:
        decl = p.param
        if p.option in given:
            raw, origin = given[p.option], f"--{p.option}"
        elif decl.env_var in environ:
            raw, origin = environ[decl.env_var], decl.env_var
        elif decl.default is not None:
            raw, origin = decl.default, "default"
            if callable(raw) and not isinstance(raw, type):
                raw = _call_default(p, raw, flow_name)
        else:
            if decl.required:
                missing.append(p)
            values[p.artifact] = None
            continue
        value = decl.convert(raw, origin)
        if decl.IS_FILE:
            value = decl.read(value)
        elif decl.type is JSONType and isinstance(value, str) and origin == "default":
            value = decl.convert(value, origin)
        values[p.artifact] = value
    if missing:
        names = ", ".join(f"--{p.option}" for p in missing)
        raise ParameterError(f"missing required parameter(s): {names} (give them on the command "
                             f"line, or set {', '.join(p.param.env_var for p in missing)})")
    return values


def notebook_parameters(notebook) -> list[ParamDef]:
    """The parameters of a NotebookSpec's flow cell (run with `__file__` = the notebook)."""
    try:
        return find_parameters(notebook.module_code, path=notebook.path)
    except SyntaxError as e:
        cell = notebook.flow_cell.cell if notebook.flow_cell else None
        raise ParameterError(f"the flow cell does not parse: {e}", cell=cell) from None


def describe_parameters(params: list[ParamDef]) -> str:
    """Each parameter as `--option TYPE  help (default: V; or NBFLOW_RUN_...)`, one a line:
    what `nbflow run NOTEBOOK --help` and `nbflow show` list."""
    lines = []
    for p in params:
        decl = p.param
        kind = "FILE" if decl.IS_FILE else getattr(decl.type, "__name__", str(decl.type)).upper()
        if decl.required:
            default = "required"
        else:
            default = f"default: {decl.default!r}" if decl.show_default else "has a default"
        text = f"  --{p.option} {kind}"
        lines.append(f"{text:<28} {decl.help or ''} ({default}; env {decl.env_var}; "
                     f"self.{p.artifact})".replace("  (", " ("))
    return "\n".join(lines)
