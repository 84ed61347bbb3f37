/**
 * Everything global about the app, in one place: used by main.ts and by the e2e tests, so the tests
 * run the app production runs.
 */
import {
  BadRequestException,
  type ModuleMetadata,
  UnprocessableEntityException,
  UnsupportedMediaTypeException,
  ValidationPipe,
} from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { RawServerDefault } from 'fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { asyncApiDocument } from './docs/asyncapi.js';
import type { AppConfig } from './config/app-config.js';
import { serveDashboardAssets } from './dashboard/dashboard.static.js';
import { ADMIN_AUTH, USER_AUTH } from './platform/auth/decorators.js';
import { ErrorFilter, toErrorBody } from './platform/http/error.filter.js';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from './platform/http/json-depth.js';
import { SECURITY_HEADERS } from './platform/http/security-headers.js';
import { closeTlsConnectionsOnClose } from './platform/http/tls-connections.js';
import { invalidTextMessage, invalidTextPath } from './platform/http/safe-text.js';
import { accessLogLevel, requestId } from './platform/observability/logger.js';
import { MetricsService } from './platform/observability/metrics.service.js';
import { RedisIoAdapter } from './platform/redis/redis-io.adapter.js';
import { RedisService } from './platform/redis/redis.service.js';

/** The version both API documents carry. */
const API_VERSION = '0.1.0';

export interface CreateAppOptions {
  /** Extra modules (tests add fixtures this way). */
  imports?: ModuleMetadata['imports'];
  /** Install SIGTERM/SIGINT handlers (main.ts does; in-process tests do not). */
  shutdownHooks?: boolean;
}

export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const common = {
    bodyLimit: config.app.bodyLimitBytes,
    trustProxy: config.app.trustProxy,
    forceCloseConnections: true,
    return503OnClosing: true,
    requestTimeout: config.app.requestTimeoutMs,
    genReqId: requestId,
  };
  const tls = config.app.tls;
  const adapter = tls
    ? // HTTPS with HTTP/2, and HTTP/1.1 by ALPN on the same port (socket.io, the feed WebSocket and
      // clients without h2): many SSE streams of one browser share one connection.
      new FastifyAdapter({
        ...common,
        http2: true,
        https: { allowHTTP1: true, cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) },
      } as unknown as ConstructorParameters<typeof FastifyAdapter>[0])
    : new FastifyAdapter({
        ...common,
        // Headers and body within REQUEST_TIMEOUT_MS, else 408 (Node's own request timeout, which stops
        // once the request is fully read: streamed responses are not cut). Node arms it only when the
        // server is created with it, so it goes to createServer (`http`) as well as to Fastify, which
        // assigns its own value afterwards. Node checks every 30 s by default; a tenth of the timeout
        // keeps a stalled client's wait close to the configured value.
        http: {
          requestTimeout: config.app.requestTimeoutMs,
          connectionsCheckingInterval: Math.max(100, Math.floor(config.app.requestTimeoutMs / 10)),
          // Node 22 raised sockets' default high-water mark from 16 KiB to 64 KiB. A streaming
          // connection's congestion is "over its byte budget and waiting for a drain", and the drain
          // comes only past the high-water mark: keep it at 16 KiB, below the default SSE budget, so a
          // slow reader is conflated (ticker) or closed (scores) at the budget on every Node version.
          highWaterMark: 16_384,
        },
      });
  if (tls) closeTlsConnectionsOnClose(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, options.imports), adapter, {
    bufferLogs: true,
  });
  await configureApp(app, config, options);
  return app;
}

export async function configureApp(app: NestFastifyApplication, config: AppConfig, options: CreateAppOptions = {}) {
  app.useLogger(app.get(Logger));
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.useGlobalFilters(new ErrorFilter(app.get(HttpAdapterHost)));
  app.useWebSocketAdapter(new RedisIoAdapter(app, app.get(RedisService)));
  app.enableCors({ origin: config.app.corsOrigins.length > 0 ? config.app.corsOrigins : false, credentials: true });
  if (options.shutdownHooks) app.enableShutdownHooks();

  const fastify = app.getHttpAdapter().getInstance();
  await serveDashboardAssets(app);

  const metrics = app.get(MetricsService);
  // JSON only: any other body type is a 415, not a string handed to validation.
  fastify.removeContentTypeParser(['text/plain']);
  // A route marked `@RouteConfig({ rawBody: true })` (signed webhooks: the signature covers the exact
  // bytes) gets its JSON body as the unparsed Buffer; every other route gets it parsed, as before.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  const isRawRoute = (request: { routeOptions: { config: unknown } }) =>
    (request.routeOptions.config as { rawBody?: boolean }).rawBody === true;
  app.useBodyParser<RawServerDefault>('application/json', {}, (request, body, done) => {
    if (isRawRoute(request)) done(null, body);
    else parseJson(request, body.toString('utf8'), done);
  });
  // Form bodies only where a sender signs them (GitHub's default webhook content type): those routes
  // get the bytes; every other route is JSON only. Registered here so that Nest's own urlencoded
  // parser, which would parse forms for every route, is never installed.
  app.useBodyParser<RawServerDefault>('application/x-www-form-urlencoded', {}, (request, body, done) => {
    if (isRawRoute(request)) done(null, body);
    else done(new UnsupportedMediaTypeException('send the body as application/json'), undefined);
  });
  fastify.addHook('preValidation', (request, reply, done) => {
    // A parsed body nested past MAX_JSON_DEPTH is refused before anything recurses over it.
    if (jsonDepthExceeds(request.body)) {
      const error = new BadRequestException(`JSON body nested deeper than ${MAX_JSON_DEPTH} levels`);
      void reply.code(400).send(toErrorBody(error));
      return;
    }
    // Every string a client sends (path, query, JSON body) is storable text; signed webhook bodies
    // are bytes, stored as received.
    const bad =
      invalidTextPath(request.params, 'params') ??
      invalidTextPath(request.query, 'query') ??
      invalidTextPath(request.body, 'body');
    if (bad) {
      void reply.code(422).send(toErrorBody(new UnprocessableEntityException(invalidTextMessage(bad))));
      return;
    }
    done();
  });
  // Helmet's headers on every response (security-headers.ts: computed once, not per request). On
  // send, not on request: a stream (hijacked) never sends through Fastify and writes its own
  // security headers (security-headers.ts), so its reply does not keep a copy of these.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS).header('x-request-id', request.id);
    done(null, payload);
  });
  // One access line per request, at info (2xx/3xx), warn (4xx) or error (5xx). The route pattern,
  // not the URL: query strings (`?token=` on streams) never reach the log.
  const accessLog = app.get(Logger);
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, seconds);
    if (!/^\/(health|metrics)/.test(route)) {
      const line = {
        msg: 'request completed',
        requestId: request.id,
        method: request.method,
        route,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
      };
      accessLog[accessLogLevel(reply.statusCode)](line, 'http');
    }
    done();
  });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Live-feed backend')
      .setDescription(
        'Ticker and scores over SSE, NDJSON, the feed WebSocket and polls, chat over socket.io, inbound and outbound webhooks, admin API. The realtime wire: `/docs/asyncapi.json` (AsyncAPI 3).',
      )
      .setVersion(API_VERSION)
      // The admin credential is a static key sent as `Authorization: Bearer <key>`. It stays an http
      // bearer scheme (Swagger UI then adds the `Bearer ` prefix itself; an apiKey scheme on the
      // Authorization header would make the operator type it), but not a JWT: addBearerAuth's
      // default bearerFormat is 'JWT', so it is set explicitly.
      .addBearerAuth(
        {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'API key',
          description: 'The ADMIN_API_KEY itself (an opaque key, not a JWT): `Authorization: Bearer <ADMIN_API_KEY>`.',
        },
        ADMIN_AUTH,
      )
      .addBearerAuth(
        {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A user JWT (HS256) from POST /admin/users/{id}/tokens or POST /auth/demo.',
        },
        USER_AUTH,
      )
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  // The realtime wire (feed WebSocket, SSE streams, chat socket): AsyncAPI 3, beside the OpenAPI document.
  const asyncApi = asyncApiDocument(API_VERSION);
  app
    .getHttpAdapter()
    .get('/docs/asyncapi.json', (_request: unknown, reply: { send(body: unknown): void }) => reply.send(asyncApi));
  return app;
}
