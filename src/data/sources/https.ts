/**
 * A file over HTTPS (plain HTTP only to a host the operator allowed), downloaded to the snapshot
 * file with the egress rules of `egress.ts` applied to every connection, redirects included; a
 * size limit (TRELLIS_SOURCE_MAX_BYTES, default 2 GiB) and an idle timeout
 * (TRELLIS_SOURCE_TIMEOUT_MS, default 60 s without a byte).
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { TrellisError } from '../../core/errors.js';
import { checkEgress, EGRESS_ALLOW_ENV, egressLookup, hostListed, type EgressPolicy } from './egress.js';
import { NETWORK_CODES, unreachable, type ProgressFn } from './snapshot-file.js';

export interface HttpReadOptions {
  /** The redacted URL: what errors name. */
  source: string;
  file: string;
  policy: EgressPolicy;
  maxBytes: number;
  timeoutMs: number;
  onProgress?: ProgressFn;
}

const MAX_REDIRECTS = 5;

/** Downloads `url` to `o.file`; returns the URL that answered and its content type. */
export async function readHttp(url: string, o: HttpReadOptions): Promise<{ finalUrl: string; contentType?: string; bytes: number }> {
  let current = new URL(url);
  const origin = current.origin;
  const auth = current.username ? `Basic ${Buffer.from(`${decodeURIComponent(current.username)}:${decodeURIComponent(current.password)}`).toString('base64')}` : undefined;
  for (let hop = 0; ; hop++) {
    // An address literal is never looked up: it is checked here; a name is checked in its lookup.
    const literal = current.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(literal)) checkEgress(o.policy, literal, literal);
    checkScheme(current, o);
    const res = await request(current, current.origin === origin ? auth : undefined, o);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw failed(o.source, `more than ${MAX_REDIRECTS} redirects`);
      current = new URL(res.headers.location, current);
      continue;
    }
    if (status === 404 || status === 410) {
      res.resume();
      throw new TrellisError('TRELLIS_DATA_FILE_NOT_FOUND', { file: hop ? `${o.source} (redirected to ${safe(current)})` : o.source });
    }
    if (status < 200 || status >= 300) {
      const body = await readSome(res, 300);
      throw failed(o.source, `HTTP ${status} ${res.statusMessage ?? ''}${body ? `: ${body}` : ''}`.trim());
    }
    const announced = Number(res.headers['content-length']);
    if (Number.isFinite(announced) && announced > o.maxBytes) {
      res.destroy();
      throw tooLarge(o, `${announced} bytes`);
    }
    const bytes = await save(res, o, Number.isFinite(announced) ? announced : undefined);
    return { finalUrl: current.toString(), contentType: res.headers['content-type'], bytes };
  }
}

function checkScheme(u: URL, o: HttpReadOptions): void {
  if (u.protocol === 'https:') return;
  if (u.protocol === 'http:') {
    if (hostListed(o.policy, u.hostname)) return;
    throw failed(o.source, `plain http:// is refused for ${u.host}, which ${EGRESS_ALLOW_ENV} does not list: use https://, or list the host in ${EGRESS_ALLOW_ENV}`);
  }
  throw failed(o.source, `a redirect led to ${u.protocol}//, which is not followed`);
}

async function request(u: URL, auth: string | undefined, o: HttpReadOptions): Promise<IncomingMessage> {
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = mod.request(u, {
      method: 'GET',
      headers: { 'user-agent': 'trellis', accept: '*/*', ...(auth ? { authorization: auth } : {}) },
      lookup: egressLookup(o.policy),
      timeout: o.timeoutMs,
      // No pooled socket: each connection goes through the lookup above.
      agent: false,
    }, resolve);
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => reject(networkError(e, u, o)));
    req.end();
  });
}

function networkError(e: unknown, u: URL, o: HttpReadOptions): Error {
  if (e instanceof TrellisError) return e;
  const err = e as NodeJS.ErrnoException;
  const where = `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`;
  if (err.code && NETWORK_CODES.has(err.code)) return unreachable(o.source, where, e);
  return failed(o.source, `${where}: ${err.message}`);
}

async function save(res: IncomingMessage, o: HttpReadOptions, total?: number): Promise<number> {
  const out = createWriteStream(o.file);
  let bytes = 0;
  let last = 0;
  res.setTimeout(o.timeoutMs, () => res.destroy(Object.assign(new Error('no data within the timeout'), { code: 'ETIMEDOUT' })));
  try {
    for await (const chunk of res) {
      bytes += (chunk as Buffer).length;
      if (bytes > o.maxBytes) throw tooLarge(o, `more than ${o.maxBytes} bytes`);
      if (!out.write(chunk)) await once(out, 'drain');
      if (bytes - last >= 1 << 20) {
        last = bytes;
        o.onProgress?.({ bytes, totalBytes: total });
      }
    }
  } catch (e) {
    res.destroy();
    out.destroy();
    if (e instanceof TrellisError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw err.code && NETWORK_CODES.has(err.code) ? unreachable(o.source, 'while downloading', e) : failed(o.source, `while downloading: ${err.message}`);
  }
  out.end();
  await once(out, 'close');
  o.onProgress?.({ bytes, totalBytes: total, done: true });
  return bytes;
}

async function readSome(res: IncomingMessage, max: number): Promise<string> {
  let text = '';
  try {
    for await (const chunk of res) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length >= max) break;
    }
  } catch {
    // the status says enough
  }
  res.destroy();
  return text.replace(/\s+/g, ' ').trim().slice(0, max);
}

function safe(u: URL): string {
  const c = new URL(u);
  c.password = '';
  c.search = '';
  return c.toString();
}

function failed(source: string, detail: string): TrellisError {
  return new TrellisError('TRELLIS_DATA_SOURCE_FAILED', { source, detail });
}

function tooLarge(o: HttpReadOptions, size: string): TrellisError {
  return failed(o.source, `the file is ${size}, over the limit of ${o.maxBytes} bytes; raise TRELLIS_SOURCE_MAX_BYTES to take it`);
}
