/**
 * nbflow in JupyterLab: "Run as flow" (a toolbar button declared in schema/plugin.json,
 * the palette and the notebook's context menu) runs the saved notebook in its kernel and
 * shows the run in a panel beside it; export to Metaflow, inspect artifacts, show the
 * graph; a badge on each step cell; nbflow loaded for a step cell run before
 * `%load_ext nbflow`, with a hint to add it. The Python package does the work in the kernel.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { StepBadges } from './badges';
import { call, hasStepCells, kernelOf, LAB, notebookFile, py } from './kernel';
import { loadBeforeNbflowCells } from './loadext';
import { clickedStep, inspect, inspectAt, runAsFlow, showGraph } from './panel';

const RUN = 'nbflow:run';
const EXPORT = 'nbflow:export';
const INSPECT = 'nbflow:inspect';
const SHOW = 'nbflow:show-graph';

/** Save, then write `<notebook>_flow.py` beside the notebook (wherever the kernel runs), and open it. */
async function exportFlow(app: JupyterFrontEnd, panel: NotebookPanel): Promise<void> {
  await panel.context.save();
  const target = panel.context.path.replace(/\.ipynb$/, '') + '_flow.py';
  const exists = await app.serviceManager.contents.get(target, { content: false }).then(
    () => true,
    () => false
  );
  if (exists) {
    const answer = await showDialog({
      title: 'Export to Metaflow',
      body: `${target} exists. Overwrite it?`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Overwrite' })]
    });
    if (!answer.button.accept) {
      return;
    }
  }
  const force = exists ? 'True' : 'False';
  const { out } = await call(panel, `${LAB}.export_flow(${py(notebookFile(panel))}, force=${force})`);
  Notification.success(out.trim() || `Wrote ${target}`, { autoClose: 8000 });
  await app.commands.execute('docmanager:open', { path: target });
}

function report(what: string, work: Promise<void>): void {
  work.catch(err => showErrorMessage(what, err instanceof Error ? err.message : String(err)));
}

/** Why "Run as flow" cannot run this notebook now, or '' when it can. */
function whyNot(panel: NotebookPanel | null): string {
  if (!panel) {
    return 'Open a notebook first';
  }
  if (!hasStepCells(panel)) {
    return 'This notebook has no %%step cell: nothing to run as a flow';
  }
  if (!kernelOf(panel)) {
    return 'This notebook has no kernel: select one first';
  }
  return '';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbflow-jupyter:plugin',
  description: 'Run a notebook as an nbflow flow in a panel beside it; export it to Metaflow.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, palette: ICommandPalette | null) => {
    const current = () => tracker.currentWidget;
    const hasNotebook = () => current() !== null;
    app.commands.addCommand(RUN, {
      label: 'Run as flow',
      caption: () =>
        whyNot(current()) ||
        'Save the notebook and run it as a new nbflow run; the run shows in a panel beside it',
      isEnabled: () => whyNot(current()) === '',
      execute: () => report('Run as flow', runAsFlow(app, current()!))
    });
    app.commands.addCommand(EXPORT, {
      label: 'Export notebook to Metaflow flow.py',
      caption: 'Save the notebook and write <notebook>_flow.py beside it (nbflow export)',
      isEnabled: hasNotebook,
      execute: () => report('Export to Metaflow', exportFlow(app, current()!))
    });
    app.commands.addCommand(INSPECT, {
      label: 'Inspect nbflow artifacts',
      caption: "The artifact browser at this notebook's flow, in the nbflow panel",
      isEnabled: () => hasNotebook() && kernelOf(current()!) !== null,
      execute: () => report('Inspect artifacts', inspect(app, current()!))
    });
    app.commands.addCommand(SHOW, {
      label: 'Show nbflow graph',
      caption: "The flow's graph, coloured by this kernel's step runs, in the nbflow panel",
      isEnabled: () => hasNotebook() && kernelOf(current()!) !== null,
      execute: () => report('Show graph', showGraph(app, current()!))
    });
    for (const [rank, command] of [RUN, EXPORT, INSPECT, SHOW].entries()) {
      palette?.addItem({ command, category: 'nbflow' });
      app.contextMenu.addItem({ command, selector: '.jp-Notebook', rank: 50 + rank });
    }
    // the button's state (and its tooltip) follows the notebook and its kernel
    const changed = () => app.commands.notifyCommandChanged(RUN);
    tracker.currentChanged.connect(changed);
    loadBeforeNbflowCells(tracker);
    tracker.widgetAdded.connect((_, panel) => {
      new StepBadges(panel);
      // a click on a step of a run drawn in a cell's output (`%nbflow run`): its tasks
      // in the artifact browser, in the run panel
      panel.content.node.addEventListener('click', event => {
        const at = clickedStep(event);
        if (at) {
          report('Inspect artifacts', inspectAt(app, panel, at));
        }
      });
      panel.sessionContext.kernelChanged.connect(changed);
      panel.sessionContext.statusChanged.connect(changed);
      panel.context.model.contentChanged.connect(changed);
    });
  }
};

export default plugin;
