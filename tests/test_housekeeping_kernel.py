"""Housekeeping in a real kernel: `%nbflow du` on this notebook's flow, and the one-line
notice after a run once the store is bigger than NBFLOW_STORE_WARN."""
from __future__ import annotations

import nbformat
import pytest
from helpers import make_notebook
from nbclient import NotebookClient

pytestmark = pytest.mark.timeout(300)


def test_du_in_the_kernel_and_the_store_size_notice(workdir, monkeypatch):
    path = make_notebook(workdir / "sized.ipynb", [
        "%load_ext nbflow", "%%flow SizedFlow",
        "%%step start -> end\nself.data = bytes(range(256)) * 40", "%%step end\npass"])
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    monkeypatch.setenv("NBFLOW_STORE_WARN", "5KiB")
    monkeypatch.setenv("NBFLOW_NO_WIDGETS", "1")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext nbflow"),
        nbformat.v4.new_code_cell("run = %nbflow run"),
        nbformat.v4.new_code_cell("%nbflow du"),
    ])
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    text = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]
    assert "nbflow: the store " in text[1] and "(over NBFLOW_STORE_WARN, 5.0 KiB)" in text[1]
    assert "`%nbflow du` shows what" in text[1]
    assert "RUN ID" in text[2] and "successful" in text[2] and "SizedFlow:" in text[2]
