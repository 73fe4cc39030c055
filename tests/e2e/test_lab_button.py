"""The JupyterLab extension in a real JupyterLab, driven in headless Chromium: the
"Run as flow" toolbar button runs the saved notebook as a new flow in its kernel, and
the `nbflow:export` command writes `<notebook>_flow.py` beside the notebook.

Needs /usr/bin/chromium (Debian's package; never a browser downloaded by playwright)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import NOTEBOOKS

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 180_000   # an upper bound for slow machines, not a measured expectation

pytestmark = [
    pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600),
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is missing: apt-get install -y chromium"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_env(home: Path) -> dict:
    """Settings, workspaces and runtime files in the test's folder; no news popup."""
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, NBFLOW_USER="tester", JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    env.pop("NBFLOW_DATASTORE", None)
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A real JupyterLab server on a free port, token off, serving a fresh folder."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    root.mkdir()
    port = free_port()
    with open(home / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", f"--ServerApp.root_dir={root}"],
            env=lab_env(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server, home / "server.log")
        yield url, root, home
    finally:   # the server, its kernels and their tasks: one process group
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def wait_for_server(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited early:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture
def page(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def open_notebook(page, lab, folder: str) -> tuple:
    """Open a copy of the hello-world notebook in its own folder (so its own store), with
    its kernel ready."""
    url, root, _ = lab
    (root / folder).mkdir()
    shutil.copy(NOTEBOOKS / "hello_world.ipynb", root / folder)
    page.goto(f"{url}/lab/workspaces/{folder}/tree/{folder}/hello_world.ipynb")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for(timeout=WAIT_MS)
    # "idle" can show before a kernel is attached: wait for its name too
    kernel = panel.locator(".jp-Toolbar-kernelName")
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        idle = panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
        if idle and "No Kernel" not in kernel.inner_text():
            return panel, root / folder
        page.wait_for_timeout(250)
    pytest.fail("the notebook's kernel did not start")


def accept_kernel_dialog(page) -> None:
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    if accept.count():
        accept.first.click()


def hello_runs(folder: Path) -> list:
    """The notebook's flow runs (not the kernel's interactive one), from its store."""
    from nbflow.client import Flow, namespace, set_datastore

    set_datastore(str(folder / ".nbflow"))
    namespace(None)
    try:
        return [r for r in Flow("HelloWorldFlow").runs() if not r.is_interactive]
    except KeyError:   # no run of the flow yet
        return []


def test_run_as_flow_button_runs_the_saved_notebook(lab, page):
    home = lab[2]
    panel, folder = open_notebook(page, lab, "button")
    before = {r.id for r in hello_runs(folder)}
    cells_before = panel.locator(".jp-Cell").count()

    panel.locator(".nbflow-run-button button, button.nbflow-run-button").first.click()

    # the button adds one `%nbflow run` cell at the end and runs it; it returns the Run
    last = panel.locator(".jp-Cell").last
    last.locator(".jp-OutputArea-output", has_text="Run('HelloWorldFlow/").wait_for(timeout=WAIT_MS)
    assert panel.locator(".jp-Cell").count() == cells_before + 1
    assert last.locator(".jp-InputArea-editor").inner_text().strip() == "%nbflow run"
    last.locator(".jp-OutputArea-output").last.scroll_into_view_if_needed()
    page.screenshot(path=str(home / "run_as_flow.png"))

    new = [r for r in hello_runs(folder) if r.id not in before]
    assert len(new) == 1, [r.id for r in new]
    run = new[0]
    assert run.successful
    assert run["hello"].task.data.message == "nbflow says: Hi!"
    assert f"Run('HelloWorldFlow/{run.id}')" in last.inner_text()
    # saved first: the file on disk has the run cell the button added
    saved = json.loads((folder / "hello_world.ipynb").read_text())
    assert "".join(saved["cells"][-1]["source"]).strip() == "%nbflow run"

    # a second click reuses that cell: a second run, no second cell
    panel.locator(".nbflow-run-button button, button.nbflow-run-button").first.click()
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(hello_runs(folder)) < len(before) + 2 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert len([r for r in hello_runs(folder) if r.id not in before]) == 2
    assert panel.locator(".jp-Cell").count() == cells_before + 1


def test_export_command_writes_flow_py_beside_the_notebook(lab, page):
    home = lab[2]
    _, folder = open_notebook(page, lab, "export")
    page.keyboard.press("Control+Shift+C")   # the command palette
    page.locator(".lm-CommandPalette-input").fill("Export notebook to Metaflow")
    page.locator(".lm-CommandPalette-item", has_text="Export notebook to Metaflow flow.py").click()

    target = folder / "hello_world_flow.py"
    # the command opens the written file in an editor tab
    page.locator(".lm-TabBar-tab", has_text="hello_world_flow.py").wait_for(timeout=WAIT_MS)
    text = target.read_text()
    assert "class HelloWorldFlow(FlowSpec)" in text
    assert 'self.message = "nbflow says: Hi!"' in text
    page.screenshot(path=str(home / "export.png"))
