/**
 * Everything global about the app, in one place: used by main.ts and by the e2e tests, so the tests
 * run the app production runs.
 */
import helmet from '@fastify/helmet';
import { BadRequestException, type ModuleMetadata, ValidationPipe } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { RawServerDefault } from 'fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app-config.js';
import { serveDashboardAssets } from './dashboard/dashboard.static.js';
import { ADMIN_AUTH, USER_AUTH } from './platform/auth/decorators.js';
import { ErrorFilter, toErrorBody } from './platform/http/error.filter.js';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from './platform/http/json-depth.js';
import { MetricsService } from './platform/observability/metrics.service.js';

export interface CreateAppOptions {
  /** Extra modules (tests add fixtures this way). */
  imports?: ModuleMetadata['imports'];
  /** Install SIGTERM/SIGINT handlers (main.ts does; in-process tests do not). */
  shutdownHooks?: boolean;
}

export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.app.bodyLimitBytes,
    trustProxy: config.app.trustProxy,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
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
  app.enableCors({ origin: config.app.corsOrigins.length > 0 ? config.app.corsOrigins : false, credentials: true });
  if (options.shutdownHooks) app.enableShutdownHooks();

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        // The dashboard's bundle is a same-origin file: no inline script, no eval, no CDN.
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        // EventSource, fetch and the socket.io WebSocket (CSP3 'self' covers ws:/wss: to this host).
        connectSrc: ["'self'"],
        // Helmet's default would rewrite the page's http:// requests to https:// behind a plain-HTTP
        // proxy or on a LAN address, and the page would load nothing.
        upgradeInsecureRequests: null,
      },
    },
    crossOriginEmbedderPolicy: false,
  });
  await serveDashboardAssets(app);

  const metrics = app.get(MetricsService);
  const fastify = app.getHttpAdapter().getInstance();
  // JSON only: any other body type is a 415, not a string handed to validation.
  fastify.removeContentTypeParser(['text/plain']);
  // A route marked `@RouteConfig({ rawBody: true })` (signed webhooks: the signature covers the exact
  // bytes) gets its JSON body as the unparsed Buffer; every other route gets it parsed, as before.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<RawServerDefault>('application/json', {}, (request, body, done) => {
    if ((request.routeOptions.config as { rawBody?: boolean }).rawBody) done(null, body);
    else parseJson(request, body.toString('utf8'), done);
  });
  // A parsed body nested past MAX_JSON_DEPTH is refused before anything recurses over it.
  fastify.addHook('preValidation', (request, reply, done) => {
    if (jsonDepthExceeds(request.body)) {
      const error = new BadRequestException(`JSON body nested deeper than ${MAX_JSON_DEPTH} levels`);
      void reply.code(400).send(toErrorBody(error));
      return;
    }
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Live-feed backend')
      .setDescription(
        'Ticker and scores over SSE and polls, chat over socket.io, inbound and outbound webhooks, admin API.',
      )
      .setVersion('0.1.0')
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
  return app;
}
