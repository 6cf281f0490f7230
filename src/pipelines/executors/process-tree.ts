/**
 * Child processes that can be stopped with everything they started. On POSIX each step's process
 * leads its own process group (`detached`), so a timeout or a cancel signals the whole group: a
 * shell's children, a Python script's subprocesses. A process that moves itself to another group
 * or session (`setsid`, double fork) escapes this. Groups still alive when Trellis exits are killed.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const POSIX = process.platform !== 'win32';
const live = new Set<ChildProcess>();
let exitHook = false;

export function spawnGroup(command: string, args: string[], options: SpawnOptions): ChildProcess {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => { for (const c of live) signalGroup(c, 'SIGKILL'); });
  }
  const child = spawn(command, args, { ...options, detached: POSIX, windowsHide: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => { if (child.exitCode !== null || child.pid === undefined) live.delete(child); });
  return child;
}

/** Signals the child's process group (the child alone where there are no groups); false when none is left. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  if (child.pid === undefined) return false;
  try {
    if (POSIX) process.kill(-child.pid, signal);
    else child.kill(signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the group, then SIGKILL after `graceMs` if the child has not exited; resolves once it has. */
export async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined) return;
  const exited = child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signalGroup(child, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'grace'>((resolve) => { timer = setTimeout(() => resolve('grace'), graceMs); });
  if ((await Promise.race([exited, grace])) === 'grace') signalGroup(child, 'SIGKILL');
  clearTimeout(timer);
  await exited;
  // The leader may have gone on SIGTERM while others in its group ignored it.
  signalGroup(child, 'SIGKILL');
}
