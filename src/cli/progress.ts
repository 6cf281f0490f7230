/**
 * Progress of a pipeline run on the terminal, and its summary.
 *
 * On a terminal, a block of one line per step (pending, running with its elapsed time, done with
 * its duration, cached, kept, failed, skipped) is redrawn in place with ANSI cursor moves. Anywhere
 * else — CI logs, pipes, tests — each event is one line of its own, so a log reads top to bottom.
 * Progress goes to stderr; stdout keeps the summary or the JSON.
 */
import type { PipelineRunResult, StepEvent, StepStatus } from '../pipelines/engine/index.js';
import { formatTable } from './output.js';

/** Where progress is written: `process.stderr`, or anything with `write` in tests. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** Width of the terminal: lines are cut to it so that none wraps and breaks the redraw. */
  columns?: number;
  /** Height of the terminal: a block taller than it is condensed to counts and the active steps. */
  rows?: number;
}

export interface ProgressOptions {
  /** The steps in the order they run (shown as pending until they start); others are added as they appear. */
  steps?: readonly string[];
  /** Redraw in place (default: when the stream is a terminal and TERM is not `dumb`). */
  live?: boolean;
  /** Milliseconds between redraws of the running times (default 100; 0: only on events). */
  refreshMs?: number;
  now?: () => number;
}

type LineStatus = 'pending' | StepStatus;

interface StepLine {
  status: LineStatus;
  startedAt?: number;
  durationMs?: number;
  error?: string;
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The line of an event when progress is not redrawn in place. */
export function statusLine(e: StepEvent): string {
  switch (e.status) {
    case 'running': return `▸ ${e.step} … running`;
    case 'done': return `▸ ${e.step} … done in ${seconds(e.durationMs ?? 0)}`;
    case 'cached': return `▸ ${e.step} … cached`;
    case 'kept': return `▸ ${e.step} … kept (finished earlier)`;
    case 'skipped': return `▸ ${e.step} … skipped`;
    case 'failed': return `▸ ${e.step} … FAILED after ${seconds(e.durationMs ?? 0)}: ${e.error ?? ''}`;
  }
}

const MARK: Record<LineStatus, string> = { pending: '·', running: '▸', done: '✔', cached: '✔', kept: '✔', failed: '✖', skipped: '-' };

const CSI = '\x1b[';

export class RunProgress {
  readonly live: boolean;
  private readonly lines = new Map<string, StepLine>();
  private readonly now: () => number;
  private drawn = 0;
  private timer?: ReturnType<typeof setInterval>;
  private stopped = false;

  constructor(private readonly out: ProgressStream, o: ProgressOptions = {}) {
    this.live = o.live ?? (!!out.isTTY && process.env.TERM !== 'dumb');
    this.now = o.now ?? Date.now;
    for (const s of o.steps ?? []) this.lines.set(s, { status: 'pending' });
    // Nothing is drawn before the first event: a run refused before it starts leaves no block.
    if (this.live) {
      const every = o.refreshMs ?? 100;
      if (every > 0) {
        this.timer = setInterval(() => {
          if ([...this.lines.values()].some((l) => l.status === 'running')) this.draw();
        }, every);
        this.timer.unref();
      }
    }
  }

  /** Give this to the engine as `onEvent`. */
  readonly onEvent = (e: StepEvent): void => {
    if (this.stopped) return;
    const line = this.lines.get(e.step) ?? { status: 'pending' };
    line.status = e.status;
    if (e.status === 'running') line.startedAt = this.now();
    else {
      line.durationMs = e.durationMs ?? (line.startedAt !== undefined ? this.now() - line.startedAt : undefined);
      line.error = e.error;
    }
    this.lines.set(e.step, line);
    if (this.live) this.draw();
    else this.out.write(`${statusLine(e)}\n`);
  };

  /** Stops the redraws, leaving the block as it last was (call it when the run has ended). */
  stop(): void {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    if (this.live && this.drawn) this.draw();
    this.stopped = true;
  }

  /**
   * The block as it stands: one line per step or, when there are more steps than the terminal has
   * rows, a line of counts followed by the steps running or failed.
   */
  render(): string[] {
    let entries = [...this.lines.entries()];
    const head: string[] = [];
    const room = this.out.rows && this.out.rows > 3 ? this.out.rows - 2 : Infinity;
    if (entries.length > room) {
      const n = new Map<LineStatus, number>();
      for (const [, l] of entries) n.set(l.status, (n.get(l.status) ?? 0) + 1);
      const order: LineStatus[] = ['done', 'cached', 'kept', 'running', 'failed', 'skipped', 'pending'];
      head.push(`${entries.length} steps: ${order.filter((k) => n.get(k)).map((k) => `${n.get(k)} ${k}`).join(', ')}`);
      entries = entries.filter(([, l]) => l.status === 'running' || l.status === 'failed').slice(0, room - 1);
    }
    const width = Math.max(0, ...entries.map(([step]) => step.length));
    const cut = this.out.columns && this.out.columns > 10 ? this.out.columns - 1 : Infinity;
    return [...head, ...entries.map(([step, l]) => `${MARK[l.status]} ${step.padEnd(width)}  ${describe(l, this.now())}`.trimEnd())]
      .map((text) => (text.length > cut ? `${text.slice(0, cut - 1)}…` : text));
  }

  private draw(): void {
    const lines = this.render();
    // Back to the first line of the block, each line cleared and written again, and whatever is
    // left below a block that got shorter cleared.
    const up = this.drawn ? `${CSI}${this.drawn}A` : '';
    this.out.write(`${up}${lines.map((l) => `\r${CSI}2K${l}\n`).join('')}${this.drawn > lines.length ? `${CSI}J` : ''}`);
    this.drawn = lines.length;
  }
}

function describe(l: StepLine, now: number): string {
  switch (l.status) {
    case 'pending': return 'pending';
    case 'running': return `running ${seconds(now - (l.startedAt ?? now))}`;
    case 'done': return `done in ${seconds(l.durationMs ?? 0)}`;
    case 'cached': return 'cached';
    case 'kept': return 'kept (finished earlier)';
    case 'skipped': return 'skipped';
    case 'failed': return `FAILED after ${seconds(l.durationMs ?? 0)}${l.error ? `: ${l.error.split('\n')[0]}` : ''}`;
  }
}

/**
 * The summary of a pipeline run for people: status and total time, a row per step with whether it
 * came from the cache, the outputs with their type and short sha256, and the model versions registered.
 */
export function runSummary(r: PipelineRunResult, o: { outputs?: boolean } = {}): string {
  const cached = r.steps.filter((s) => s.status === 'cached').length;
  const out = [`pipeline ${r.pipeline}, run ${r.runId}: ${r.status} in ${seconds(r.durationMs)} (${r.steps.length} steps, ${cached} from cache)`];
  out.push(formatTable(r.steps.map((s) => ({
    step: s.step, status: s.status, duration: s.status === 'skipped' ? '' : seconds(s.durationMs), cached: s.cached ? 'yes' : 'no', run: s.runId ?? '',
  })), ['step', 'status', 'duration', 'cached', 'run']));
  const outputs = r.steps.flatMap((s) => Object.entries(s.outputs).map(([name, e]) => ({ output: `${s.step}.${name}`, type: e.type, sha256: e.sha256.slice(0, 12) })));
  if (outputs.length && o.outputs !== false) out.push('', formatTable(outputs, ['output', 'type', 'sha256']));
  if (r.registered.length) out.push('');
  for (const v of r.registered) out.push(`registered ${v.name} version ${v.version}${v.alias ? ` @${v.alias}` : ''}${v.created ? '' : ' (existing version)'}`);
  return `${out.join('\n')}\n`;
}
