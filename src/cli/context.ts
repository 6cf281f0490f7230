import type { Command } from 'commander';
import { invalid } from '../core/errors.js';
import { defaultUser } from '../core/user.js';
import type { Backend } from '../sdk/backend.js';
import { EmbeddedBackend } from '../sdk/embedded-backend.js';
import { RestBackend } from '../sdk/rest-backend.js';
import { Workspace } from '../workspace/workspace.js';

export interface GlobalOptions {
  store?: string;
  artifacts?: string;
  server?: string;
  json?: boolean;
  user?: string;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function actor(cmd: Command): { actor: string } {
  return { actor: globals(cmd).user ?? defaultUser() };
}

/** A `trellis server` the CLI works against, and where it was named (for messages). */
export interface ServerChoice {
  url: string;
  /** `--server`, `TRELLIS_TRACKING_URI` or `MLFLOW_TRACKING_URI`. */
  from: string;
}

/** Commands that run on this machine by nature: a tracking URI in the environment does not apply to them. */
const LOCAL_COMMANDS = new Set(['server', 'serve', 'quickstart', 'init', 'worker', 'scheduler']);

/** The command under `trellis` that `cmd` belongs to (`data` for `trellis data add`). */
function topCommand(cmd: Command): Command | undefined {
  let c: Command = cmd;
  while (c.parent?.parent) c = c.parent;
  return c.parent ? c : undefined;
}

const isHttp = (uri: string) => /^https?:\/\//i.test(uri.trim());
const isStoreUri = (uri: string) => /^(sqlite:|postgres(ql)?:\/\/)/i.test(uri.trim());

function checkedUrl(raw: string, from: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw invalid(`${from} '${raw}' is not a URL: expected http://host:port or https://host`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid(`${from} '${raw}' must be an http:// or https:// URL`);
  return raw.trim().replace(/\/+$/, '');
}

/**
 * The server the tracking, registry and data commands work against: `--server <url>`, else
 * `$TRELLIS_TRACKING_URI`, else `$MLFLOW_TRACKING_URI` — when it is an http(s) URL. A store URI
 * there (`sqlite:…`, `postgres://…`; for `$TRELLIS_TRACKING_URI` the store used) or, in
 * `$MLFLOW_TRACKING_URI`, one of MLflow's local stores (a path, `file:`) means a local store, as it
 * does for MLflow; an explicit `--store` means the local store too, whatever the environment says.
 */
export function serverChoice(cmd: Command): ServerChoice | undefined {
  const g = globals(cmd);
  const top = topCommand(cmd);
  if (top && LOCAL_COMMANDS.has(top.name())) {
    if (g.server !== undefined) throw invalid(`'trellis ${top.name()}' runs on this machine, over a local store: --server does not apply to it (give --store <uri> for the store)`);
    return undefined;
  }
  if (g.server !== undefined) {
    if (g.store !== undefined) throw invalid(`Give --server (a Trellis server) or --store (a local store), not both (got --server '${g.server}' and --store '${g.store}')`);
    return { url: checkedUrl(g.server, '--server'), from: '--server' };
  }
  if (g.store !== undefined) return undefined;
  for (const name of ['TRELLIS_TRACKING_URI', 'MLFLOW_TRACKING_URI'] as const) {
    const v = process.env[name]?.trim();
    if (!v) continue;
    if (isHttp(v)) return { url: checkedUrl(v, name), from: name };
    // MLflow's own stores (a path, file:, databricks…) are not Trellis's: for MLflow's variable they mean "not a server".
    if (name === 'TRELLIS_TRACKING_URI' && !isStoreUri(v)) {
      throw invalid(`${name} '${v}' is neither a Trellis server (http://host:port, https://host) nor a store (sqlite:<path>, postgres://…)`);
    }
    return undefined;
  }
  return undefined;
}

/** The local store a tracking URI names (`TRELLIS_TRACKING_URI=sqlite:./team.db`), when no --store is given. */
function storeOf(g: GlobalOptions): string | undefined {
  if (g.store !== undefined) return g.store;
  const v = process.env.TRELLIS_TRACKING_URI?.trim();
  return v && isStoreUri(v) ? v : undefined;
}

/**
 * Runs `fn` with the workspace's operations: over the REST API of the server {@link serverChoice}
 * names, or straight on the local stores (--store/--artifacts or the defaults). The commands print
 * the same either way. Credentials come from `TRELLIS_TOKEN` (or MLflow's variables, see RestBackend).
 */
export async function withBackend<T>(cmd: Command, fn: (b: Backend) => Promise<T>): Promise<T> {
  const server = serverChoice(cmd);
  const g = globals(cmd);
  const b: Backend = server
    ? new RestBackend(server.url)
    : await EmbeddedBackend.open({ store: storeOf(g), artifacts: g.artifacts, user: g.user });
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}

/** `trellis data add` for a command's messages: the words a user typed. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Opens the workspace named by --store/--artifacts (or the defaults), runs `fn`, closes it. A
 * command that works only on a local workspace refuses when a server is chosen, rather than
 * quietly reading or writing a local store the user did not mean.
 */
export async function withWorkspace<T>(cmd: Command, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const server = serverChoice(cmd);
  if (server) {
    throw invalid(`'${commandPath(cmd)}' works on a local workspace only, not against a server (${server.from} is ${server.url}); ` +
      `run it without ${server.from === '--server' ? '--server' : `${server.from} set`}, or with --store <uri> to name the local store`);
  }
  const g = globals(cmd);
  const ws = await Workspace.open({ store: storeOf(g), artifacts: g.artifacts });
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
}
