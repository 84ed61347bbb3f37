/**
 * Baseline for the scores fan-out: the least a scores server can do without losing a score. A bare
 * node:http server; a posted event is one autocommit INSERT into Postgres (pg pool of the app's
 * size), then encoded once into a Buffer that is `res.write`n to every subscriber of its match. No
 * framework, no validation beyond the bench's own shapes, no outbox, no Redis, no resume, no
 * backpressure. Match state (score, seq) lives in memory; the driver keeps one post in flight per
 * match, so seq order is insert order.
 *
 *   POST /admin/scores/matches { sport, homeTeam, awayTeam, startsAt } → 201 { id, ... }
 *   POST /admin/scores/matches/:id/events { kind, team?, points? }      → 201 { match, event }
 *   GET  /scores/stream?matches=id                                       SSE: snapshot, then score
 * Env: DATABASE_URL (the driver creates the database), POOL_SIZE (default 20), PORT.
 */
import { randomUUID } from 'node:crypto';
import { type ServerResponse, createServer } from 'node:http';
import pg from 'pg';
import { SSE_HEADERS, listenAndAnnounce, readJson, sendJson } from '../ticker/common.js';
import { ADMIN_API_KEY, type EventView, type ScoreState, scoreFrameData } from './common.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 20) });
const matches = new Map<string, ScoreState>();
const subscribers = new Map<string, Set<ServerResponse>>();
let lastId = 0;

const EVENT_PATH = /^\/admin\/scores\/matches\/([0-9a-f-]{36})\/events$/;

async function createTables(): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS bench_matches (
    id uuid PRIMARY KEY, sport text NOT NULL, home_team text NOT NULL, away_team text NOT NULL,
    starts_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
  await pool.query(`CREATE TABLE IF NOT EXISTS bench_match_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), match_id uuid NOT NULL, seq int NOT NULL, kind text NOT NULL,
    team text, points int, period int NOT NULL, home_score int NOT NULL, away_score int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (match_id, seq))`);
}

async function postEvent(match: ScoreState, body: any): Promise<{ status: number; body: unknown }> {
  const kind = String(body?.kind);
  const next = { ...match, seq: match.seq + 1 };
  let team: string | null = null;
  let points: number | null = null;
  if (kind === 'kickoff' && match.status === 'scheduled') {
    next.status = 'live';
    next.period = 1;
  } else if (kind === 'score' && match.status === 'live' && (body.team === 'home' || body.team === 'away')) {
    team = body.team;
    points = Number(body.points ?? 1);
    if (team === 'home') next.home += points;
    else next.away += points;
  } else if (kind === 'final' && match.status === 'live') {
    next.status = 'finished';
  } else {
    return { status: 409, body: { statusCode: 409, message: `cannot post ${kind}: match is ${match.status}` } };
  }
  matches.set(match.id, next); // reserve the seq before the insert (one post in flight per match)
  try {
    const { rows } = await pool.query(
      `INSERT INTO bench_match_events (match_id, seq, kind, team, points, period, home_score, away_score)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, created_at`,
      [next.id, next.seq, kind, team, points, next.period, next.home, next.away],
    );
    const event: EventView = {
      id: rows[0].id,
      seq: next.seq,
      kind,
      team,
      points,
      period: next.period,
      home: next.home,
      away: next.away,
      at: (rows[0].created_at as Date).toISOString(),
    };
    const frame = Buffer.from(`id: ${++lastId}\nevent: score\ndata: ${scoreFrameData(next, event)}\n\n`);
    const subs = subscribers.get(next.id);
    if (subs) for (const res of subs) res.write(frame);
    return { status: 201, body: { match: next, event } };
  } catch (error) {
    matches.set(match.id, match);
    throw error;
  }
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/scores/stream') {
    const ids = (url.searchParams.get('matches') ?? '').split(',').filter((id) => matches.has(id));
    if (ids.length === 0) return sendJson(res, 422, { statusCode: 422, message: 'unknown match' });
    res.writeHead(200, SSE_HEADERS);
    res.write('retry: 2000\n\n');
    res.write(
      `id: ${lastId}\nevent: snapshot\ndata: ${JSON.stringify({ matches: ids.map((id) => matches.get(id)) })}\n\n`,
    );
    for (const id of ids) {
      let set = subscribers.get(id);
      if (!set) subscribers.set(id, (set = new Set()));
      set.add(res);
    }
    res.once('close', () => {
      for (const id of ids) subscribers.get(id)?.delete(res);
    });
    return;
  }
  if (req.method === 'POST' && url.pathname.startsWith('/admin/')) {
    if (req.headers.authorization !== `Bearer ${ADMIN_API_KEY}`) return sendJson(res, 401, { statusCode: 401 });
    readJson(req)
      .then(async (body) => {
        if (url.pathname === '/admin/scores/matches') {
          const id = randomUUID();
          await pool.query(
            'INSERT INTO bench_matches (id, sport, home_team, away_team, starts_at) VALUES ($1, $2, $3, $4, $5)',
            [id, body.sport, body.homeTeam, body.awayTeam, body.startsAt],
          );
          const match: ScoreState = { id, status: 'scheduled', home: 0, away: 0, period: 0, seq: 0 };
          matches.set(id, match);
          return sendJson(res, 201, match);
        }
        const found = EVENT_PATH.exec(url.pathname);
        const match = found ? matches.get(found[1]) : undefined;
        if (!match) return sendJson(res, 404, { statusCode: 404, message: 'match not found' });
        const result = await postEvent(match, body);
        sendJson(res, result.status, result.body);
      })
      .catch((error: Error) => sendJson(res, 500, { statusCode: 500, message: error.message }));
    return;
  }
  if (req.method === 'GET' && url.pathname === '/health/ready') return sendJson(res, 200, { status: 'ok' });
  sendJson(res, 404, { statusCode: 404, message: 'not found' });
});

createTables().then(
  () => listenAndAnnounce(server),
  (error: Error) => {
    console.error(`baseline: ${error.message}`);
    process.exit(1);
  },
);
