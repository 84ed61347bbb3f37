/**
 * Feed cursors: opaque to clients, `<epoch>:<stream id>`. The epoch is a random value stored beside
 * the feed's Redis stream; if Redis loses the stream it loses the epoch too, a new one is made, and
 * every older cursor is recognisably from another epoch (so the client gets `event: reset`).
 */
const STREAM_ID = /^(\d{1,16})-(\d{1,16})$/;
const CURSOR = /^([0-9a-f]{8,32}):(\d{1,16}-\d{1,16})$/;

export interface Cursor {
  epoch: string;
  id: string;
}

export function encodeCursor(epoch: string, id: string): string {
  return `${epoch}:${id}`;
}

export function decodeCursor(value: unknown): Cursor | undefined {
  if (typeof value !== 'string' || value.length > 80) return undefined;
  const match = CURSOR.exec(value);
  return match ? { epoch: match[1], id: match[2] } : undefined;
}

/** Orders Redis stream ids (`ms-seq`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am, as] = splitId(a);
  const [bm, bs] = splitId(b);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

function splitId(id: string): [bigint, bigint] {
  const match = STREAM_ID.exec(id);
  if (!match) return [0n, 0n];
  return [BigInt(match[1]), BigInt(match[2])];
}
