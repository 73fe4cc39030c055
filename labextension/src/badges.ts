/**
 * Step-aware cells: a small header on each `%%step` cell (its step, its targets, its
 * state in the kernel's interactive run) and on the `%%flow` cell (the flow's name).
 * The kernel parses the headers (`nbflow.kernel.lab.cells_info`): no parser here.
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { ask, kernelOf, LAB, py } from './kernel';

const MAGIC = /^\s*%%(step|flow)\b/;
const DELAY = 600; // ms after the last edit before asking the kernel again

interface ICellInfo {
  kind: 'step' | 'flow' | null;
  name?: string | null;
  targets?: string[];
  foreach?: string | null;
  state?: string | null;
  error?: string;
}

function badgeText(info: ICellInfo): string {
  if (info.error) {
    return `${info.kind}: ${info.error}`;
  }
  if (info.kind === 'flow') {
    return `flow ${info.name ?? '(named after the notebook)'}`;
  }
  let text = `step ${info.name}`;
  if (info.targets && info.targets.length) {
    text += ` → ${info.targets.join(', ')}`;
    if (info.foreach) {
      text += ` (foreach ${info.foreach})`;
    }
  }
  return `${text} · ${info.state}`;
}

function setBadge(cell: Cell, info: ICellInfo | null): void {
  let badge = cell.node.querySelector(':scope > .nbflow-badge') as HTMLElement | null;
  if (!info || !info.kind) {
    badge?.remove();
    return;
  }
  if (!badge) {
    badge = document.createElement('div');
    badge.className = 'nbflow-badge';
    const input = cell.node.querySelector(':scope > .jp-Cell-inputWrapper');
    cell.node.insertBefore(badge, input);
  }
  badge.textContent = badgeText(info);
  badge.dataset.kind = info.kind;
  badge.dataset.state = info.error ? 'error' : String(info.state ?? '');
  badge.dataset.step = info.kind === 'step' ? String(info.name ?? '') : '';
}

/** Keeps one notebook's badges up to date: after each execution and after edits. */
export class StepBadges {
  private timer = 0;

  constructor(private readonly panel: NotebookPanel) {
    const later = () => this.schedule();
    panel.context.ready.then(later);
    panel.sessionContext.ready.then(later);
    panel.sessionContext.kernelChanged.connect(later);
    panel.context.model.contentChanged.connect(later);
    NotebookActions.executed.connect(this.onExecuted, this);
    panel.disposed.connect(() => NotebookActions.executed.disconnect(this.onExecuted, this));
  }

  private onExecuted(_: unknown, args: { notebook: unknown }): void {
    if (args.notebook === this.panel.content) {
      this.schedule();
    }
  }

  schedule(): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.refresh(), DELAY);
  }

  async refresh(): Promise<void> {
    if (this.panel.isDisposed) {
      return;
    }
    const cells = this.panel.content.widgets.filter(
      c => c.model.type === 'code' && MAGIC.test(c.model.sharedModel.getSource())
    );
    for (const c of this.panel.content.widgets) {
      if (!cells.includes(c)) {
        setBadge(c, null);
      }
    }
    if (!cells.length || !kernelOf(this.panel)) {
      return;
    }
    const sources = cells.map(c => c.model.sharedModel.getSource());
    let infos: ICellInfo[];
    try {
      infos = JSON.parse(await ask(this.panel, `${LAB}.cells_info(${py(JSON.stringify(sources))})`));
    } catch {
      return; // no nbflow in this kernel, or it is busy restarting: no badges
    }
    cells.forEach((c, i) => setBadge(c, infos[i] ?? null));
  }
}
