/** Calls to Trellis's own REST routes for the commands that work against a server without the SDK. */
import type { Command } from 'commander';
import { ERRORS, TrellisError, invalid, type ErrorCode } from '../core/errors.js';
import { credentialsHeader } from '../sdk/rest-backend.js';
import type { Workspace } from '../workspace/workspace.js';
import { serverChoice, withWorkspace } from './context.js';

const PREFIX = '/api/2.0/trellis';

/** A --server value checked as an http(s) URL, without a trailing slash. */
export function serverUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw invalid(`--server '${raw}' is not a URL: expected http://host:port or https://host`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid(`--server '${raw}' must be an http:// or https:// URL`);
  return raw.replace(/\/+$/, '');
}

/**
 * One call to a Trellis route, with the caller's credentials (TRELLIS_TOKEN, else MLflow's
 * variables); the server's refusal comes back as its own error code and message.
 */
export async function rest(server: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const url = serverUrl(server);
  let res: Response;
  try {
    const auth = credentialsHeader(undefined, process.env);
    res = await fetch(`${url}${PREFIX}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(auth ? { authorization: auth } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause;
    throw new TrellisError('TRELLIS_SERVER_UNREACHABLE', { url, detail: cause?.message ?? (e as Error).message }, { cause: e });
  }
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok || !json) {
    const code = json?.trellis_code as string | undefined;
    const message = typeof json?.message === 'string' ? json.message : text.slice(0, 500) || res.statusText;
    // The server's own error, as the command says it on a local store (the SDK's remote backend does the same).
    if (code && code in ERRORS) throw new TrellisError(code as ErrorCode, {}, { message });
    throw new TrellisError('TRELLIS_SERVER_REFUSED', { url, status: res.status, detail: message });
  }
  return json;
}


/** Calls a route of the server the command works against: GET with the body as the query string, POST with it as JSON. */
export async function remote<T>(url: string, method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<T> {
  if (method === 'GET' && body) return (await rest(url, 'GET', `${path}?${new URLSearchParams(body as Record<string, string>)}`)) as T;
  return (await rest(url, method, path, method === 'POST' ? body ?? {} : undefined)) as T;
}

/** Runs `local` on the local store, or `viaServer` against the server the command names (--server, TRELLIS_TRACKING_URI). */
export async function either<T>(c: Command, local: (ws: Workspace) => Promise<T>, viaServer: (url: string) => Promise<T>): Promise<T> {
  const server = serverChoice(c);
  return server ? viaServer(server.url) : withWorkspace(c, local);
}
