"""Names as users write them: identifiers by Python's own rule, "did you mean", and user
input cut to a readable length before it goes into a message."""
from __future__ import annotations

import keyword

SHOWN = 80   # characters of a user's input quoted in a message


def is_identifier(name: str) -> bool:
    """Python's rule (`stép`, `FlöwÄ` are fine), and not a keyword."""
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def did_you_mean(name: str, options) -> str | None:
    """The closest of `options` to a mistyped `name`, if one is close."""
    import difflib  # only on an error path

    close = difflib.get_close_matches(name, list(options), n=1)
    return close[0] if close else None


def nearby(name: str, options: list[str], kind: str, where: str) -> str:
    """A "not found" message: what is missing, where, the closest name, and what is there."""
    close = did_you_mean(name, options)
    hint = f" (did you mean '{close}'?)" if close else ""
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "") if options else "none"
    return f"no {kind} '{shorten(name)}' in {where}{hint}; {kind}s there: {shown}"


def shorten(text: str, limit: int = SHOWN) -> str:
    """`text` as quoted in a message: at most `limit` characters, saying how much was cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


LONG_WORD = 300   # a run of characters without a space this long is an input, not prose
_LONG = None


def cut_long_words(text: str) -> str:
    """`text` with every run of more than LONG_WORD non-space characters shortened: what
    any error message quotes of a user's input (a 100 KB pathspec) stays readable."""
    global _LONG
    if len(text) <= LONG_WORD:
        return text
    if _LONG is None:
        import re

        _LONG = re.compile(r"\S{" + str(LONG_WORD + 1) + ",}")
    return _LONG.sub(lambda m: shorten(m.group(0)), text)
