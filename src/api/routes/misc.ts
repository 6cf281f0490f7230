/**
 * The routes outside the API prefixes, all public: the plain-text probes MLflow serves beside its
 * API, and a root page that tells whoever opens the server's address where the API is.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Probes and pointers: they hold no data, so anyone may call them, signed in or not. */
const PUBLIC = { config: { access: { public: true } as const } };

export function miscRoutes(app: FastifyInstance, version: string): void {
  app.get('/health', PUBLIC, async (_req, reply) => reply.type('text/plain; charset=utf-8').send('OK'));
  app.get('/version', PUBLIC, async (_req, reply) => reply.type('text/plain; charset=utf-8').send(version));

  const pointers = rootPointers(version);
  const page = rootPage(pointers);
  app.get('/', PUBLIC, async (req, reply) => {
    // The page's content differs by Accept, so caches must key on it; nothing on it runs or loads.
    void reply
      .header('vary', 'accept')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; frame-ancestors 'none'")
      .header('referrer-policy', 'no-referrer');
    if (wantsJson(req)) return reply.type('application/json; charset=utf-8').send(pointers);
    return reply.type('text/html; charset=utf-8').send(page);
  });
}

interface RootPointers {
  name: 'Trellis';
  version: string;
  api: { mlflow: string; mlflow_artifacts: string; trellis: string; openapi: string };
  health: string;
  version_endpoint: string;
  docs: string;
}

function rootPointers(version: string): RootPointers {
  return {
    name: 'Trellis',
    version,
    api: {
      mlflow: '/api/2.0/mlflow/',
      mlflow_artifacts: '/api/2.0/mlflow-artifacts/',
      trellis: '/api/2.0/trellis/',
      openapi: '/api/2.0/trellis/openapi.json',
    },
    health: '/health',
    version_endpoint: '/version',
    docs: "README.md and docs/ in the project's repository",
  };
}

/** JSON only for a client that asks for it and does not also take HTML (a browser sends text/html). */
function wantsJson(req: FastifyRequest): boolean {
  const accept = req.headers.accept;
  if (!accept) return false;
  const types = accept.split(',').map((part) => (part.split(';')[0] ?? '').trim().toLowerCase());
  return types.includes('application/json') && !types.includes('text/html');
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function rootPage(p: RootPointers): string {
  const v = escapeHtml(p.version);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Trellis ${v}</title></head>
<body>
<h1>Trellis ${v}</h1>
<p>This is a Trellis server. It answers REST calls:</p>
<ul>
<li><code>${p.api.mlflow}…</code> and <code>${p.api.mlflow_artifacts}…</code>: the MLflow REST API 2.0 (tracking, registry, artifacts); point MLflow clients here with <code>MLFLOW_TRACKING_URI</code></li>
<li><code>${p.api.trellis}…</code>: Trellis's own API, described by <a href="${p.api.openapi}"><code>${p.api.openapi}</code></a></li>
<li><a href="${p.health}"><code>${p.health}</code></a> and <a href="${p.version_endpoint}"><code>${p.version_endpoint}</code></a>: liveness and version, as plain text</li>
</ul>
<p>Documentation: README.md and the docs/ folder in the project's repository.</p>
</body>
</html>
`;
}
