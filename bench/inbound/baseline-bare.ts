/**
 * The baseline: a bare Fastify route (no Nest, no ORM) doing what our Stripe intake must do at the
 * least. It verifies the same `Stripe-Signature` HMAC (HMAC-SHA256 of `t.body`, constant-time
 * compare, 300 s tolerance) with node:crypto, parses the event, inserts the same row into a table
 * with the same columns and indexes with `pg` (same pool size), and answers 200 after the insert.
 * Env: DATABASE_URL (created if absent), STRIPE_SECRET, POOL_SIZE. Prints `READY <port>`.
 */
import Fastify from 'fastify';
import { createHmac, timingSafeEqual } from 'node:crypto';
import pg from 'pg';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/livefeed_bench_inbound_bare';
const secret = process.env.STRIPE_SECRET ?? 'whsec_bench';
const tolerance = 300;

async function ensureSchema(): Promise<pg.Pool> {
  const admin = new URL(url);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (!exists.rowCount) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  await client.end();
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.POOL_SIZE ?? 20) });
  // The app's inbound_events table (see migrations/…-InboundWebhooks.ts).
  await pool.query(`CREATE TABLE IF NOT EXISTS inbound_events (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    provider varchar(32) NOT NULL, external_id varchar(255) NOT NULL, type varchar(200) NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}', payload text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(), status varchar(16) NOT NULL DEFAULT 'received',
    attempts integer NOT NULL DEFAULT 0, replays integer NOT NULL DEFAULT 0, last_error text,
    processed_at timestamptz,
    CONSTRAINT inbound_events_provider_external_id_key UNIQUE (provider, external_id))`);
  await pool.query(
    `CREATE INDEX IF NOT EXISTS inbound_events_waiting_idx ON inbound_events (received_at) WHERE status = 'received'`,
  );
  await pool.query(`CREATE INDEX IF NOT EXISTS inbound_events_received_at_idx ON inbound_events (received_at)`);
  return pool;
}

function verify(raw: Buffer, header: string | undefined): boolean {
  if (!header) return false;
  let timestamp = -1;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.split('=');
    if (key === 't') timestamp = Number(value);
    else if (key === 'v1' && value) signatures.push(value);
  }
  if (timestamp < 0 || signatures.length === 0) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${timestamp}.`).update(raw).digest('hex'));
  const match = signatures.some((s) => s.length === expected.length && timingSafeEqual(Buffer.from(s), expected));
  const age = Math.floor(Date.now() / 1000) - timestamp;
  return match && Math.abs(age) <= tolerance;
}

async function main() {
  const pool = await ensureSchema();
  const app = Fastify({ bodyLimit: 1_048_576 });
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/webhooks/stripe', async (request, reply) => {
    const raw = request.body as Buffer;
    if (!verify(raw, request.headers['stripe-signature'] as string | undefined)) {
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'bad signature' });
    }
    let event: { id?: unknown; type?: unknown };
    try {
      event = JSON.parse(raw.toString('utf8'));
    } catch {
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'bad JSON' });
    }
    if (typeof event.id !== 'string' || typeof event.type !== 'string') {
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'bad event' });
    }
    try {
      const result = await pool.query(
        `INSERT INTO inbound_events (provider, external_id, type, headers, payload) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (provider, external_id) DO NOTHING RETURNING id`,
        [
          'stripe',
          event.id,
          event.type,
          { 'content-type': request.headers['content-type'], 'user-agent': request.headers['user-agent'] },
          raw.toString('utf8'),
        ],
      );
      return result.rowCount
        ? { received: true, id: result.rows[0].id, duplicate: false }
        : { received: true, duplicate: true };
    } catch {
      return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'storage down' });
    }
  });
  app.get('/health/ready', async () => ({ status: 'ok' }));
  await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
  const address = app.server.address();
  console.log(`READY ${typeof address === 'object' && address ? address.port : 0}`);
  const stop = () => void app.close().then(() => pool.end().then(() => process.exit(0)));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main();
