"""Tags after the run: `nbflow tag add|remove|replace|list` and Run.add_tag/remove_tag/
replace_tag (Metaflow's names); Flow.runs(*tags), Run.steps(*tags), Step.tasks(*tags)
filter by them; system tags are immutable; bad tags are refused naming them;
concurrent taggers keep each other's tags (one write-once object per change)."""
from __future__ import annotations

import multiprocessing

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

from nbflow.datastore.tags import MAX_TAG_SIZE, TaggingError

CELLS = ["%%step start -> end\nself.x = 1", "%%step end"]


@pytest.fixture
def run_id(workdir):
    nb = make_notebook(workdir / "tagged.ipynb", CELLS)
    res = run_nbflow("run", nb, "--tag", "first", cwd=workdir)
    assert res.returncode == 0, res.stderr
    return run_id_of(res.stdout)


def fresh_run(run_id):
    from nbflow import Run

    return Run(f"TaggedFlow/{run_id}")


def test_run_tag_methods_change_user_tags_and_filters(run_id):
    from nbflow import Flow

    run = fresh_run(run_id)
    assert run.user_tags == {"first"}
    run.add_tag("nightly")
    run.add_tags(["a", "b"])
    run.remove_tag("a")
    run.replace_tag("first", "second")
    assert run.user_tags == {"nightly", "b", "second"}
    assert fresh_run(run_id).user_tags == {"nightly", "b", "second"}   # stored
    assert "user:tester" in run.tags and "user:tester" in run.system_tags
    assert [r.id for r in Flow("TaggedFlow").runs("nightly", "second")] == [run_id]
    assert list(Flow("TaggedFlow").runs("first")) == []
    assert sorted(s.id for s in run.steps("nightly")) == ["end", "start"]
    assert list(run.steps("nope")) == []
    assert len(list(run["start"].tasks("b"))) == 1 and list(run["start"].tasks("nope")) == []


@pytest.mark.parametrize("bad, message", [
    ("", "tags must not be empty strings"),
    ("x" * (MAX_TAG_SIZE + 1), f"is too long: {MAX_TAG_SIZE + 1} > {MAX_TAG_SIZE}"),
    ("user:tester", "'user:tester' is a system tag"),
    ("user:mallory", "'user:mallory' is a system tag"),
    ("interactive", "'interactive' is a system tag"),
])
def test_bad_tags_are_refused_naming_them(run_id, bad, message):
    run = fresh_run(run_id)
    with pytest.raises(TaggingError) as info:
        run.add_tag(bad)
    assert message in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(TaggingError):
        run.remove_tag(bad)
    assert fresh_run(run_id).user_tags == {"first"}


def test_the_cli(workdir, run_id):
    pathspec = f"TaggedFlow/{run_id}"
    res = run_nbflow("tag", "add", pathspec, "x", "y", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "user tags:   first, x, y" in res.stdout
    assert run_nbflow("tag", "replace", f"{pathspec}/start/1", "x", "z", cwd=workdir).returncode == 0
    res = run_nbflow("tag", "remove", pathspec, "first", cwd=workdir)
    assert "user tags:   y, z" in res.stdout
    res = run_nbflow("tag", "list", pathspec, cwd=workdir)
    assert "user tags:   y, z" in res.stdout and "user:tester" in res.stdout
    res = run_nbflow("tag", "remove", pathspec, "user:tester", cwd=workdir)
    assert res.returncode == 2 and "'user:tester' is a system tag" in res.stderr
    res = run_nbflow("tag", "add", pathspec, "", cwd=workdir)
    assert res.returncode == 2 and "tags must not be empty strings" in res.stderr
    res = run_nbflow("tag", "add", "TaggedFlow/999", "x", cwd=workdir)
    assert res.returncode != 0 and "999" in res.stderr


def _tagger(args):
    workdir, run_id, worker = args
    import os

    os.chdir(workdir)
    from nbflow import Run

    run = Run(f"TaggedFlow/{run_id}")
    for i in range(10):
        run.add_tag(f"w{worker}-{i}")


def test_concurrent_taggers_lose_nothing(workdir, run_id):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        pool.map(_tagger, [(str(workdir), run_id, w) for w in range(4)])
    expected = {"first"} | {f"w{w}-{i}" for w in range(4) for i in range(10)}
    assert fresh_run(run_id).user_tags == expected


def test_run_tags_are_checked_before_the_run_starts(workdir):
    nb = make_notebook(workdir / "tagged.ipynb", CELLS)
    for bad, message in [("", "--tag: tags must not be empty strings"),
                         ("user:mallory", "--tag: 'user:mallory' is a system tag"),
                         ("interactive", "--tag: 'interactive' is a system tag"),
                         ("x" * (MAX_TAG_SIZE + 1), f"{MAX_TAG_SIZE + 1} > {MAX_TAG_SIZE}")]:
        res = run_nbflow("run", nb, "--tag", "fine", "--tag", bad, cwd=workdir)
        assert res.returncode == 2 and message in res.stderr, (bad[:20], res.stderr)
    many = [a for i in range(51) for a in ("--tag", f"t{i}")]
    res = run_nbflow("run", nb, *many, cwd=workdir)
    assert res.returncode == 2 and "at most 50 user tags" in res.stderr, res.stderr
    assert not (workdir / ".nbflow").exists()
