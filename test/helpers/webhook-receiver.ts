/**
 * A subscriber's server for outbound webhook tests: node:http on 127.0.0.1, one route per endpoint
 * path, each request verified with the `standardwebhooks` library against the secrets the test
 * registered for that route. A route's reply function decides the status (or `'hang'` to hold the
 * request open, for crash tests).
 */
import {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  createServer,
} from 'node:http';
import { Webhook } from 'standardwebhooks';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Epoch ms when the request's body was complete. */
  at: number;
  webhookId: string;
  /** Which registered secrets verified the signature (empty = none did). */
  verifiedWith: string[];
  payload: any;
  /** What the route answered (0 while hanging). */
  status: number;
}

/** `delayMs`: answer that much later (a slow receiver). */
export type Reply = { status?: number; headers?: Record<string, string>; body?: string; delayMs?: number } | 'hang';
export type ReplyFn = (request: ReceivedRequest, nth: number) => Reply;

interface Route {
  secrets: string[];
  reply: ReplyFn;
}

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly routes = new Map<string, Route>();
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(): Promise<WebhookReceiver> {
    const holder: { receiver?: WebhookReceiver } = {};
    const server = createServer((req, res) => holder.receiver!.handle(req, res));
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    holder.receiver = new WebhookReceiver(server, `http://127.0.0.1:${port}`);
    return holder.receiver;
  }

  get port(): number {
    return Number(new URL(this.base).port);
  }

  /** Registers (or changes) a route; `reply` defaults to 200. */
  route(path: string, options: { secrets?: string[]; reply?: ReplyFn } = {}): string {
    const current = this.routes.get(path);
    this.routes.set(path, {
      secrets: options.secrets ?? current?.secrets ?? [],
      reply: options.reply ?? current?.reply ?? (() => ({ status: 200 })),
    });
    return `${this.base}${path}`;
  }

  received(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  succeeded(path: string): ReceivedRequest[] {
    return this.received(path).filter((r) => r.status >= 200 && r.status < 300);
  }

  /** Answers every hanging request with `status` (or drops them). */
  releaseHanging(status?: number): void {
    for (const res of this.hanging) {
      if (status) res.writeHead(status).end();
      else res.destroy();
    }
    this.hanging.clear();
  }

  async close(): Promise<void> {
    this.releaseHanging();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      const body = Buffer.concat(chunks).toString('utf8');
      const route = this.routes.get(path);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([, v]) => typeof v === 'string') as [string, string][],
      );
      const verifiedWith = (route?.secrets ?? []).filter((secret) => {
        try {
          new Webhook(secret).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      });
      let payload: unknown;
      try {
        payload = JSON.parse(body);
      } catch {
        payload = undefined;
      }
      const received: ReceivedRequest = {
        path,
        headers: req.headers,
        body,
        at: Date.now(),
        webhookId: String(req.headers['webhook-id'] ?? ''),
        verifiedWith,
        payload,
        status: 0,
      };
      this.requests.push(received);
      if (!route) {
        received.status = 404;
        res.writeHead(404).end('no such route');
        return;
      }
      const nth = this.received(path).length;
      const reply = route.reply(received, nth);
      if (reply === 'hang') {
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      }
      const answer = () => {
        received.status = reply.status ?? 200;
        res.writeHead(received.status, { 'content-type': 'text/plain', ...reply.headers }).end(reply.body ?? 'ok');
      };
      if (reply.delayMs) {
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        setTimeout(() => {
          this.hanging.delete(res);
          if (!res.destroyed) answer();
        }, reply.delayMs);
      } else answer();
    });
  }
}
