/** The plain-text probes MLflow serves beside its API. */
import type { FastifyInstance } from 'fastify';

export function miscRoutes(app: FastifyInstance, version: string): void {
  app.get('/health', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('OK'));
  app.get('/version', async (_req, reply) => reply.type('text/plain; charset=utf-8').send(version));
}
