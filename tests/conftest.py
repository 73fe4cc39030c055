"""Fixtures shared by the tests; helpers live in tests/helpers.py."""
from __future__ import annotations

import pytest
from helpers import StoreReader


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBFLOW_USER", "tester")
    monkeypatch.delenv("NBFLOW_DATASTORE", raising=False)
    return tmp_path


@pytest.fixture
def store(workdir):
    return StoreReader(workdir / ".nbflow")


@pytest.fixture(autouse=True)
def default_client_context():
    """The client's module-level store and namespace (set_datastore, namespace) are process
    state: every test starts from the defaults, whatever the test before it chose."""
    import sys

    context = sys.modules.get("nbflow.client.context")   # not imported yet: nothing to reset
    if context is not None:
        context.reset_defaults()
    yield
    if "nbflow.client.context" in sys.modules:
        sys.modules["nbflow.client.context"].reset_defaults()
