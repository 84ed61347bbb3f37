/**
 * OpenTelemetry, loaded before the app (`node --import ./dist/otel.js dist/main.js`): off unless
 * OTEL_EXPORTER_OTLP_ENDPOINT is set, and then nothing else is loaded either. On, it registers the
 * ESM hook (so the instrumentations can patch modules the app imports after this) and starts the
 * SDK: spans of HTTP (server and the outbound sender's undici), Postgres and Redis, exported over
 * OTLP/HTTP (JSON) as the standard OTEL_* variables say.
 */
import { register } from 'node:module';

if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const { startTracing } = await import('./platform/observability/otel-sdk.js');
  startTracing();
}
