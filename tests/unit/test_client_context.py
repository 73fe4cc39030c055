"""The client is given its store and namespace by a ClientContext; the module-level
set_datastore()/namespace() are a default one, and reset_defaults() puts it back."""
import time

from helpers import create_run_json

from nbflow.client import context as ctxmod
from nbflow.client.core import ClientContext, Flow, store_at


def test_a_context_decides_the_store_and_namespace_whatever_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("NBFLOW_USER", "tester")
    store = store_at(str(tmp_path / "store"))
    mine = create_run_json(store, "CtxFlow", {"created_at": time.time(), "user": "tester"})
    theirs = create_run_json(store, "CtxFlow", {"created_at": time.time() + 1, "user": "other"})
    ctxmod.set_datastore(str(tmp_path / "elsewhere"))
    ctxmod.namespace("user:nobody")
    everyone = ClientContext(store, None)
    assert sorted(r.id for r in Flow("CtxFlow", _context=everyone)) == sorted([mine, theirs])
    assert [r.id for r in Flow("CtxFlow", _context=ClientContext(store, "user:tester"))] == [mine]
    assert ctxmod.get_namespace() == "user:nobody"   # the defaults were not touched
    ctxmod.reset_defaults()
    assert ctxmod.get_namespace() == "user:tester" and not ctxmod.get_datastore().url.endswith("elsewhere")
