/**
 * How failures leave the server: always `{"error_code", "message", "trellis_code"}` with the status from the error
 * registry, so MLflow clients can tell errors apart by code. Anything that is not a TrellisError is
 * translated here once — Fastify's own 4xx errors become INVALID_PARAMETER_VALUE, everything else is
 * an INTERNAL_ERROR whose details stay in the log, not in the response.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TrellisError } from '../core/errors.js';
import { show } from './params.js';

/**
 * MLflow's `{error_code, message}`, plus Trellis's own code: MLflow merges extra fields into its
 * error bodies too, so MLflow clients ignore it, while the SDK's REST backend rebuilds the exact error.
 */
export function errorBody(e: TrellisError): { error_code: string; message: string; trellis_code: string } {
  return { error_code: e.mlflowCode, message: e.message, trellis_code: e.code };
}

export function asTrellisError(err: unknown, req: FastifyRequest): TrellisError {
  if (err instanceof TrellisError) return err;
  const e = err as Partial<FastifyError> & { code?: string };
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new TrellisError('TRELLIS_LIMIT_EXCEEDED', { detail: `The request body is larger than this server accepts (${e.message ?? ''})` });
  }
  // Fastify refuses a Content-Type header it cannot parse at all (e.g. an empty one) before our router sees it.
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new TrellisError('TRELLIS_CONTENT_TYPE', { contentType: show(req.headers['content-type'] ?? '') });
  }
  // The client hung up mid-body: its request is incomplete, not our bug.
  if (e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted') {
    return new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: 'The request body ended before it was complete' });
  }
  if (typeof e?.statusCode === 'number' && e.statusCode === 404) return notFound(req);
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: show(e.message ?? 'Bad request') });
  }
  return new TrellisError('TRELLIS_INTERNAL', { detail: `unexpected failure; see the server log for request ${req.id}` }, { cause: err });
}

export function notFound(req: FastifyRequest): TrellisError {
  const url = req.raw.url ?? '';
  const path = url.split('?')[0] ?? '';
  return new TrellisError('TRELLIS_ENDPOINT_NOT_FOUND', { method: req.method, url: show(path) });
}

function sendError(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const te = asTrellisError(err, req);
  // One line per error: client mistakes at info without a stack, our failures at error with one.
  if (te.httpStatus >= 500) req.log.error({ err, code: te.code }, te.message);
  else req.log.info({ code: te.code }, te.message);
  if (reply.sent || reply.raw.headersSent) return;
  void reply.code(te.httpStatus).type('application/json; charset=utf-8').send(errorBody(te));
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => sendError(err, req, reply));
  app.setNotFoundHandler((req, reply) => {
    const te = notFound(req);
    void reply.code(te.httpStatus).send(errorBody(te));
  });
}

/** For Fastify's `frameworkErrors` option: a URL the router cannot even decode is bad input too. */
export function frameworkErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const te = err.code === 'FST_ERR_BAD_URL'
    ? new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Malformed URL: ${show((req.raw.url ?? '').split('?')[0])}` })
    : err;
  sendError(te, req, reply);
}
