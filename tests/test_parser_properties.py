"""Property-based tests of the parsers that read a user's text: whatever the input, the
header parser and the pathspec parser return a result or raise their own error type,
never anything else. (The blob reader's properties are in test_verify.py.)"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbflow.client.pathspec import PathspecError, parse_pathspec
from nbflow.errors import NotebookError
from nbflow.names import is_identifier
from nbflow.notebook.parse import parse_header

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# pieces a header is made of, so that most examples get past the first check
HEADER_WORDS = ["%%step", "%%flow", " ", "start", "end", "stép", "FlöwÄ", "class", "->", ",",
                "--foreach", "--retry", "--retry-delay", "--timeout", "--catch", "--resources",
                "--pypi", "--pypi-disabled", "--python", "--cache", "--schedule", "--project",
                "items", "1", "0", "-1", "2.5", "nan", "inf", "1e400", "cpu=2", "memory=", "gpu=x",
                "=", "pandas>=2", "'", '"', "\\", "#", "\t", "\n", "\x00", "@daily", "3.11", "é"]


@SETTINGS
@given(st.one_of(st.text(max_size=200),
                 st.lists(st.sampled_from(HEADER_WORDS), max_size=14).map("".join)))
def test_the_header_parser_raises_only_notebook_errors(line):
    try:
        header = parse_header(line, cell=3)
    except NotebookError as e:
        assert e.cell == 3
        return
    assert header.kind in ("step", "flow")
    if header.kind == "step":
        assert header.name.isidentifier()
        assert all(t.isidentifier() for t in header.targets)
    elif header.name is not None:
        assert is_identifier(header.name)


PATH_WORDS = ["/", "Flow", "FlöwÄ", "1796", "run-1_a", "start", "stép", "x", "class", "..", ".",
              "", " ", "-", "\x00", "\n", "*", "é" * 300]


@SETTINGS
@given(st.one_of(st.text(max_size=200), st.none(), st.integers(),
                 st.lists(st.sampled_from(PATH_WORDS), max_size=10).map("".join)),
       st.one_of(st.none(), st.integers(0, 6)))
def test_the_pathspec_parser_raises_only_pathspec_errors(pathspec, depth):
    try:
        parts = parse_pathspec(pathspec, depth)
    except PathspecError as e:
        assert len(str(e)) < 600            # a long input is cut in the message
        return
    assert 1 <= len(parts) <= 5 and (depth is None or len(parts) == depth)
    assert all(p and "/" not in p and p not in (".", "..") for p in parts)
    for i in (0, 2, 4):
        if i < len(parts):
            assert is_identifier(parts[i])
