/**
 * What the server checks of every request before a route sees it, and what it adds to every
 * response. There is no authentication yet, so these checks keep web pages in a browser from using
 * the server on a user's behalf:
 *
 * - the `Host` header must name a host the server answers to (the loopback names, the address it
 *   listens on, and `--allowed-hosts`): a page on a DNS-rebinding name (`evil.example` resolving to
 *   127.0.0.1, `127.0.0.1.nip.io`) is refused even though its requests reach the socket;
 * - a state-changing request (anything but GET, HEAD, OPTIONS) that carries an `Origin` must come
 *   from the server's own origin: a browser always sends `Origin` on a cross-site POST, while the
 *   MLflow client, the Trellis SDK and CLI, and curl send none;
 * - the dataset upload takes only data types as its body, never one of the types an HTML form can
 *   send (JSON routes already take `application/json` alone, see router.ts);
 * - every response says `nosniff`, may not be framed, sends no referrer, and has a
 *   Content-Security-Policy unless its route set a more specific one.
 */
import { networkInterfaces } from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TrellisError, invalid } from '../core/errors.js';
import { show } from './params.js';
import { TRELLIS_PREFIXES } from './router.js';

/** Host names every server answers to, with any port. */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'] as const;

export interface EdgeOptions {
  /**
   * Names (or `name:port`) the server answers to beyond {@link LOOPBACK_HOSTS} and its bind
   * address; `*` allows any Host.
   */
  allowedHosts?: readonly string[];
  /**
   * The address the server listens on, as given to `listen`: allowed as a Host too, and when it is a
   * wildcard (`0.0.0.0`, `::`), every address of this machine's network interfaces is.
   */
  bindHost?: string;
}

interface HostName {
  /** Lower case, IPv6 in brackets, no trailing dot. */
  name: string;
  port?: number;
}

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '::0']);

export function isWildcardAddress(host: string): boolean {
  return WILDCARDS.has(host.trim().toLowerCase());
}

/** Loopback: 127.0.0.0/8, ::1, `localhost` and the IPv4-mapped form of 127.x. */
export function isLoopbackAddress(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * A Host header value or an allowed-hosts entry as name and port: `name`, `name:port`, `[v6]`,
 * `[v6]:port`, and for an entry also a bare IPv6 address. Undefined for anything else (a user part,
 * a path, spaces, an empty name, a port that is not a number).
 */
export function parseHost(text: string, { bareIpv6 = false } = {}): HostName | undefined {
  const t = text.trim().toLowerCase();
  let name: string;
  let portText: string | undefined;
  const v6 = /^(\[[0-9a-f:.]+(?:%[\w.-]+)?\])(?::(\d*))?$/.exec(t);
  if (v6) {
    name = v6[1]!;
    portText = v6[2];
  } else if (bareIpv6 && /^[0-9a-f:.]+$/.test(t) && t.split(':').length > 2) {
    name = `[${t}]`;
  } else {
    const m = /^([a-z0-9_.-]+)(?::(\d*))?$/.exec(t);
    if (!m) return undefined;
    name = m[1]!.replace(/\.$/, '');
    portText = m[2];
  }
  if (!name || name === '.' || name.startsWith('.')) return undefined;
  if (portText === undefined || portText === '') return { name };
  const port = Number(portText);
  return port <= 65535 ? { name, port } : undefined;
}

/** The entries of `--allowed-hosts` / `$TRELLIS_ALLOWED_HOSTS`: comma-separated, each a host name, `name:port`, an address, or `*`. */
export function parseAllowedHosts(text: string, where = '--allowed-hosts'): string[] {
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const e of entries) {
    if (e !== '*' && !parseHost(e, { bareIpv6: true })) {
      throw invalid(`${where}: '${show(e)}' is not a host name: give names such as mlflow.example.com or mlflow.example.com:5000, addresses such as 10.0.0.5 or [fd00::5], or * for any, separated by commas`);
    }
  }
  return entries;
}

/** The hosts a server with these options answers to; `undefined` when it answers to any. */
export function allowedHostNames(opts: EdgeOptions): HostName[] | undefined {
  const entries = [...LOOPBACK_HOSTS, ...(opts.allowedHosts ?? [])];
  if (entries.includes('*')) return undefined;
  if (opts.bindHost !== undefined) {
    if (isWildcardAddress(opts.bindHost)) entries.push(...interfaceAddresses());
    else entries.push(opts.bindHost);
  }
  const hosts: HostName[] = [];
  for (const e of entries) {
    const h = parseHost(e, { bareIpv6: true });
    if (h && !hosts.some((x) => x.name === h.name && x.port === h.port)) hosts.push(h);
  }
  return hosts;
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.replace(/%.*$/, '')));
}

const showHost = (h: HostName): string => (h.port === undefined ? h.name : `${h.name}:${h.port}`);

function hostAllowed(allowed: HostName[] | undefined, h: HostName): boolean {
  return !allowed || allowed.some((a) => a.name === h.name && (a.port === undefined || a.port === h.port));
}

/** Methods that read: not checked for Origin (Host still is). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The body types the dataset upload takes: the data file itself. Absent is fine too (a client that
 * streams a file without naming its type); the form types a web page can send without asking are not.
 */
export const DATASET_UPLOAD_TYPES: readonly string[] = [
  'application/octet-stream',
  'text/csv', 'application/csv',
  'application/x-ndjson', 'application/jsonl', 'application/jsonlines', 'application/x-jsonlines',
  'application/vnd.apache.parquet', 'application/x-parquet',
  'application/vnd.apache.arrow.file', 'application/vnd.apache.arrow.stream',
];
const DATASET_UPLOAD_ROUTES = new Set(TRELLIS_PREFIXES.map((p) => `${p}/datasets/versions`));

const mediaType = (ct: string): string => (ct.split(';')[0] ?? '').trim().toLowerCase();

/** The headers every response carries; a route may set its own Content-Security-Policy. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};
export const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'";

export function installEdgeChecks(app: FastifyInstance, opts: EdgeOptions = {}): void {
  const allowed = allowedHostNames(opts);
  const allowedList = allowed ? allowed.map(showHost).join(', ') : '*';

  app.addHook('onRequest', async (req) => {
    const host = checkHost(req, allowed, allowedList);
    if (!SAFE_METHODS.has(req.method)) checkOrigin(req, host);
    if (req.method === 'POST' && DATASET_UPLOAD_ROUTES.has(req.routeOptions.url ?? '')) checkUploadType(req);
  });

  app.addHook('onSend', async (_req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      if (!reply.hasHeader(name)) void reply.header(name, value);
    }
    const csp = reply.getHeader('content-security-policy');
    if (csp === undefined) void reply.header('content-security-policy', DEFAULT_CSP);
    else if (typeof csp === 'string' && !/frame-ancestors/i.test(csp)) void reply.header('content-security-policy', `${csp}; frame-ancestors 'none'`);
    return payload;
  });
}

function checkHost(req: FastifyRequest, allowed: HostName[] | undefined, allowedList: string): HostName {
  const raw = req.headers.host ?? '';
  const h = parseHost(raw);
  if (h && hostAllowed(allowed, h)) return h;
  if (raw.trim() === '') {
    throw new TrellisError('TRELLIS_HOST_NOT_ALLOWED', {
      host: "''",
      detail: `the request names no host; send a Host header naming one this server answers to (${allowedList})`,
    });
  }
  if (!h) throw new TrellisError('TRELLIS_HOST_NOT_ALLOWED', { host: `'${show(raw)}'`, detail: 'it is not a host name' });
  throw new TrellisError('TRELLIS_HOST_NOT_ALLOWED', {
    host: `'${show(raw)}'`,
    detail: `this server answers to ${allowedList}; to allow the name, start the server with --allowed-hosts ${show(h.name)} (or TRELLIS_ALLOWED_HOSTS=${show(h.name)})`,
  });
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/** A state-changing request from a browser page must come from a page of this server: same host, same port. */
function checkOrigin(req: FastifyRequest, host: HostName): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const what = `${req.method} ${show((req.raw.url ?? '').split('?')[0] ?? '')}`;
  const own = `(${showHost(host)})`;
  if (origin.trim().toLowerCase() === 'null') {
    throw new TrellisError('TRELLIS_ORIGIN_NOT_ALLOWED', {
      detail: `${what} comes with Origin: null (a sandboxed page, a local file or a redirect), not from this server's own origin ${own}`,
    });
  }
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    url = undefined;
  }
  const scheme = url?.protocol ?? '';
  const same = url && scheme in DEFAULT_PORTS && url.username === '' && url.pathname === '/'
    && url.hostname.toLowerCase() === host.name
    && (url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port)) === (host.port ?? DEFAULT_PORTS[scheme]);
  if (!same) {
    throw new TrellisError('TRELLIS_ORIGIN_NOT_ALLOWED', {
      detail: `${what} comes from a page at ${show(origin)}, not from this server's own origin ${own}; web pages on other sites cannot change anything here`,
    });
  }
}

function checkUploadType(req: FastifyRequest): void {
  const ct = req.headers['content-type'];
  if (ct === undefined || ct.trim() === '') return;
  if (DATASET_UPLOAD_TYPES.includes(mediaType(ct))) return;
  throw invalid(
    `The dataset upload does not take Content-Type ${show(ct)}: send the data file itself as the body with Content-Type application/octet-stream (or a data type: ${DATASET_UPLOAD_TYPES.slice(1).join(', ')}), and name, format, filename in the query string`,
  );
}
