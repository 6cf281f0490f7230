/**
 * Artifact paths are taken from the URL exactly as the client sent it. Fastify's router decodes
 * the path and a URL parser would resolve `..`; either would hand `normalizeArtifactPath` a path
 * that was already decoded once, and its "decode exactly once" rule would then be a second decode.
 */
import type { FastifyRequest } from 'fastify';
import { TrellisError } from '../core/errors.js';
import { show, wrongType } from './params.js';

function splitUrl(req: FastifyRequest): { path: string; query: string } {
  const url = req.raw.url ?? '';
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** The still-encoded rest of the URL path after `prefix` (which must have been sent literally). */
export function rawPathAfter(req: FastifyRequest, prefix: string): string {
  const { path } = splitUrl(req);
  if (!path.startsWith(prefix)) {
    // The router matched after decoding, e.g. `/%61rtifacts/x`; refusing is simpler than guessing.
    throw new TrellisError('TRELLIS_PATH_UNSAFE', { path: show(path), detail: `send the route prefix '${prefix}' without percent-encoding` });
  }
  return path.slice(prefix.length);
}

/**
 * The still-encoded value of a query parameter, with form-encoding's `+` turned into an encoded
 * space. A repeated parameter is refused: two paths in one request is never what a client meant.
 */
export function rawQueryValue(req: FastifyRequest, name: string): string | undefined {
  const found: string[] = [];
  for (const part of splitUrl(req).query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawKey = eq === -1 ? part : part.slice(0, eq);
    let key: string;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
    } catch {
      continue; // not a key we could be looking for
    }
    if (key === name) found.push(eq === -1 ? '' : part.slice(eq + 1).replace(/\+/g, '%20'));
  }
  if (found.length > 1) throw wrongType(name, found);
  return found[0];
}
