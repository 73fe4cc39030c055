/**
 * A `%%step`, `%%flow` or `%nbflow` cell run before `%load_ext nbflow`: just before the
 * cell's own request, the kernel is asked to load nbflow if it has not (`autoload`, the
 * same loading the step badges do), so the cell runs instead of failing with IPython's
 * "Cell magic `%%step` not found"; and, once per notebook, a notification says to add
 * `%load_ext nbflow` as its first cell, so the notebook runs where this extension is not
 * (nbclient, other front ends). Nothing here edits the notebook.
 */
import { Notification } from '@jupyterlab/apputils';
import { INotebookTracker, Notebook, NotebookActions } from '@jupyterlab/notebook';

import { ask, kernelOf, LAB } from './kernel';

const NBFLOW_CELL = /^\s*(%%(step|flow)\b|%nbflow\b)/;

// a toast shows 140 characters at most
export const LOAD_HINT =
  'nbflow was not loaded: JupyterLab loaded it for this cell. Add a first cell ' +
  '`%load_ext nbflow` so the notebook also runs outside JupyterLab.';

export function loadBeforeNbflowCells(tracker: INotebookTracker): void {
  const told = new WeakSet<Notebook>();
  NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
    if (cell.model.type !== 'code' || !NBFLOW_CELL.test(cell.model.sharedModel.getSource())) {
      return;
    }
    const panel = tracker.find(p => p.content === notebook);
    if (!panel || !kernelOf(panel)) {
      return;
    }
    // sent now, so the kernel handles it before the cell's own execute request
    ask(panel, `${LAB}.autoload()`).then(
      loadedHere => {
        if (loadedHere === 'True' && !told.has(notebook)) {
          told.add(notebook);
          Notification.warning(LOAD_HINT, { autoClose: false });
        }
      },
      () => undefined // no nbflow in this kernel's environment: IPython's own error stands
    );
  });
}
