/**
 * A stock `ws` client of the feed WebSocket (`/feeds/ws`, subprotocol `livefeed.v1`) for tests:
 * every frame it gets, in order, with helpers to send ops and wait for frames.
 */
import { WebSocket } from 'ws';
import { waitFor } from './test-app.js';

export interface WsFrame {
  op?: string;
  feed?: string;
  type?: string;
  id?: string;
  data?: any;
  [key: string]: any;
}

export interface WsFeedClient {
  ws: WebSocket;
  frames: WsFrame[];
  closed: Promise<{ code: number; reason: string }>;
  send(op: Record<string, unknown>): void;
  /** Waits until `check(frames)` holds. */
  waitFor(check: (frames: WsFrame[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Sends an op with a fresh `ref` and resolves with the reply carrying it. */
  request(op: Record<string, unknown>, timeoutMs?: number): Promise<WsFrame>;
  close(): void;
}

let refs = 0;

export async function openWsFeed(
  baseUrl: string,
  options: { query?: string; headers?: Record<string, string>; protocols?: string[] } = {},
): Promise<WsFeedClient> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/feeds/ws${options.query ? `?${options.query}` : ''}`;
  const ws = new WebSocket(url, options.protocols ?? ['livefeed.v1'], { headers: options.headers });
  const frames: WsFrame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as WsFrame));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
  });
  const client: WsFeedClient = {
    ws,
    frames,
    closed,
    send: (op) => ws.send(JSON.stringify(op)),
    waitFor: async (check, timeoutMs = 10_000) => {
      await waitFor(() => check(frames) || undefined, timeoutMs);
    },
    request: async (op, timeoutMs = 10_000) => {
      const ref = `r${++refs}`;
      client.send({ ...op, ref });
      return (await waitFor(() => frames.find((frame) => frame.ref === ref), timeoutMs))!;
    },
    close: () => ws.terminate(),
  };
  return client;
}

/** The status a refused handshake answered with (undefined: it upgraded). */
export async function handshakeStatus(
  baseUrl: string,
  options: { query?: string; headers?: Record<string, string>; protocols?: string[] } = {},
): Promise<number | undefined> {
  try {
    const client = await openWsFeed(baseUrl, options);
    client.close();
    return undefined;
  } catch (error) {
    const status = /handshake refused: (\d+)/.exec((error as Error).message)?.[1];
    if (!status) throw error;
    return Number(status);
  }
}
