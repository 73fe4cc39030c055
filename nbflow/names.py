"""Names as Python has them, and inputs cut short in messages.

A flow, step or artifact name follows Python's own rules: `str.isidentifier()` (so
`FlöwÄ` and `stép` are names) and not a keyword, normalized as Python normalizes
identifiers (NFKC), so the name in a header and the name in code are one name.
"""
from __future__ import annotations

import keyword
import re
import unicodedata

SHOWN = 80   # characters of an input shown in a message


def normalize(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


def is_name(name: str, keywords_allowed: bool = False) -> bool:
    """A Python identifier (and, unless `keywords_allowed`, not a keyword)."""
    return isinstance(name, str) and name.isidentifier() and (
        keywords_allowed or not keyword.iskeyword(name))


def shorten(text: str, limit: int = SHOWN) -> str:
    """`text`, cut in the middle when longer than `limit` characters (saying how much)."""
    text = str(text)
    if len(text) <= limit:
        return text
    keep = max(limit - 30, 10)
    return f"{text[:keep // 2 + keep % 2]}...({len(text) - keep} characters)...{text[-(keep // 2):]}"


LONG_WORD = 300   # a run of characters without a space this long is an input, not prose
_LONG = re.compile(r"\S{" + str(LONG_WORD + 1) + ",}")


def cut_long_words(text: str) -> str:
    """`text` with every run of more than LONG_WORD non-space characters cut in the middle:
    what an error message quotes of a user's input (a 100 KB pathspec) stays readable."""
    if len(text) <= LONG_WORD:
        return text
    return _LONG.sub(lambda m: shorten(m.group(0)), text)
