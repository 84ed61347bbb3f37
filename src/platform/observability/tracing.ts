/**
 * Tracing for the code's own spans (the instrumentations make the HTTP, Postgres and Redis ones):
 * the W3C `traceparent` of the active span, to store where a fact waits (an outbox row, a job), and
 * spans whose parent is such a stored context. Off unless src/otel.ts started the SDK: then every
 * helper here returns at once, with no span made and nothing read.
 */
import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
} from '@opentelemetry/api';

let enabled = false;

/** Called by src/otel.ts once the SDK runs. */
export function enableTracing(): void {
  enabled = true;
}

export function tracingEnabled(): boolean {
  return enabled;
}

/** The active span's context as a W3C `traceparent`, or null (tracing off, or no span). */
export function activeTraceparent(): string | null {
  if (!enabled) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

function extracted(traceparent: string): Context {
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /**
   * Stored contexts this work continues (`traceparent`s; nulls are skipped). One distinct context
   * is the span's parent; several are links of a new root span (a batch of several traces); none,
   * a new root. Without this option the span is a child of the active one.
   */
  parents?: readonly (string | null | undefined)[];
}

/** Runs `work` in a span named `name`; with tracing off, just runs it. */
export function inSpan<T>(name: string, options: SpanOptions, work: () => Promise<T>): Promise<T> {
  if (!enabled) return work();
  let parent = context.active();
  let links: Link[] | undefined;
  if (options.parents) {
    const distinct = [...new Set(options.parents.filter((p): p is string => typeof p === 'string' && p !== ''))];
    parent = distinct.length === 1 ? extracted(distinct[0]) : ROOT_CONTEXT;
    if (distinct.length > 1) {
      links = distinct.flatMap((p) => {
        const spanContext = trace.getSpanContext(extracted(p));
        return spanContext ? [{ context: spanContext }] : [];
      });
    }
  }
  const tracer = trace.getTracer('live-feed-backend');
  return tracer.startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes, links },
    parent,
    async (span) => {
      try {
        return await work();
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Log fields of the active span (pino mixin), `{}` outside a span. */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {};
}

export { SpanKind };
