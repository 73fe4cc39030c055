/**
 * Talking to the notebook's kernel outside any cell: nbflow's Python side
 * (`nbflow.kernel.lab`) does the work; nothing here edits the notebook.
 */
import { PageConfig, PathExt } from '@jupyterlab/coreutils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { OutputArea } from '@jupyterlab/outputarea';
import { Kernel, KernelMessage } from '@jupyterlab/services';

export const LAB = "__import__('nbflow.kernel.lab', fromlist=['lab'])";

/** The kernel of a notebook panel, or null. */
export function kernelOf(panel: NotebookPanel): Kernel.IKernelConnection | null {
  return panel.sessionContext.session?.kernel ?? null;
}

/** A Python string literal (JSON's escapes are Python's for what we send). */
export function py(text: string): string {
  return JSON.stringify(text);
}

/** The notebook's file as the kernel can open it: the server's root plus its path. */
export function notebookFile(panel: NotebookPanel): string {
  const root = PageConfig.getOption('serverRoot');
  return root ? PathExt.join(root, panel.context.path) : panel.context.path;
}

/** Does the notebook have a `%%step` cell? (The first line only: the kernel parses headers.) */
export function hasStepCells(panel: NotebookPanel): boolean {
  const cells = panel.context.model?.sharedModel.cells ?? [];
  return cells.some(c => c.cell_type === 'code' && /^\s*%%step\b/.test(c.getSource()));
}

/** Run `code` in the kernel (not in a cell, not in history); its outputs go to `area`. */
export async function runInArea(
  panel: NotebookPanel,
  code: string,
  area: OutputArea
): Promise<KernelMessage.IExecuteReplyMsg['content']> {
  await panel.sessionContext.ready;
  const kernel = kernelOf(panel);
  if (!kernel) {
    throw new Error('This notebook has no kernel: select one, then try again.');
  }
  const future = kernel.requestExecute({ code, store_history: false, stop_on_error: false });
  area.future = future;
  return (await future.done).content;
}

/** Evaluate a Python expression silently (a user expression): its text/plain value. */
export async function ask(panel: NotebookPanel, expression: string): Promise<string> {
  const kernel = kernelOf(panel);
  if (!kernel) {
    throw new Error('no kernel');
  }
  const future = kernel.requestExecute({
    code: '',
    silent: true,
    store_history: false,
    user_expressions: { nbflow: expression }
  });
  const reply = (await future.done).content as KernelMessage.IExecuteReplyMsg['content'] & {
    user_expressions?: Record<string, any>;
  };
  const value = reply.user_expressions?.nbflow;
  if (!value || value.status !== 'ok') {
    throw new Error(value ? `${value.ename}: ${value.evalue}` : 'no answer from the kernel');
  }
  return String(value.data['text/plain'] ?? '');
}

/** Run code silently and return what it printed and its value (for short commands). */
export async function call(
  panel: NotebookPanel,
  code: string
): Promise<{ out: string; value: string }> {
  await panel.sessionContext.ready;
  const kernel = kernelOf(panel);
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
    } else if (KernelMessage.isErrorMsg(msg)) {
      out += `${msg.content.ename}: ${msg.content.evalue}\n`;
    }
  };
  const reply = (await future.done).content;
  if (reply.status === 'error') {
    throw new Error(out.trim() || `${reply.ename}: ${reply.evalue}`);
  }
  return { out, value };
}
