"""Objects -> mime bundles as a notebook shows them (nbflow.cards.bundle), the components,
and the card page, in process (fast)."""
from __future__ import annotations

import base64

import pytest

from nbflow.cards import Artifact, Image, Markdown, Table, VegaChart
from nbflow.cards.bundle import UnkeepableOutput, bundle_of
from nbflow.cards.html import page

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 20


def test_ipython_rich_objects_give_the_forms_a_notebook_shows():
    from IPython.display import HTML, JSON, SVG, Latex
    from IPython.display import Image as IPyImage
    from IPython.display import Markdown as IPyMarkdown

    assert bundle_of(IPyMarkdown("*hi*"))[0]["text/markdown"] == "*hi*"
    assert bundle_of(HTML("<b>x</b>"))[0]["text/html"] == "<b>x</b>"
    assert "<svg" in bundle_of(SVG('<svg xmlns="http://www.w3.org/2000/svg"></svg>'))[0][
        "image/svg+xml"]
    assert bundle_of(Latex(r"$x^2$"))[0]["text/latex"] == r"$x^2$"
    assert bundle_of(JSON({"a": 1}))[0]["application/json"] == {"a": 1}
    data, md = bundle_of(IPyImage(PNG, width=40))
    assert base64.b64decode(data["image/png"]) == PNG and md["image/png"] == {"width": 40}
    assert all("text/plain" in bundle_of(o)[0] for o in (HTML("x"), IPyMarkdown("y")))


def test_dataframe_mimebundle_include_exclude_and_plain_values():
    pd = pytest.importorskip("pandas")
    data, _ = bundle_of(pd.DataFrame({"a": [1]}))
    assert "<table" in data["text/html"] and "a" in data["text/plain"]

    class Both:
        def _repr_mimebundle_(self, include=None, exclude=None):
            return {"text/markdown": "**m**"}, {"text/markdown": {"k": 1}}

        def _repr_html_(self):
            return "<i>h</i>"

    data, md = bundle_of(Both())
    assert data["text/markdown"] == "**m**" and data["text/html"] == "<i>h</i>"
    assert md == {"text/markdown": {"k": 1}}
    assert set(bundle_of(Both(), exclude={"text/html"})[0]) == {"text/markdown", "text/plain"}
    assert bundle_of([1, 2])[0] == {"text/plain": "[1, 2]"}
    assert bundle_of(Both)[0] == {"text/plain": repr(Both)}   # a class: its name only


def test_reprs_that_raise_are_named_and_unkeepable_forms_refused(capsys):
    class NoRepr:
        def __repr__(self):
            raise RuntimeError("boom")

    data, _ = bundle_of(NoRepr())
    assert data["text/plain"].endswith("NoRepr object: its repr raised RuntimeError: boom>")

    class Bad:
        def _repr_png_(self):
            return 42

    with pytest.raises(UnkeepableOutput, match=r"Bad: its image/png form is of type int"):
        bundle_of(Bad())
    assert issubclass(UnkeepableOutput, TypeError)


def test_components_have_metaflow_names_and_show_as_rich_outputs():
    assert bundle_of(Markdown("# T"))[0]["text/markdown"] == "# T"
    table = bundle_of(Table([["a", 1], ["b", Markdown("x")]], headers=["k", "v"]))[0]
    assert "<th>k</th>" in table["text/html"] and "<td>1</td>" in table["text/html"]
    assert table["text/plain"].splitlines()[0].split() == ["k", "v"]
    img = bundle_of(Image(PNG, label="dots"))[0]
    assert base64.b64decode(img["image/png"]) == PNG and "dots" in img["text/plain"]
    art = bundle_of(Artifact({"x": 1}, name="cfg"))[0]
    assert art["text/plain"] == "cfg: {'x': 1}"
    vega = bundle_of(VegaChart({"mark": "bar", "data": {"values": []}}))[0]
    assert vega["application/vnd.vegalite.v5+json"]["mark"] == "bar"
    pd = pytest.importorskip("pandas")
    t = Table.from_dataframe(pd.DataFrame({"n": [1, 2]}))
    assert t.headers == ["n"] and t.data == [[1], [2]]


def test_the_page_is_self_contained():
    bundles = [bundle_of(Markdown("# Title")), bundle_of(Image(PNG)),
               bundle_of(VegaChart({"mark": "bar"})), ({"text/plain": "<b>not html</b>"}, {})]
    text = page(bundles, "Card of F/1/start/1", "step start")
    assert text.startswith("<!DOCTYPE html>") and "<title>Card of F/1/start/1</title>" in text
    assert 'src="data:image/png;base64,' in text and "&lt;b&gt;not html&lt;/b&gt;" in text
    assert "<script" not in text and "http" not in text.replace("http://www.w3.org", "")
    assert "This task displayed nothing" in page([], "Card", "")


def test_objects_with_their_own_repr_methods_and_the_default_limit(monkeypatch):
    class Rich:
        def _repr_png_(self):
            return PNG

        def _repr_svg_(self):
            return "<svg></svg>"

        def _repr_markdown_(self):
            return "**md**", {"isolated": True}

    data, md = bundle_of(Rich())
    assert base64.b64decode(data["image/png"]) == PNG and data["image/svg+xml"] == "<svg></svg>"
    assert data["text/markdown"] == "**md**" and md == {"text/markdown": {"isolated": True}}
    assert data["text/plain"].startswith("<")

    from nbflow.cards.capture import card_limit

    monkeypatch.delenv("NBFLOW_CARD_LIMIT", raising=False)
    assert card_limit() == 50 << 20
    monkeypatch.setenv("NBFLOW_CARD_LIMIT", "2GB")
    assert card_limit() == 2 << 30
