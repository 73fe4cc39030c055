"""The kernel reads its saved notebook again only when the file changed, and parses it
again only when a cell's source did (a save that only changed outputs reuses it)."""
import json
import os

from nbflow.kernel.session import KernelSession


def _write(path, sources, outputs=0):
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "execution_count": None,
              "outputs": [{"output_type": "stream", "name": "stdout", "text": "x\n"}] * outputs}
             for s in sources]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                "cells": cells}))
    st = path.stat()   # a later write shows as a change even within the clock's resolution
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + outputs * 1000 + len(sources)))


def test_saved_notebook_is_read_again_only_when_its_sources_changed(tmp_path):
    nb = tmp_path / "big.ipynb"
    _write(nb, ["%%step start -> end\nself.x = 1", "%%step end"])
    session = KernelSession({"__session__": str(nb)})
    first = session.saved_notebook()
    assert [s.name for s in first.steps] == ["start", "end"]
    assert session.saved_notebook() is first                  # unchanged file
    _write(nb, ["%%step start -> end\nself.x = 1", "%%step end"], outputs=2)
    assert session.saved_notebook() is first                  # outputs only
    _write(nb, ["%%step start -> mid\nself.x = 1", "%%step mid -> end", "%%step end"], outputs=3)
    now = session.saved_notebook()
    assert [s.name for s in now.steps] == ["start", "mid", "end"] and now.path == str(nb)
    nb.write_text("{ half written")
    assert session.saved_notebook() is None
    nb.unlink()
    assert session.saved_notebook() is None


def test_the_kernel_reads_flow_parameters_as_nbflow_run_does(tmp_path):
    """One parameter precedence and one flow-cell reading (notebook/params.py): `__file__`
    is the notebook's path in the kernel as under `nbflow run` (it was '' in the kernel)."""
    from nbflow.kernel.interactive import flow_parameters
    from nbflow.notebook.params import notebook_parameters
    from nbflow.notebook.parse import read_notebook

    nb = tmp_path / "where.ipynb"
    _write(nb, ["%%flow WhereFlow\nimport os\nhere = Parameter('here', default=os.path.basename(__file__))",
                "%%step start -> end", "%%step end"])
    session = KernelSession({"__session__": str(nb)})
    in_kernel = flow_parameters(session.known_spec(session.saved_notebook()))
    under_run = notebook_parameters(read_notebook(str(nb)))
    assert [p.param.default for p in in_kernel] == [p.param.default for p in under_run] \
        == ["where.ipynb"]
