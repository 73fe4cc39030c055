/**
 * The nbflow run panel: docked beside its notebook (one per notebook, kept across
 * runs), it shows each run's live graph, status and result, newest first. The
 * outputs are the kernel's own displays, rendered with the notebook's renderers
 * (so ipywidgets work here as in a cell).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { NotebookPanel } from '@jupyterlab/notebook';
import { OutputAreaModel, SimplifiedOutputArea } from '@jupyterlab/outputarea';
import { Panel, Widget } from '@lumino/widgets';

import { ask, LAB, notebookFile, py, runInArea } from './kernel';

const KEEP = 5; // runs listed in a panel; older ones are dropped from it (not from the store)
const panels = new Map<NotebookPanel, RunPanel>();

/** One run in the panel: a heading (when, state, run id) and the kernel's outputs. */
class RunEntry extends Panel {
  readonly heading = new Widget({ node: document.createElement('div') });
  readonly area: SimplifiedOutputArea;
  private readonly started = new Date();

  constructor(panel: NotebookPanel, what: string) {
    super();
    this.addClass('nbflow-run-entry');
    this.heading.addClass('nbflow-run-heading');
    this.area = new SimplifiedOutputArea({
      model: new OutputAreaModel({ trusted: true }),
      rendermime: panel.content.rendermime
    });
    this.addWidget(this.heading);
    this.addWidget(this.area);
    this.setState(what, 'running');
  }

  /** What a click on "inspect" opens: set by the panel. */
  onInspect: ((pathspec: string) => void) | null = null;

  setState(what: string, state: 'running' | 'done' | 'failed', detail = ''): void {
    this.node.dataset.state = state;
    const time = this.started.toLocaleTimeString();
    this.heading.node.textContent = `${time} · ${what} · ${state}${detail ? ' · ' + detail : ''}`;
    const run = state === 'running' ? '' : this.runId();
    if (run && this.onInspect) {   // a link into the artifact browser at this run
      const link = document.createElement('button');
      link.className = 'nbflow-inspect-run';
      link.textContent = 'inspect';
      link.title = `The artifact browser at ${run}`;
      link.onclick = () => this.onInspect?.(run);
      this.heading.node.appendChild(link);
    }
  }

  /** The run's pathspec, from the `Run('Flow/id')` it displays at the end. */
  runId(): string {
    for (let i = 0; i < this.area.model.length; i++) {
      const text = String(this.area.model.get(i).data['text/plain'] ?? '');
      const m = /Run\('([^']+)'\)/.exec(text);
      if (m) {
        return m[1];
      }
    }
    return '';
  }
}

interface IRecentRun {
  pathspec: string;
  status: string;
  started: string;
}

export class RunPanel extends Panel {
  private readonly list = new Panel();
  private readonly recent = new Widget({ node: document.createElement('div') });

  constructor(readonly notebook: NotebookPanel) {
    super();
    this.id = `nbflow-runs-${notebook.id}`;
    this.addClass('nbflow-run-panel');
    this.title.label = `nbflow · ${notebook.title.label}`;
    this.title.caption = `nbflow runs of ${notebook.context.path}`;
    this.title.closable = true;
    const intro = new Widget({ node: document.createElement('div') });
    intro.addClass('nbflow-run-panel-intro');
    intro.node.textContent = `Started here for ${notebook.context.path} (newest first)`;
    this.recent.addClass('nbflow-recent-runs');
    this.addWidget(this.recent);
    this.addWidget(intro);
    this.addWidget(this.list);
    notebook.disposed.connect(() => this.dispose());
    void this.showRecent();
  }

  /** The flow's newest runs in the notebook's store (also those of earlier sessions),
   * each with a link into the artifact browser. */
  async showRecent(): Promise<void> {
    let runs: IRecentRun[];
    try {
      runs = JSON.parse(await ask(this.notebook, `${LAB}.recent_runs(${py(notebookFile(this.notebook))})`));
    } catch {
      return; // no kernel yet, or no nbflow in it: the list stays as it was
    }
    const node = this.recent.node;
    node.replaceChildren();
    if (!runs.length) {
      return;
    }
    const title = document.createElement('div');
    title.className = 'nbflow-recent-title';
    title.textContent = 'Recent runs in the store';
    node.appendChild(title);
    for (const r of runs) {
      const line = document.createElement('div');
      line.className = 'nbflow-recent-run';
      line.dataset.pathspec = r.pathspec;
      line.textContent = `${r.pathspec} · ${r.status} · ${r.started} `;
      const link = document.createElement('button');
      link.className = 'nbflow-inspect-run';
      link.textContent = 'inspect';
      link.title = `The artifact browser at ${r.pathspec}`;
      link.onclick = () => void this.run(`Inspect ${r.pathspec}`, `${LAB}.inspect_at(${py(r.pathspec)})`).catch(() => undefined);
      line.appendChild(link);
      node.appendChild(line);
    }
  }

  /** A new entry on top; the oldest beyond KEEP go. A click on a step of a run's
   * drawing (the live run's or the artifact browser's) opens the artifact browser at
   * that step (its tasks with state and duration, their artifacts, logs and card). */
  entry(what: string): RunEntry {
    const e = new RunEntry(this.notebook, what);
    e.onInspect = at => void this.run(`Inspect ${at}`, `${LAB}.inspect_at(${py(at)})`).catch(() => undefined);
    e.node.addEventListener('click', event => {
      const at = clickedStep(event);
      if (at) {
        e.onInspect?.(at);
      }
    });
    this.list.insertWidget(0, e);
    while (this.list.widgets.length > KEEP) {
      this.list.widgets[this.list.widgets.length - 1].dispose();
    }
    return e;
  }

  /** Run `code` in the kernel with its outputs in a new entry; failures show there. */
  async run(what: string, code: string): Promise<void> {
    const e = this.entry(what);
    try {
      const reply = await runInArea(this.notebook, code, e.area);
      if (reply.status === 'ok') {
        e.setState(what, 'done', e.runId());
      } else {
        e.setState(what, 'failed', e.runId());
      }
    } catch (err) {
      e.setState(what, 'failed', err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      void this.showRecent();
    }
  }
}

/** "Flow/run/step" of a click on a step drawn for a stored run (`svg[data-run]`), else null. */
export function clickedStep(event: Event): string | null {
  const node = (event.target as Element | null)?.closest?.('g.nbflow-node');
  const run = node?.closest('svg.nbflow-graph-svg')?.getAttribute('data-run');
  const step = node?.getAttribute('data-step');
  return run && step ? `${run}/${step}` : null;
}

/** The artifact browser at a run's step, in the notebook's run panel. */
export async function inspectAt(app: JupyterFrontEnd, notebook: NotebookPanel, at: string): Promise<void> {
  await runPanelFor(app, notebook).run(`Inspect ${at}`, `${LAB}.inspect_at(${py(at)})`);
}

/** The notebook's run panel, created and docked at its right on first use. */
export function runPanelFor(app: JupyterFrontEnd, notebook: NotebookPanel): RunPanel {
  let p = panels.get(notebook);
  if (!p || p.isDisposed) {
    p = new RunPanel(notebook);
    panels.set(notebook, p);
    p.disposed.connect(() => panels.delete(notebook));
  }
  if (!p.isAttached) {
    if (app.name === 'JupyterLab') {
      app.shell.add(p, 'main', { mode: 'split-right', ref: notebook.id });
      app.shell.activateById(notebook.id); // both visible; the notebook keeps the focus
    } else {
      // Notebook 7 shows one document in its main area: the panel goes in the right side panel
      app.shell.add(p, 'right', { rank: 500 });
      app.shell.activateById(p.id);
    }
  }
  return p;
}

/** Save the notebook, then run it as a new flow in its kernel; the panel shows it. */
export async function runAsFlow(app: JupyterFrontEnd, notebook: NotebookPanel): Promise<void> {
  await notebook.context.save(); // the run reads the notebook as saved
  const panel = runPanelFor(app, notebook);
  await panel.run('Run as flow', `${LAB}.run_as_flow(${py(notebookFile(notebook))})`);
}

/** The artifact browser for this notebook's flow, in the panel. */
export async function inspect(app: JupyterFrontEnd, notebook: NotebookPanel): Promise<void> {
  await notebook.context.save();
  await runPanelFor(app, notebook).run('Inspect artifacts', `${LAB}.inspect(${py(notebookFile(notebook))})`);
}

/** The graph drawn, coloured by the kernel's interactive run, in the panel. */
export async function showGraph(app: JupyterFrontEnd, notebook: NotebookPanel): Promise<void> {
  await notebook.context.save();
  await runPanelFor(app, notebook).run('Show graph', `${LAB}.show_graph(${py(notebookFile(notebook))})`);
}
