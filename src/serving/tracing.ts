/**
 * Spans around model loads and inferences through @opentelemetry/api, which records nothing unless
 * the process registers an exporter. A span that is not recording (no SDK, or not sampled) is not
 * made the active one: the request path then pays for one no-op span object, nothing more.
 */
import { context, trace, SpanStatusCode, type Span } from '@opentelemetry/api';

export const tracer = trace.getTracer('trellis.serving');

/** Runs `fn` in a span named `name` with `attrs`; the span ends with the outcome. */
export function inSpan<T>(name: string, attrs: Record<string, string | number>, fn: (span: Span) => Promise<T>): Promise<T> {
  const span = tracer.startSpan(name, { attributes: attrs });
  if (!span.isRecording()) {
    span.end();
    try {
      return fn(span);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }
  return context.with(trace.setSpan(context.active(), span), async () => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      throw e;
    } finally {
      span.end();
    }
  });
}
