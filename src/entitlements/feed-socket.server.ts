/**
 * The feed WebSocket endpoint, `GET /feeds/ws` (RFC 6455, the `ws` library on the app's own HTTP
 * server, next to socket.io). The handshake is refused with a plain HTTP answer when the client
 * does not offer subprotocol `livefeed.v1` (400), its Origin is not allowed (403, the rule of the
 * chat's socket.io), the instance is full (503), or a token on the upgrade (`Authorization:
 * Bearer`, or `?token=`) is not valid (401). A client with no token on the upgrade may send an
 * `auth` op as its first frame; otherwise it reads as anonymous. Feeds register here (ticker,
 * scores); each socket then speaks the protocol of feed-socket.session.ts.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import proxyAddr from '@fastify/proxy-addr';
import { HttpException, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { WebSocketServer } from 'ws';
import { AppConfig } from '#src/config/app-config.js';
import { bearerToken } from '#src/platform/auth/token.service.js';
import { originAllowed } from '#src/platform/http/origin.js';
import { RealtimeService } from '#src/platform/realtime/realtime.service.js';
import { FeedAccessService } from './feed-access.service.js';
import { FeedGate, type GatedFeed } from './feed-gate.js';
import { FeedSocketSession } from './feed-socket.session.js';
import type { FeedName } from './feed-tokens.service.js';

export const FEEDS_WS_PATH = '/feeds/ws';
export const FEEDS_WS_PROTOCOL = 'livefeed.v1';
/** A client frame is a small JSON op. */
const MAX_FRAME_BYTES = 64 * 1024;

/** A feed as the WebSocket serves it. */
export interface SocketFeed extends GatedFeed {
  /** Normalises and checks a subscription's topics (a 4xx HttpException for unknown or too many). */
  parseTopics(topics: string[]): Promise<ReadonlySet<string> | undefined>;
  /** A topic as the feed spells it (what `parseTopics` does to each, without the checks). */
  normalise(topic: string): string;
  snapshot(topics: ReadonlySet<string> | undefined, asOfMs?: number): Promise<unknown>;
}

@Injectable()
export class FeedSocketServer implements OnApplicationBootstrap {
  private readonly logger = new Logger(FeedSocketServer.name);
  private readonly feeds = new Map<FeedName, SocketFeed>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    handleProtocols: () => FEEDS_WS_PROTOCOL, // offered: checked before the upgrade
  });
  private readonly clientIp: (req: IncomingMessage) => string;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly gate: FeedGate,
    private readonly access: FeedAccessService,
    private readonly realtime: RealtimeService,
    private readonly config: AppConfig,
  ) {
    // The client address as Fastify's `request.ip` has it (TRUST_PROXY), for anonymous slots.
    const trustProxy = config.app.trustProxy;
    const trust =
      typeof trustProxy === 'string' ? proxyAddr.compile(trustProxy.split(',').map((s) => s.trim())) : () => trustProxy;
    this.clientIp = (req) => proxyAddr(req, trust);
  }

  register(feed: SocketFeed): void {
    this.feeds.set(feed.name, feed);
  }

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter.getHttpServer() as import('node:http').Server;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (pathOf(req.url) !== FEEDS_WS_PATH) return; // socket.io's, or nobody's (engine.io ends those)
      this.upgrade(req, socket, head).catch((error: Error) => {
        this.logger.warn(`feed socket handshake: ${error.message}`);
        refuse(socket, 500, 'handshake failed');
      });
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((protocol) => protocol.trim());
    if (!offered.includes(FEEDS_WS_PROTOCOL)) return refuse(socket, 400, `subprotocol ${FEEDS_WS_PROTOCOL} required`);
    if (!originAllowed(req, this.config.app.corsOrigins)) return refuse(socket, 403, 'origin not allowed');
    if (!this.realtime.hasCapacity()) return refuse(socket, 503, 'too many open streams on this instance');
    const ip = this.clientIp(req);
    const token =
      bearerToken(req.headers.authorization) ??
      (new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') || undefined);
    let viewer;
    try {
      viewer = token ? await this.access.viewerOf(token, ip) : undefined;
    } catch (error) {
      if (error instanceof HttpException) return refuse(socket, error.getStatus(), error.message);
      throw error;
    }
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = this.realtime.adoptSocket(ws, socket);
      new FeedSocketSession(ws, connection, {
        feeds: this.feeds,
        gate: this.gate,
        access: this.access,
        realtime: this.realtime,
        maxTopics: this.config.realtime.maxTopicsPerSubscription,
        ip,
        viewer,
        logger: this.logger,
      }).start();
    });
  }
}

function pathOf(url: string | undefined): string {
  const end = url?.indexOf('?') ?? -1;
  return end >= 0 ? url!.slice(0, end) : (url ?? '');
}

/** Answers a refused handshake in plain HTTP, with a JSON body like the app's errors. */
function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ statusCode: status, message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
