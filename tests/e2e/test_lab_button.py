"""The JupyterLab extension in a real JupyterLab, driven in headless Chromium: the
"Run as flow" toolbar button runs the saved notebook in its kernel and shows the run in
the nbflow panel beside it (the notebook unchanged), step cells carry badges, the button
is disabled where it cannot run, and `nbflow:export` writes `<notebook>_flow.py` beside
the notebook. Screenshots go to tests/e2e/screenshots/.

Needs /usr/bin/chromium (Debian's package; never a browser downloaded by playwright).
NBFLOW_LABEXTENSION=<built extension folder> tests a build instead of the installed one
(e.g. nbflow/labextension after `jlpm build:prod` in labextension/)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import NOTEBOOKS, make_notebook
from test_kernel_graph import CELLS as BRANCH_FOREACH  # a branch, a foreach in one branch

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 180_000   # an upper bound for slow machines, not a measured expectation
SHOTS = Path(__file__).parent / "screenshots"
RUN_BUTTON = '[data-command="nbflow:run"]'

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
    built = os.environ.get("NBFLOW_LABEXTENSION")
    if built:   # a development build first in the extension path
        (home / "jupyter" / "labextensions").mkdir(parents=True)
        (home / "jupyter" / "labextensions" / "nbflow-jupyter").symlink_to(Path(built).resolve())
        env["JUPYTER_PATH"] = str(home / "jupyter")
    return env


@contextlib.contextmanager
def jupyter_server(app: str, home: Path):
    """A real Jupyter server (`jupyterlab` or `notebook`) on a free port, token off, serving
    a fresh folder `home/root`; yields (url, root). Stopped with its kernels and their
    tasks (one process group)."""
    root = home / "root"
    root.mkdir()
    port = free_port()
    with open(home / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", app, "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", f"--ServerApp.root_dir={root}"],
            env=lab_env(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server, home / "server.log")
        yield url, root
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    with jupyter_server("jupyterlab", home) as (url, root):
        yield url, root, home


def wait_for_server(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the jupyter server exited early:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the jupyter server did not start:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def chromium_page(profile: Path):
    """A page of headless Chromium (Debian's), its profile in `profile`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@pytest.fixture
def page(lab, tmp_path):
    with chromium_page(tmp_path / "profile") as p:
        yield p


def open_notebook(page, lab, folder: str, cells: list[str] | None = None,
                  name: str = "hello_world.ipynb") -> tuple:
    """Open a notebook in its own folder (so its own store): `cells`, or a copy of the
    hello-world notebook; with its kernel ready."""
    url, root, _ = lab
    (root / folder).mkdir()
    if cells is None:
        shutil.copy(NOTEBOOKS / name, root / folder)
    else:
        make_notebook(root / folder / name, cells)
    page.goto(f"{url}/lab/workspaces/{folder}/tree/{folder}/{name}")
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


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def cells_of(path: Path) -> list[tuple[str, str]]:
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(path.read_text())["cells"]]


def badge(panel, index: int):
    return panel.locator(".jp-Cell").nth(index).locator(".nbflow-badge")


def click_run(page) -> None:
    """Click Run as flow once it is enabled (the notebook's kernel known)."""
    button = page.locator(f".jp-Toolbar-item {RUN_BUTTON}").first
    button.wait_for(timeout=WAIT_MS)
    wait_until(page, lambda: button.get_attribute("aria-disabled") != "true", "Run as flow enabled")
    button.click()


def run_cell(page, cell, keys: str = "Control+Enter") -> None:
    """Run a cell from its editor; again if a busy page dropped the keys (its prompt still
    reads [ ]: a few seconds later)."""
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(5):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press(keys)
        for _ in range(20):
            if prompt.inner_text().strip() not in ("[ ]:", ""):
                return
            page.wait_for_timeout(250)
    pytest.fail("the cell did not start")


def options(select) -> list[str]:
    """A <select>'s option texts (ipywidgets draws spaces as no-break spaces)."""
    return [t.replace("\xa0", " ") for t in select.locator("option").all_inner_texts()]


def wait_until(page, check, what: str) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        if check():
            return
        page.wait_for_timeout(250)
    pytest.fail(f"timed out waiting for {what}")


def test_run_as_flow_shows_the_run_in_a_panel_and_leaves_the_notebook_alone(lab, page):
    panel, folder = open_notebook(page, lab, "button", BRANCH_FOREACH, "shape.ipynb")
    path = folder / "shape.ipynb"
    cells_before = cells_of(path)
    wait_until(page, lambda: panel.locator(".jp-Cell").count() == len(cells_before),
               "every cell shown")   # the notebook draws its cells progressively
    # the badges come from the kernel's parser: the flow's name, each step's targets
    badge(panel, 0).wait_for(timeout=WAIT_MS)
    assert badge(panel, 0).inner_text() == "flow ShapeFlow"
    assert badge(panel, 3).inner_text() == "step b → each (foreach items) · never run"

    click_run(page)

    runs = page.locator(".nbflow-run-panel")
    runs.wait_for(timeout=WAIT_MS)
    entry = runs.locator(".nbflow-run-entry").first
    entry.locator(".nbflow-run-heading", has_text="done").wait_for(timeout=WAIT_MS)
    nodes = entry.locator("g.nbflow-node")
    assert nodes.count() == 7
    assert entry.locator("g.nbflow-node.nbflow-done").count() == 7
    assert entry.locator("g.nbflow-node[data-step='each'] .nbflow-progress").text_content() == "3/3"
    assert "ShapeFlow/" in entry.locator(".nbflow-run-heading").inner_text()
    assert "total 9" in entry.inner_text()
    shot(page, "run_panel.png")
    # the notebook is unchanged: no cell added, its file holds the same cells
    assert panel.locator(".jp-Cell").count() == len(cells_before)
    assert cells_of(path) == cells_before

    # a click on a drawn step: the artifact browser at that step, in the panel; an
    # artifact of one of its tasks loaded into a kernel variable
    run_id = re.search(r"ShapeFlow/(\d+)", entry.locator(".nbflow-run-heading").inner_text())[1]
    # the panel lists the flow's recent runs in the store, each a link into the browser
    recent = runs.locator(f".nbflow-recent-run[data-pathspec='ShapeFlow/{run_id}']")
    recent.wait_for(timeout=WAIT_MS)
    assert "successful" in recent.inner_text()
    entry.locator("g.nbflow-node[data-step='each']").click()
    browser = runs.locator(".nbflow-run-entry").first
    browser.locator(".nbflow-run-heading", has_text=f"Inspect ShapeFlow/{run_id}/each").wait_for(
        timeout=WAIT_MS)
    tasks = browser.locator(".widget-select select").nth(3)
    wait_until(page, lambda: tasks.locator("option").count() == 3, "the foreach's 3 tasks")
    assert all(re.fullmatch(r"\d+ · done · \d+\.\d\d s", t)   # each with state and duration
               for t in options(tasks))
    tasks.select_option(index=0)
    artifact = browser.locator(".widget-dropdown select").first
    wait_until(page, lambda: artifact.locator("option", has_text="sq").count() == 1, "artifacts")
    artifact.select_option("sq")
    browser.locator("button", has_text="load into variable").click()
    browser.locator(".widget-html", has_text="into sq").wait_for(timeout=WAIT_MS)
    assert f"ShapeFlow/{run_id}/each/" in browser.inner_text()
    shot(page, "artifact_browser.png")

    # one step cell run by hand: its badge says so
    run_cell(page, panel.locator(".jp-Cell").nth(1), "Shift+Enter")
    wait_until(page, lambda: "· done" in badge(panel, 1).inner_text(), "the start badge")
    assert badge(panel, 2).inner_text() == "step a → join · never run"
    shot(page, "step_badges.png")


def test_run_as_flow_shows_a_failed_run_in_the_panel(lab, page):
    cells = [c.replace("self.x = self.n + 1", "raise ValueError('boom')") for c in BRANCH_FOREACH]
    open_notebook(page, lab, "failing", cells, "shape.ipynb")
    click_run(page)
    entry = page.locator(".nbflow-run-panel .nbflow-run-entry").first
    try:
        entry.locator(".nbflow-run-heading", has_text="failed").wait_for(timeout=WAIT_MS)
    finally:
        shot(page, "failed_run.png")
    assert entry.locator("g.nbflow-node.nbflow-failed[data-step='a']").count() == 1
    assert "failed" in entry.locator(".jp-OutputArea-output").last.inner_text()
    # the run's link into the artifact browser: the stored run drawn, its failed step red
    entry.locator(".nbflow-inspect-run").click()
    browser = page.locator(".nbflow-run-panel .nbflow-run-entry").first
    browser.locator(".nbflow-run-heading", has_text="Inspect ShapeFlow/").wait_for(timeout=WAIT_MS)
    browser.locator("g.nbflow-node.nbflow-failed[data-step='a']").wait_for(timeout=WAIT_MS)
    shot(page, "failed_run_inspected.png")


def test_run_as_flow_is_disabled_without_step_cells(lab, page):
    open_notebook(page, lab, "plain", ["print('no steps here')"], "plain.ipynb")
    button = page.locator(f".jp-Toolbar-item {RUN_BUTTON}").first   # a <jp-button>
    button.wait_for(timeout=WAIT_MS)
    assert button.get_attribute("aria-disabled") == "true"
    assert "no %%step cell" in (button.get_attribute("title") or "")


def test_run_as_flow_is_disabled_without_a_kernel(lab, page):
    open_notebook(page, lab, "nokernel", BRANCH_FOREACH, "shape.ipynb")
    button = page.locator(f".jp-Toolbar-item {RUN_BUTTON}").first
    wait_until(page, lambda: button.get_attribute("aria-disabled") != "true", "Run as flow enabled")
    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Shut Down Kernel$")).click()
    accept_kernel_dialog(page)   # "Shut down the kernel?", where asked
    wait_until(page, lambda: button.get_attribute("aria-disabled") == "true", "Run as flow disabled")
    assert "no kernel" in (button.get_attribute("title") or "")
    shot(page, "no_kernel.png")


def test_a_click_on_a_step_drawn_in_a_cell_lists_its_tasks(lab, page):
    """`%nbflow run` in a cell: a click on a drawn step opens the artifact browser at that
    step in the run panel; a click on a step of the browser's drawing opens that step."""
    panel, folder = open_notebook(page, lab, "cellclick",
                                  ["%load_ext nbflow\n%nbflow run shape.ipynb"], "run.ipynb")
    make_notebook(folder / "shape.ipynb", BRANCH_FOREACH)
    run_cell(page, panel.locator(".jp-Cell").first)
    drawn = panel.locator(".jp-Cell").first.locator("svg.nbflow-graph-svg")
    wait_until(page, lambda: drawn.locator("g.nbflow-node.nbflow-done").count() == 7,
               "every step drawn done in the cell")
    run = drawn.get_attribute("data-run")
    drawn.locator("g.nbflow-node[data-step='each']").click()
    runs = page.locator(".nbflow-run-panel")
    browser = runs.locator(".nbflow-run-entry").first
    browser.locator(".nbflow-run-heading", has_text=f"Inspect {run}/each · done").wait_for(
        timeout=WAIT_MS)
    tasks = browser.locator(".widget-select select").nth(3)
    wait_until(page, lambda: tasks.locator("option").count() == 3, "the foreach's 3 tasks")
    assert all(" · done · " in t for t in options(tasks))
    # the chosen task: its summary (state, duration), its logs one click away
    assert re.search(rf"{run}/each/\d+ \(successful, \d+\.\d\d s\)", browser.inner_text())
    browser.locator("button", has_text="logs").click()
    browser.locator(".jp-OutputArea-output", has_text=f"--- {run}/each/").first.wait_for(
        timeout=WAIT_MS)
    shot(page, "cell_graph_click.png")
    # the browser's own drawing of the run: a click on a step opens that step
    browser.locator("svg.nbflow-graph-svg g.nbflow-node[data-step='a']").click()
    runs.locator(".nbflow-run-entry").first.locator(
        ".nbflow-run-heading", has_text=f"Inspect {run}/a · done").wait_for(timeout=WAIT_MS)
    # the notebook that ran the cell: one cell still, its file unchanged by the clicks
    assert panel.locator(".jp-Cell").count() == 1


def test_export_command_writes_flow_py_beside_the_notebook(lab, page):
    panel, folder = open_notebook(page, lab, "export")
    # from the notebook's context menu (the palette has the same commands)
    panel.locator(".jp-Cell").first.click(button="right")
    page.locator(".lm-Menu-item", has_text="Export notebook to Metaflow flow.py").click()

    target = folder / "hello_world_flow.py"
    # the command opens the written file in an editor tab
    page.locator(".lm-TabBar-tab", has_text="hello_world_flow.py").wait_for(timeout=WAIT_MS)
    text = target.read_text()
    assert "class HelloWorldFlow(FlowSpec)" in text
    assert 'self.message = "nbflow says: Hi!"' in text


def context_command(page, panel, label: str) -> None:
    """A command from the notebook's context menu."""
    panel.locator(".jp-Cell").first.click(button="right")
    page.locator(".lm-Menu-item", has_text=label).click()


def test_show_graph_and_inspect_artifacts_from_the_menu(lab, page):
    """"Show nbflow graph" draws the interactive run's states; "Inspect nbflow artifacts"
    opens the browser at the notebook's flow, and its button loads an artifact into a
    variable of the notebook's kernel."""
    panel, folder = open_notebook(page, lab, "commands", BRANCH_FOREACH, "shape.ipynb")
    run_cell(page, panel.locator(".jp-Cell").nth(1), "Shift+Enter")   # start, by hand
    wait_until(page, lambda: "· done" in badge(panel, 1).inner_text(), "the start badge")
    context_command(page, panel, "Show nbflow graph")
    runs = page.locator(".nbflow-run-panel")
    shown = runs.locator(".nbflow-run-entry").first
    shown.locator(".nbflow-run-heading", has_text="Show graph · done").wait_for(timeout=WAIT_MS)
    assert shown.locator("g.nbflow-node.nbflow-done[data-step='start']").count() == 1
    assert shown.locator("g.nbflow-node.nbflow-pending[data-step='a']").count() == 1

    click_run(page)
    heading = runs.locator(".nbflow-run-entry").first.locator(".nbflow-run-heading")
    heading.filter(has_text="Run as flow · done").wait_for(timeout=WAIT_MS)
    run_id = re.search(r"ShapeFlow/(\d+)", heading.inner_text())[1]
    context_command(page, panel, "Inspect nbflow artifacts")
    browser = runs.locator(".nbflow-run-entry").first
    browser.locator(".nbflow-run-heading", has_text="Inspect artifacts · done").wait_for(
        timeout=WAIT_MS)
    selects = browser.locator(".widget-select select")
    assert options(selects.nth(0)) == ["ShapeFlow"]
    wait_until(page, lambda: run_id in options(selects.nth(1)), "the run listed")
    selects.nth(1).select_option(run_id)
    wait_until(page, lambda: "join" in options(selects.nth(2)), "its steps")
    selects.nth(2).select_option("join")
    artifact = browser.locator(".widget-dropdown select").first
    wait_until(page, lambda: "total" in options(artifact), "the join's artifacts")
    artifact.select_option("total")
    browser.locator("button", has_text="load into variable").click()
    browser.locator(".widget-html", has_text="into total").wait_for(timeout=WAIT_MS)
    shot(page, "inspect_artifacts.png")
    # the value is in the notebook's kernel: a new cell prints it
    panel.locator(".jp-Cell").last.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("print('total is', total)")
    page.keyboard.press("Shift+Enter")
    out = panel.locator(".jp-Cell").nth(8).locator(".jp-OutputArea")
    wait_until(page, lambda: "total is 9" in out.inner_text(), "the loaded variable printed")
