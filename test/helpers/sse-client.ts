/** A raw-http SSE client for tests: collects frames, can stop reading, always closable. */
import { type IncomingMessage, request } from 'node:http';

export interface SseFrame {
  id?: string;
  event: string;
  data: any;
}

export interface SseClient {
  status: number;
  headers: IncomingMessage['headers'];
  frames: SseFrame[];
  /** Comment lines (`: heartbeat`) seen so far. */
  comments: string[];
  response: IncomingMessage;
  waitFor(predicate: (frames: SseFrame[]) => boolean, timeoutMs?: number): Promise<SseFrame[]>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
      const frames: SseFrame[] = [];
      const comments: string[] = [];
      let buffer = '';
      const waiters = new Set<() => void>();
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const frame: SseFrame = { event: 'message', data: undefined };
          let data: string | undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            if (line.startsWith(':') || line.startsWith('retry:')) continue;
            const colon = line.indexOf(':');
            const field = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') frame.id = value;
            else if (field === 'event') frame.event = value;
            else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
          }
          if (data === undefined) continue;
          try {
            frame.data = JSON.parse(data);
          } catch {
            frame.data = data;
          }
          frames.push(frame);
        }
        for (const wake of waiters) wake();
      });
      resolve({
        status: response.statusCode ?? 0,
        headers: response.headers,
        frames,
        comments,
        response,
        waitFor(predicate, timeoutMs = 10_000) {
          return new Promise((done, fail) => {
            if (predicate(frames)) return done(frames);
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`SSE wait timed out with ${frames.length} frames: ${JSON.stringify(frames.slice(-3))}`));
            }, timeoutMs);
            const check = () => {
              if (!predicate(frames)) return;
              clearTimeout(timer);
              waiters.delete(check);
              done(frames);
            };
            waiters.add(check);
          });
        },
        close() {
          req.destroy();
          response.destroy();
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}
