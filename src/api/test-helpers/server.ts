/**
 * A fresh workspace and server per test file, and small request helpers over `inject()` (no sockets).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import inject from 'light-my-request';
import { Workspace } from '../../workspace/workspace.js';
import { buildServer } from '../server.js';

export interface TestServer {
  app: FastifyInstance;
  ws: Workspace;
  /** The temp directory; the artifact store's root is `<dir>/a`. */
  dir: string;
  close(): Promise<void>;
}

export async function openTestServer(): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-api-'));
  const ws = await Workspace.open({ store: `sqlite:${dir}/t.db`, artifacts: `file:${dir}/a` });
  const app = await buildServer(ws, { version: '9.9.9-test' });
  await app.ready();
  return {
    app,
    ws,
    dir,
    async close() {
      await app.close();
      await ws.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Res {
  status: number;
  // Tests read arbitrary response shapes; asserting on them is the point.
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export function toRes(r: { statusCode: number; body: string; headers: Res['headers'] }): Res {
  let json: unknown;
  try {
    json = JSON.parse(r.body);
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, json, body: r.body, headers: r.headers };
}

/** A JSON request: objects are sent as `application/json` bodies (GET: put the query in the URL). */
export async function call(app: FastifyInstance, method: Method, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const h = body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body) ? { 'content-type': 'application/json', ...headers } : headers;
  return toRes(await app.inject({ method, url, payload, headers: h }));
}

/**
 * Sends `rawUrl` exactly as given. `app.inject()` parses URLs with WHATWG `URL`, which resolves `..`
 * and turns `\` into `/` — a real client (curl --path-as-is, a raw socket) does neither.
 */
export async function rawCall(app: FastifyInstance, method: Method, rawUrl: string, payload?: string, headers: Record<string, string> = {}): Promise<Res> {
  const r = await inject((req, res) => {
    req.url = rawUrl;
    app.routing(req, res);
  }, { method, url: '/', payload, headers });
  return toRes(r);
}

export const mlflow = (path: string): string => `/api/2.0/mlflow${path}`;

export function assertError(res: Res, status: number, code: string, messageIncludes?: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${res.body}`);
  assert.equal(res.json?.error_code, code, res.body);
  assert.equal(typeof res.json?.message, 'string');
  if (messageIncludes) assert.ok(String(res.json.message).includes(messageIncludes), `message ${JSON.stringify(res.json.message)} lacks ${JSON.stringify(messageIncludes)}`);
}

export function assertOk(res: Res): void {
  assert.equal(res.status, 200, res.body);
}

export async function createExperiment(app: FastifyInstance, name: string): Promise<string> {
  const res = await call(app, 'POST', mlflow('/experiments/create'), { name });
  assertOk(res);
  return res.json.experiment_id as string;
}

export async function createRun(app: FastifyInstance, experimentId = '0', extra: Record<string, unknown> = {}): Promise<{ runId: string; artifactUri: string; experimentId: string }> {
  const res = await call(app, 'POST', mlflow('/runs/create'), { experiment_id: experimentId, ...extra });
  assertOk(res);
  return { runId: res.json.run.info.run_id, artifactUri: res.json.run.info.artifact_uri, experimentId: res.json.run.info.experiment_id };
}

/** The run's artifact root as a proxy path (`<exp>/<run>/artifacts`). */
export function storeRoot(artifactUri: string): string {
  return artifactUri.replace(/^mlflow-artifacts:\/?/, '');
}
