/**
 * What the server logs, in one of two formats: `json`, one pino JSON object per line (for log
 * collectors), or `pretty`, one human line per event (a compact line per request: time, method,
 * url, status, duration). The format is a stream under pino: `pino-pretty` is not a dependency, and
 * the few lines below do what the server needs without one.
 *
 * Nothing secret is logged: the request's URL has the values of query parameters that look like
 * credentials replaced, headers are not logged (and `authorization`, `cookie` are redacted should
 * anything log them), and `redactUri` takes the password out of a store URI before it is shown.
 */
import { Writable } from 'node:stream';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { invalid } from '../core/errors.js';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The format asked for (`--log-format`, else `$TRELLIS_LOG_FORMAT`), else `pretty` when stdout is a
 * terminal and `json` when it is not. A value that is neither is refused, naming both.
 */
export function resolveLogFormat(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, isTty = !!process.stdout.isTTY): LogFormat {
  const given = flag ?? (env.TRELLIS_LOG_FORMAT || undefined);
  if (given === undefined) return isTty ? 'pretty' : 'json';
  if ((LOG_FORMATS as readonly string[]).includes(given)) return given as LogFormat;
  const where = flag !== undefined ? '--log-format' : '$TRELLIS_LOG_FORMAT';
  throw invalid(`${where} '${given}' is not a log format: use json or pretty`);
}

const SECRET_PARAM = /pass|secret|token|signature|credential|^sig$|key|auth/i;

/** A URI or URL as it may be shown: no password, and the values of credential-like query parameters replaced by `REDACTED`. */
export function redactUri(uri: string): string {
  return uri
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:?#]*):[^/@?#]*@/i, '$1:REDACTED@')
    .replace(/([?&])([^=&#]*)=([^&#]*)/g, (whole, sep: string, key: string) => (SECRET_PARAM.test(decodeURIComponentSafe(key)) ? `${sep}${key}=REDACTED` : whole));
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** What a request line says of the request: no headers, no body, the URL redacted. */
export function serializeRequest(req: { method?: string; url?: string; ip?: string; socket?: { remoteAddress?: string } }): Record<string, unknown> {
  return { method: req.method, url: redactUri(req.url ?? ''), remoteAddress: req.ip ?? req.socket?.remoteAddress };
}

/** Paths pino censors wherever they appear in a log object. */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'headers.authorization', 'headers.cookie',
  'authorization', 'password', 'token', '*.password', '*.token',
];

/** Pino options shared by the server's logger and Fastify's. */
export function logOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: 'REDACTED' },
    serializers: { req: serializeRequest, err: pino.stdSerializers.err },
  };
}

/**
 * Fastify logs a request with one line when it completes: method, URL (redacted), status and
 * duration, at `info` (`error` when the response failed), instead of a line when it arrives and
 * another when it leaves.
 */
export class OneLineRequestLog extends Fastify.LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const fields = { req: request, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime * 100) / 100 };
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.info(fields, 'request completed');
  }
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };

/** One pino JSON object as a human line (or lines, for the listening banner), without the JSON. */
export function prettyLine(o: Record<string, unknown>): string {
  const level = typeof o.level === 'number' ? o.level : 30;
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString() : '';
  const msg = typeof o.msg === 'string' ? o.msg : '';
  const req = o.req as { method?: string; url?: string } | undefined;
  const res = o.res as { statusCode?: number } | undefined;
  if (req && res && typeof o.responseTime === 'number') {
    const err = o.err as { message?: string } | undefined;
    return `${time} ${req.method ?? '-'} ${req.url ?? '-'} ${res.statusCode ?? '-'} ${o.responseTime.toFixed(1)} ms${err?.message ? ` (${err.message})` : ''}`;
  }
  // `trellis server`'s banner; `trellis serve` says where it listens in its message.
  if (o.event === 'listening' && typeof o.url === 'string') {
    return [
      // `bound` is what the server listens on (0.0.0.0, say); `url` is where a client here reaches it.
      `trellis server listening on ${typeof o.bound === 'string' ? o.bound : o.url}`,
      `  store:     ${String(o.store)}`,
      `  artifacts: ${String(o.artifacts)}`,
      ...(o.auth === 'on'
        ? ['  auth:      on — every request needs a token (trellis tokens create <user>)', `  MLflow clients: export MLFLOW_TRACKING_URI=${String(o.url)} MLFLOW_TRACKING_TOKEN=<token>`]
        : [...(o.auth === 'off' ? ['  auth:      off — loopback only; --auth to require tokens'] : []), `  MLflow clients: export MLFLOW_TRACKING_URI=${String(o.url)}`]),
      ...(o.scheduler ? [`  scheduler: ${o.scheduler as string} runs deployed pipelines when their triggers fire`] : []),
    ].join('\n');
  }
  if (level >= 40) {
    const err = o.err as { message?: string } | undefined;
    return `${LEVELS[level] ?? 'error'}: ${msg}${err?.message && !msg.includes(err.message) ? `: ${err.message}` : ''}`;
  }
  return msg;
}

/**
 * The stream the server's loggers write to: JSON lines on stdout as they are, or each turned into
 * human text, warnings and errors on stderr, the rest on stdout.
 */
export function logDestination(format: LogFormat, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): DestinationStream {
  if (format === 'json') return pino.destination({ dest: 1, sync: true });
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.trim()) continue;
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(line) as Record<string, unknown>;
        } catch {
          out.write(`${line}\n`);
          continue;
        }
        // Fastify announces its address itself; the Trellis banner that follows says it, with the stores.
        if (typeof o.msg === 'string' && o.msg.startsWith('Server listening at ')) continue;
        const text = prettyLine(o);
        ((typeof o.level === 'number' && o.level >= 40) ? err : out).write(`${text}\n`);
      }
      done();
    },
  });
}

/** The server's own logger (banner, warnings, failures) on the stream Fastify's logger shares. */
export function serverLogger(level: string, stream: DestinationStream): Logger {
  return pino(logOptions(level), stream);
}
