"""Moving Python source text in and out of a method body without breaking it.

Re-indenting must leave the inside of multi-line strings alone: a triple-quoted
string's continuation lines are part of its value. `tokenize` tells which lines
those are.
"""
from __future__ import annotations

import io
import tokenize


def string_continuation_lines(text: str) -> set[int]:
    """1-based numbers of the lines that start inside a multi-line string token."""
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # the caller has already parsed the text; a partial answer is the best there is
    return inside


def _map_code_lines(text: str, change) -> str:
    """Apply `change` to every line that does not start inside a multi-line string."""
    keep = string_continuation_lines(text)
    return "\n".join(line if number in keep else change(line)
                     for number, line in enumerate(text.split("\n"), start=1))


def indent(text: str, prefix: str) -> str:
    """Prefix every non-blank line that is not inside a multi-line string."""
    return _map_code_lines(text, lambda line: prefix + _expand_leading_tabs(line)
                           if line.strip() else "")


def dedent(text: str, width: int) -> str:
    """Remove up to `width` columns of leading spaces from the lines outside strings."""
    def change(line: str) -> str:
        line = _expand_leading_tabs(line)
        stripped = line.lstrip(" ")
        return line[min(width, len(line) - len(stripped)):] if stripped else ""

    return _map_code_lines(text, change)


def _expand_leading_tabs(line: str) -> str:
    body = line.lstrip(" \t")
    return line[:len(line) - len(body)].expandtabs(8) + body


def trim_blank_lines(text: str) -> str:
    """Drop blank lines at the start and the end; strip trailing spaces of the last line."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def cut_lines(text: str, spans: list[tuple[int, int]], replacements: dict[int, str] | None = None
              ) -> str:
    """`text` without the 1-based inclusive line `spans`; a span's first line may be
    replaced by `replacements[first]` (which may hold several lines)."""
    replacements = replacements or {}
    lines = text.split("\n")
    drop: set[int] = set()
    for first, last in spans:
        drop.update(range(first, last + 1))
    out = []
    for number, line in enumerate(lines, start=1):
        if number in replacements:
            if replacements[number]:
                out.append(replacements[number])
        elif number not in drop:
            out.append(line)
    return "\n".join(out)


def squeeze_blank_lines(text: str) -> str:
    """At most two blank lines in a row (outside strings, where it matters for style only)."""
    keep = string_continuation_lines(text)
    out: list[str] = []
    blank = 0
    for number, line in enumerate(text.split("\n"), start=1):
        blank = blank + 1 if not line.strip() and number not in keep else 0
        if blank <= 2:
            out.append(line)
    return "\n".join(out)
