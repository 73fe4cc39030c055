"""`Task.card`: a list of mime bundles that shows itself as those outputs."""
from __future__ import annotations


class CardView(list):
    """The task's displayed outputs in order: each item is a mime bundle ({mime: value});
    `metadata[i]` is the metadata of item i. As a cell's value it shows every output."""

    def __init__(self, bundles: list[tuple[dict, dict]] = (), pathspec: str = ""):
        super().__init__(data for data, _ in bundles)
        self.metadata = [md for _, md in bundles]
        self.pathspec = pathspec

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if not self:
            display({"text/plain": f"(task {self.pathspec} displayed nothing)"}, raw=True)
        for data, md in zip(self, self.metadata):
            display(data, raw=True, metadata=md)

    def _repr_html_(self) -> str:
        from .html import fragment

        return fragment(list(zip(self, self.metadata)))

    def __repr__(self) -> str:
        kinds = ", ".join(_richest(b) for b in self)
        return f"<card of {self.pathspec or 'a task'}: {len(self)} output(s){': ' if kinds else ''}{kinds}>"


def _richest(bundle: dict) -> str:
    for mime in bundle:
        if mime != "text/plain":
            return mime
    return "text/plain"
