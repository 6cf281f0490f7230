/** Small helpers shared by the benchmarks: timing, percentiles, a server child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(ms: number[]): { n: number; p50: number; p95: number; p99: number; mean: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length, max: s[s.length - 1]! };
}

export function fmt(n: number, digits = 1): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function progress(label: string, done: number, total: number): void {
  if (!process.stderr.isTTY) {
    if (done === total || done % Math.max(1, Math.floor(total / 10)) === 0) process.stderr.write(`  ${label}: ${done}/${total}\n`);
    return;
  }
  process.stderr.write(`\r  ${label}: ${done}/${total} (${Math.round((100 * done) / total)}%)${done === total ? '\n' : ''}`);
}

/** Resident set size of a process in MiB, from /proc (Linux). */
export async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

export async function peakRssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

/**
 * Starts `trellis server` in a child process and resolves once it answers /health; `cli` runs
 * another source tree's entry point (a benchmark comparing before and after); `serverArgs` are
 * added to `trellis server`'s own (e.g. `--auth`).
 */
export async function startServer(args: { store: string; artifacts: string; port: number; cli?: string; serverArgs?: string[] }): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', args.cli ?? CLI, '--store', args.store, '--artifacts', args.artifacts, 'server', '--port', String(args.port), ...(args.serverArgs ?? [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TRELLIS_LOG_LEVEL: 'warn' },
  });
  const url = `http://127.0.0.1:${args.port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}
