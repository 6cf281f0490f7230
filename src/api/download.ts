/**
 * Sending stored bytes to a browser or client. The artifact proxy serves whatever users uploaded,
 * so nothing it returns may be rendered as active content in the server's origin: HTML, SVG and
 * scripts go out as text/plain, and `nosniff` stops the browser from guessing otherwise.
 */
import type { FastifyReply } from 'fastify';
import type { Workspace } from '../workspace/workspace.js';

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  md: 'text/plain; charset=utf-8',
  yaml: 'text/plain; charset=utf-8',
  yml: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  tsv: 'text/tab-separated-values; charset=utf-8',
  html: 'text/plain; charset=utf-8',
  htm: 'text/plain; charset=utf-8',
  svg: 'text/plain; charset=utf-8',
  js: 'text/plain; charset=utf-8',
  xml: 'text/plain; charset=utf-8',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  pdf: 'application/pdf',
  gz: 'application/gzip',
  zip: 'application/zip',
};

export function contentTypeFor(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot > 0 && CONTENT_TYPES[name.slice(dot + 1).toLowerCase()]) || 'application/octet-stream';
}

const TOKEN_RE = /^[A-Za-z0-9!#$&+.^_`|~-]+$/;

/** MLflow's bare `filename=<name>` when the name is a header token; RFC 6266's quoted + UTF-8 form otherwise. */
export function contentDisposition(name: string): string {
  if (TOKEN_RE.test(name)) return `attachment; filename=${name}`;
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/**
 * Streams the artifact at a normalized store path. `open` checks the content hash before it
 * returns, so an integrity failure is still a clean JSON error: no header or byte has gone out yet.
 */
export async function sendArtifact(reply: FastifyReply, ws: Workspace, storePath: string): Promise<FastifyReply> {
  const { stream, size } = await ws.tracking.openArtifact(storePath);
  const name = storePath.slice(storePath.lastIndexOf('/') + 1);
  return reply
    .header('content-disposition', contentDisposition(name))
    .header('x-content-type-options', 'nosniff')
    .header('content-length', size)
    .type(contentTypeFor(name))
    .send(stream);
}
