/**
 * A small HTTP proxy put between the S3 client and a real S3-compatible server, to make that
 * server misbehave on cue: answer 500, answer late, or change the bytes of a response. Requests
 * travel a real network hop and reach a real server; only the faults are staged. Every request
 * is recorded, so a test can see what the client sent (retries, an abort).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  /** Path and query, as sent (path-style: `/<bucket>/<key>?…`). */
  url: string;
}

export type Fault =
  /** Answer with this 5xx status and an S3 error body, without forwarding. */
  | { status: number }
  /** Wait this long before forwarding (the client may give up first). */
  | { delayMs: number }
  /** Forward, then change the response body before passing it on (same length keeps Content-Length true). */
  | { tamper: (body: Buffer) => Buffer };

export interface FaultProxy {
  endpoint: string;
  seen: SeenRequest[];
  /** Decides, per request, whether to misbehave; undefined forwards it untouched. */
  rule: (req: SeenRequest) => Fault | undefined;
  stop(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const to = new URL(target);
  const proxy: FaultProxy = { endpoint: '', seen: [], rule: () => undefined, stop: async () => undefined };
  const server: Server = createServer((req, res) => {
    const seen = { method: req.method ?? 'GET', url: req.url ?? '/' };
    proxy.seen.push(seen);
    void handle(req, res, proxy.rule(seen), to).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return proxy;
}

async function handle(req: IncomingMessage, res: ServerResponse, fault: Fault | undefined, to: URL): Promise<void> {
  const body = await readAll(req);
  if (fault && 'status' in fault) {
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>`;
    res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) }).end(xml);
    return;
  }
  if (fault && 'delayMs' in fault) {
    await new Promise((r) => setTimeout(r, fault.delayMs));
    if (res.destroyed || req.socket.destroyed) return; // the client gave up waiting
  }
  const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
    const r = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, resolve);
    r.once('error', reject);
    r.end(body);
  });
  let out = await readAll(upstream);
  const headers = { ...upstream.headers };
  // Only a changed body changes its length; a HEAD's Content-Length describes a body it never sends.
  if (fault && 'tamper' in fault && (upstream.statusCode ?? 500) < 300) {
    out = fault.tamper(out);
    headers['content-length'] = String(out.length);
  }
  res.writeHead(upstream.statusCode ?? 502, headers).end(out);
}

async function readAll(s: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
