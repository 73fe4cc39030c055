"""Cards in export: what a step displays becomes its Metaflow card.

    display(x)            -> current.card.append(_nbflow_card(x))
    display(a, b)         -> current.card.extend([_nbflow_card(a), _nbflow_card(b)])
    plt.show()            -> current.card.extend(_nbflow_figures())
    (pyplot used)         -> the same line at the end of the step: figures left open
    from nbflow.cards ... -> from metaflow.cards ... (same component names and arguments)

A step that displays or uses `current.card` gets `@card`. `_nbflow_card` (written once
at module level) picks the Metaflow component at run time: a component stays itself,
a DataFrame becomes a Table, a figure or PNG an Image, Markdown stays Markdown, and
anything else an Artifact (its repr); a display Metaflow has no component for (HTML,
SVG, JavaScript, ...) is marked with a comment naming it."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

NO_COMPONENT = ("HTML", "SVG", "Javascript", "Latex", "Math", "JSON", "Video", "Audio",
                "IFrame", "YouTubeVideo", "GeoJSON")
NOTE = "# nbflow export:"

CARD_HELPER = '''
def _nbflow_card(obj):
    """nbflow export: what display(obj) showed in the notebook, as a Metaflow card component."""
    from metaflow.cards import Artifact, Image, Markdown, MetaflowCardComponent, Table

    if isinstance(obj, MetaflowCardComponent):
        return obj
    if hasattr(obj, "savefig"):
        return Image.from_matplotlib(obj)
    if hasattr(obj, "itertuples") and hasattr(obj, "columns"):
        return Table.from_dataframe(obj)
    for method, component in (("_repr_markdown_", Markdown), ("_repr_png_", Image),
                              ("_repr_jpeg_", Image)):
        form = getattr(obj, method, None)
        form = form() if callable(form) else None
        if isinstance(form, tuple):
            form = form[0]
        if form:
            return component(form)
    return Artifact(obj)
'''.strip("\n")

FIGURES_HELPER = '''
def _nbflow_figures():
    """nbflow export: the open matplotlib figures as card images (plt.show() in a notebook)."""
    import matplotlib.pyplot as plt
    from metaflow.cards import Image

    images = [Image.from_matplotlib(plt.figure(n)) for n in plt.get_fignums()]
    plt.close("all")
    return images
'''.strip("\n")


@dataclass
class CardRewrite:
    body: str
    uses_card: bool = False                   # @card, and `current` imported
    helpers: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def pyplot_aliases(trees: list[ast.Module]) -> set[str]:
    """Names bound to matplotlib.pyplot by imports in these cells."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.asname for a in node.names if a.name == "matplotlib.pyplot" and a.asname}
            elif isinstance(node, ast.ImportFrom) and node.module == "matplotlib" and node.level == 0:
                names |= {a.asname or a.name for a in node.names if a.name == "pyplot"}
    return names


def rewrite_step(body: str, tree: ast.Module, plt_names: set[str]) -> CardRewrite:
    """The step body with its displays sent to Metaflow's card."""
    out = CardRewrite(body)
    out.uses_card = any(isinstance(n, ast.Attribute) and n.attr == "card"
                        and isinstance(n.value, ast.Name) and n.value.id == "current"
                        for n in ast.walk(tree))
    lines = body.split("\n")
    edits = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        new = _display_line(body, node.value, out) or _show_line(node.value, plt_names, out)
        if new is not None:
            edits.append((node.lineno, node.end_lineno, node.col_offset, new))
    for first, last, col, new in sorted(edits, reverse=True):
        lines[first - 1:last] = [lines[first - 1][:col] + new]
    if plt_names and _uses_any(tree, plt_names):
        lines.append(f"current.card.extend(_nbflow_figures())  {NOTE} figures left open")
        out.helpers.add(FIGURES_HELPER)
    out.uses_card = out.uses_card or bool(edits) or bool(out.helpers)
    out.body = "\n".join(lines)
    return out


def _display_line(body: str, call: ast.Call, out: CardRewrite) -> str | None:
    if not (isinstance(call.func, ast.Name) and call.func.id == "display"):
        return None
    if call.keywords or not call.args or any(isinstance(a, ast.Starred) for a in call.args):
        what = ast.get_source_segment(body, call) or "display(...)"
        out.notes.append(f"{what}: display() with options has no Metaflow card form; dropped")
        return f"pass  {NOTE} {what} has no Metaflow card form (dropped)"
    out.helpers.add(CARD_HELPER)
    args = [f"_nbflow_card({ast.get_source_segment(body, a)})" for a in call.args]
    line = (f"current.card.append({args[0]})" if len(args) == 1
            else f"current.card.extend([{', '.join(args)}])")
    unmapped = sorted({a.func.id for a in call.args if isinstance(a, ast.Call)
                       and isinstance(a.func, ast.Name) and a.func.id in NO_COMPONENT})
    if unmapped:
        out.notes.append(f"{', '.join(unmapped)}: no Metaflow card component; the card shows "
                         "its repr")
        line += f"  {NOTE} {', '.join(unmapped)} has no Metaflow card component (shown by its repr)"
    return line


def _show_line(call: ast.Call, plt_names: set[str], out: CardRewrite) -> str | None:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "show" and
            isinstance(func.value, ast.Name) and func.value.id in plt_names):
        return None
    out.helpers.add(FIGURES_HELPER)
    return "current.card.extend(_nbflow_figures())"


def _uses_any(tree: ast.Module, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(tree))


# -- import: a flow.py's cards back to notebook displays ---------------------------------
HELPERS = ("_nbflow_card", "_nbflow_figures")


def unexport(text: str, tree: ast.Module) -> str:
    """What export wrote, undone (line count unchanged): `current.card.append(
    _nbflow_card(x))` -> `display(x)`, `current.card.extend(_nbflow_figures())` ->
    `plt.show()` (dropped where it stood for the figures left open), helpers removed."""
    lines = text.split("\n")
    plt = sorted(pyplot_aliases([tree]))
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in HELPERS and node in tree.body:
            edits.append((node, ""))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            new = _undo_line(text, node.value, lines[node.end_lineno - 1], plt)
            if new is not None:
                edits.append((node, new))
    for node, new in sorted(edits, key=lambda e: e[0].lineno, reverse=True):
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        head = lines[first - 1][:node.col_offset] if new else ""
        lines[first - 1:node.end_lineno] = [head + new] + [""] * (node.end_lineno - first)
    return "\n".join(lines)


def _undo_line(text: str, call: ast.Call, last_line: str, plt: list[str]) -> str | None:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in ("append", "extend")
            and ast.unparse(func.value) == "current.card" and len(call.args) == 1):
        return None
    arg = call.args[0]
    if _helper_call(arg, "_nbflow_figures"):
        if f"{NOTE} figures left open" in last_line or not plt:
            return ""   # nbflow displays the figures left open by itself
        return f"{plt[0]}.show()"
    items = arg.elts if isinstance(arg, ast.List) and func.attr == "extend" else [arg]
    if func.attr == "append" and not _helper_call(arg, "_nbflow_card"):
        return None
    if not items or not all(_helper_call(i, "_nbflow_card") for i in items):
        return None
    shown = [ast.get_source_segment(text, i.args[0]) for i in items]
    return f"display({', '.join(shown)})"


def _helper_call(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
        and node.func.id == name and len(node.args) == (1 if name == "_nbflow_card" else 0)


DISPLAY_MODULES = ("IPython.display", "IPython.core.display", "IPython.core.display_functions")


def drop_display_import(code: str) -> str:
    """`display` taken out of `from IPython.display import ...` lines (the whole line when
    it was the only name): once every display() went to the card, nothing uses it."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    lines = code.split("\n")
    found = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
             and n.module in DISPLAY_MODULES and n.level == 0
             and any(a.name == "display" and a.asname is None for a in n.names)]
    for node in sorted(found, key=lambda n: n.lineno, reverse=True):
        names = [a for a in node.names if not (a.name == "display" and a.asname is None)]
        indent = lines[node.lineno - 1][:node.col_offset]
        new = [f"{indent}from {node.module} import "
               + ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in names)] \
            if names else []
        lines[node.lineno - 1:node.end_lineno] = new
    return "\n".join(lines)


def uses_name(code: str, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(ast.parse(code)))
