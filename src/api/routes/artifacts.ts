/**
 * Artifact routes: the `mlflow-artifacts` proxy that MLflow clients resolve run artifact URIs to
 * (spec §1.8), the run-scoped listing, and the UI's `/get-artifact`. Every path a client sends is
 * read raw from the URL and judged by `normalizeArtifactPath` before anything touches the store.
 * Writes and deletes go through the tracking service, which refuses frozen files and audits each.
 */
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { TrellisError } from '../../core/errors.js';
import { normalizeArtifactPath } from '../../store/artifact-path.js';
import type { Workspace } from '../../workspace/workspace.js';
import { sendArtifact } from '../download.js';
import { fileInfoJson, repeated } from '../mlflow-json.js';
import { Params } from '../params.js';
import { rawPathAfter, rawQueryValue } from '../raw-url.js';
import { actorOf, type MlflowRouter } from '../router.js';
import { artifactObject, byRun } from '../route-objects.js';

const PROXY_PREFIXES = ['/api/2.0/mlflow-artifacts', '/ajax-api/2.0/mlflow-artifacts'];

export function runArtifactRoutes(r: MlflowRouter, ws: Workspace): void {
  r.get('/artifacts/list', { action: 'read', object: byRun(ws) }, async ({ p, req }) => {
    const rel = normalizeArtifactPath(rawQueryValue(req, 'path') ?? '', { allowEmpty: true });
    const { rootUri, files } = await ws.tracking.listArtifacts(p.runId(), rel);
    return { root_uri: rootUri, files: repeated(files.map((f) => fileInfoJson(f, f.path))) };
  });
}

/**
 * Registered as its own plugin so that its catch-all content-type parser — which hands upload
 * bodies through as streams, whatever their type — does not replace the JSON handling elsewhere.
 */
export async function artifactProxy(app: FastifyInstance, opts: { ws: Workspace }): Promise<void> {
  const { ws } = opts;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  // Fastify rejects an empty Content-Type header outright; for an upload it just means "no type".
  app.addHook('onRequest', async (req) => {
    if (req.headers['content-type'] === '') delete req.headers['content-type'];
  });

  for (const prefix of PROXY_PREFIXES) {
    const files = `${prefix}/artifacts/`;
    const pathOf = (req: Parameters<typeof rawPathAfter>[0]) => normalizeArtifactPath(rawPathAfter(req, files));
    const listedDir = (req: Parameters<typeof rawPathAfter>[0]) => normalizeArtifactPath(rawQueryValue(req, 'path') ?? '', { allowEmpty: true });

    app.get(`${files}*`, { config: { access: { action: 'read', object: (req) => artifactObject(pathOf(req)) } } }, async (req, reply) => sendArtifact(reply, ws, pathOf(req)));

    app.put(`${files}*`, { config: { access: { action: 'write', object: (req) => artifactObject(pathOf(req)) } } }, async (req) => {
      const path = pathOf(req);
      await ws.tracking.putArtifact(path, (req.body as Readable | undefined) ?? Buffer.alloc(0), actorOf(req));
      return {};
    });

    app.delete(`${files}*`, { config: { access: { action: 'write', object: (req) => artifactObject(pathOf(req)) } } }, async (req) => {
      await ws.tracking.deleteArtifact(pathOf(req), actorOf(req));
      return {};
    });

    // Entries are named relative to the listed directory; the client joins them.
    app.get(`${prefix}/artifacts`, { config: { access: { action: 'read', object: (req) => artifactObject(listedDir(req)) } } }, async (req) => {
      const dir = listedDir(req);
      const listed = await ws.tracking.listArtifactDir(dir);
      return { files: repeated(listed.map((f) => fileInfoJson(f, dir ? f.path.slice(dir.length + 1) : f.path))) };
    });

    app.post(`${prefix}/mpu/*`, { config: { access: { action: 'write' } } }, async () => {
      throw new TrellisError('TRELLIS_NOT_IMPLEMENTED', { feature: 'Multipart upload' });
    });
  }

  app.get('/get-artifact', { config: { access: { action: 'read', object: byRun(ws) } } }, async (req, reply) => {
    const rel = normalizeArtifactPath(rawQueryValue(req, 'path') ?? '');
    return sendArtifact(reply, ws, await ws.tracking.runArtifactPath(Params.fromQuery(req.query).runId(), rel));
  });
}
