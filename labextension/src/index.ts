/**
 * nbflow in JupyterLab: a "Run as flow" toolbar button and an export command.
 * The Python package does the work in the notebook's kernel; this file only asks it to.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  showDialog,
  showErrorMessage,
  ToolbarButton
} from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';

const RUN = 'nbflow:run';
const EXPORT = 'nbflow:export';
const RUN_CELL = '%nbflow run';
// The magics without a visible `%load_ext nbflow` (loading twice does nothing).
const LOAD = "get_ipython().extension_manager.load_extension('nbflow')";

/** Run code in the notebook's kernel, outside any cell: its printed text and its value. */
async function inKernel(panel: NotebookPanel, code: string): Promise<{ out: string; value: string }> {
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    throw new Error('This notebook has no kernel: select one, then try again.');
  }
  const future = kernel.requestExecute({ code, store_history: false });
  let out = '';
  let value = '';
  future.onIOPub = msg => {
    if (KernelMessage.isStreamMsg(msg)) {
      out += msg.content.text;
    } else if (KernelMessage.isExecuteResultMsg(msg)) {
      value = String(msg.content.data['text/plain'] ?? '');
    }
  };
  const reply = (await future.done).content;
  if (reply.status === 'error') {
    throw new Error(`${reply.ename}: ${reply.evalue}`);
  }
  return { out, value };
}

/** Save, then run `%nbflow run` in a cell at the end (added once, reused after): the live
 * widget and the returned Run show where cell outputs do, and the user can delete the cell. */
async function runAsFlow(panel: NotebookPanel): Promise<void> {
  const notebook = panel.content;
  const cells = notebook.model!.sharedModel;
  const last = cells.cells[cells.cells.length - 1];
  if (last?.cell_type !== 'code' || last.getSource().trim() !== RUN_CELL) {
    cells.insertCell(cells.cells.length, { cell_type: 'code', source: RUN_CELL });
  }
  notebook.activeCellIndex = notebook.widgets.length - 1;
  notebook.deselectAll();
  await panel.context.save(); // the run reads the notebook as saved
  await inKernel(panel, LOAD);
  await NotebookActions.run(notebook, panel.sessionContext);
}

/** Save, then write `<notebook>_flow.py` beside the notebook with `nbflow export`, and open it. */
async function exportFlow(app: JupyterFrontEnd, panel: NotebookPanel): Promise<void> {
  await panel.context.save();
  const path = panel.context.path;
  const target = path.replace(/\.ipynb$/, '') + '_flow.py';
  const args = ['export', PathExt.basename(path), '-o', PathExt.basename(target)];
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
    args.push('--force');
  }
  // The CLI's own code, in the kernel (whose folder is the notebook's): exit code as the value.
  const code = `__import__('nbflow.cli').cli.main(${JSON.stringify(args)})`;
  const { out, value } = await inKernel(panel, code);
  if (value !== '0') {
    throw new Error(out || `nbflow export exited with ${value}`);
  }
  Notification.success(out.trim() || `Wrote ${target}`, { autoClose: 8000 });
  await app.commands.execute('docmanager:open', { path: target });
}

function report(what: string, work: Promise<void>): void {
  work.catch(err => showErrorMessage(what, err instanceof Error ? err.message : String(err)));
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbflow-jupyter:plugin',
  description: 'Run a notebook as an nbflow flow; export it to a Metaflow flow.py.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, palette: ICommandPalette | null) => {
    const isEnabled = () => tracker.currentWidget !== null;
    app.commands.addCommand(RUN, {
      label: 'Run as flow',
      caption: 'Save the notebook and run it as a new nbflow run (%nbflow run)',
      isEnabled,
      execute: () => report('Run as flow', runAsFlow(tracker.currentWidget!))
    });
    app.commands.addCommand(EXPORT, {
      label: 'Export notebook to Metaflow flow.py',
      caption: 'Save the notebook and write <notebook>_flow.py beside it (nbflow export)',
      isEnabled,
      execute: () => report('Export to Metaflow', exportFlow(app, tracker.currentWidget!))
    });
    palette?.addItem({ command: RUN, category: 'nbflow' });
    palette?.addItem({ command: EXPORT, category: 'nbflow' });
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel: NotebookPanel) => {
        const button = new ToolbarButton({
          className: 'nbflow-run-button',
          label: 'Run as flow',
          tooltip: 'Save the notebook and run it as a new nbflow run (%nbflow run)',
          onClick: () => report('Run as flow', runAsFlow(panel))
        });
        if (!panel.toolbar.insertAfter('cellType', 'nbflowRun', button)) {
          panel.toolbar.addItem('nbflowRun', button);
        }
        return button;
      }
    });
  }
};

export default plugin;
