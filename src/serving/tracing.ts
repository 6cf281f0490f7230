/**
 * Spans around model loads and inferences through @opentelemetry/api, which records nothing unless
 * the process registers an exporter (the API's no-op tracer costs a few hundred nanoseconds).
 */
import { trace, SpanStatusCode, type Span } from '@opentelemetry/api';

export const tracer = trace.getTracer('trellis.serving');

/** Runs `fn` in a span named `name` with `attrs`; the span ends with the outcome. */
export async function inSpan<T>(name: string, attrs: Record<string, string | number>, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes: attrs }, async (span) => {
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

