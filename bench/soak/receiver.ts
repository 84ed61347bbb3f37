/**
 * The soak's outbound webhook receiver, forked by run.ts: one node:http server, one route per
 * endpoint (`/ep-<i>`), each with a behaviour (`ok`, `slow`: answers after 200–1,000 ms, `failing`:
 * answers 500 to a share of requests). Every request is verified with the `standardwebhooks` library
 * against its endpoint's secret. A route processes each webhook-id once (the dedupe a subscriber is
 * asked to do) and answers a repeat with 200 without processing it again.
 *
 * IPC: `{ id, cmd: 'routes', routes: [{ path, secret, behaviour }] }`, `{ cmd: 'report' }`, `{ cmd: 'exit' }`.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

type Behaviour = 'ok' | 'slow' | 'failing';
interface Route {
  behaviour: Behaviour;
  verifier: Webhook;
  /** webhook-id → the domain event's identity (type + the fact it names), processed once. */
  processed: Map<string, string>;
  requests: number;
  repeats: number;
  failedOnPurpose: number;
  badSignatures: number;
  /** The same fact under two webhook-ids: what a dedupe by webhook-id cannot catch. */
  factTwice: number;
  facts: Set<string>;
}

const FAIL_SHARE = Number(process.env.SOAK_FAIL_SHARE ?? 0.3);
const routes = new Map<string, Route>();

/** What the event is about, independent of the webhook-id: its type and the id of its fact. */
function factOf(body: string): string {
  try {
    const payload = JSON.parse(body) as { type: string; data: Record<string, any> };
    const d = payload.data ?? {};
    const key = d.event?.id ?? d.stripeEventId ?? d.paymentIntentId ?? JSON.stringify(d);
    return `${payload.type}:${key}`;
  } catch {
    return `unparsable:${body.slice(0, 50)}`;
  }
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const route = routes.get((req.url ?? '/').split('?')[0]);
    if (!route) return void res.writeHead(404).end();
    route.requests++;
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([, v]) => typeof v === 'string') as [string, string][],
    );
    try {
      route.verifier.verify(body, headers);
    } catch {
      route.badSignatures++;
      return void res.writeHead(400).end('bad signature');
    }
    const answer = () => {
      if (route.behaviour === 'failing' && Math.random() < FAIL_SHARE) {
        route.failedOnPurpose++;
        return void res.writeHead(500).end('try again');
      }
      const webhookId = headers['webhook-id'];
      if (route.processed.has(webhookId)) route.repeats++;
      else {
        const fact = factOf(body);
        if (route.facts.has(fact)) route.factTwice++;
        route.facts.add(fact);
        route.processed.set(webhookId, fact);
      }
      res.writeHead(200).end('ok');
    };
    if (route.behaviour === 'slow') setTimeout(answer, 200 + Math.random() * 800);
    else answer();
  });
}

const server = createServer(handle);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ ready: true, port: (server.address() as { port: number }).port });
});

process.on('message', (msg: any) => {
  let reply: Record<string, unknown> = {};
  if (msg.cmd === 'routes') {
    for (const r of msg.routes as { path: string; secret: string; behaviour: Behaviour }[]) {
      routes.set(r.path, {
        behaviour: r.behaviour,
        verifier: new Webhook(r.secret),
        processed: new Map(),
        requests: 0,
        repeats: 0,
        failedOnPurpose: 0,
        badSignatures: 0,
        factTwice: 0,
        facts: new Set(),
      });
    }
  } else if (msg.cmd === 'report') {
    reply = {
      routes: Object.fromEntries(
        [...routes].map(([path, r]) => [
          path,
          {
            behaviour: r.behaviour,
            requests: r.requests,
            repeats: r.repeats,
            failedOnPurpose: r.failedOnPurpose,
            badSignatures: r.badSignatures,
            factTwice: r.factTwice,
            processedIds: msg.ids ? [...r.processed.keys()] : undefined,
            processed: r.processed.size,
          },
        ]),
      ),
    };
  } else if (msg.cmd === 'exit') {
    server.closeAllConnections();
    server.close();
    setImmediate(() => process.exit(0));
  }
  process.send?.({ id: msg.id, ok: true, ...reply });
});
process.on('disconnect', () => process.exit(0));
