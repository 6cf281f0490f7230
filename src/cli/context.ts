import type { Command } from 'commander';
import { defaultUser } from '../core/user.js';
import { Workspace } from '../workspace/workspace.js';

export interface GlobalOptions {
  store?: string;
  artifacts?: string;
  json?: boolean;
  user?: string;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function actor(cmd: Command): { actor: string } {
  return { actor: globals(cmd).user ?? defaultUser() };
}

/** Opens the workspace named by --store/--artifacts (or the defaults), runs `fn`, closes it. */
export async function withWorkspace<T>(cmd: Command, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const g = globals(cmd);
  const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts });
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
}

