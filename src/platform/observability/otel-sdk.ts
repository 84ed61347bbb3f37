/**
 * The NodeSDK as src/otel.ts starts it. Its exporter, OTLP over HTTP with JSON bodies, reads the
 * standard variables (OTEL_EXPORTER_OTLP_ENDPOINT, …_HEADERS, …_TIMEOUT; OTEL_BSP_* for batching,
 * OTEL_TRACES_SAMPLER for sampling); the service is `live-feed-backend` unless OTEL_SERVICE_NAME says.
 */
import { type ProxyTracerProvider, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { enableTracing } from './tracing.js';

export function startTracing(): NodeSDK {
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME || 'live-feed-backend',
    traceExporter: new OTLPTraceExporter(),
    instrumentations: [
      new HttpInstrumentation(),
      new UndiciInstrumentation(),
      new PgInstrumentation(),
      new IORedisInstrumentation(),
    ],
  });
  sdk.start();
  enableTracing();
  // The app's own shutdown hooks run on these signals and then exit: send what is buffered first.
  // (once: the app's hooks raise the signal again when they are done, and that one must exit).
  const provider = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate() as {
    forceFlush?: () => Promise<void>;
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void provider.forceFlush?.().catch(() => undefined));
  }
  return sdk;
}
