/**
 * Keeps a stopped server's port taken until it starts again. On a machine shared with other test
 * runs, a port freed by `privateRedis().stop()` can be handed to someone else's server within
 * seconds, and the app under test would then reconnect to a stranger (another Redis, or an HTTP
 * server) instead of seeing an outage. While held, every connection is reset at once, which the app
 * sees as the server being gone.
 */
import { type Server, createServer } from 'node:net';

export interface HeldPort {
  release(): Promise<void>;
}

export async function holdPort(port: number, timeoutMs = 5_000): Promise<HeldPort> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const server: Server = createServer((socket) => socket.resetAndDestroy());
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    } catch (error) {
      // The stopped server's socket may linger a moment.
      if (Date.now() > deadline) throw new Error(`could not hold port ${port}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Stops `server`, holds its port while `during()` runs, then releases it and starts it again. */
export async function outage<T>(
  server: { port: number; stop(): Promise<void>; start(): Promise<void> },
  during: () => Promise<T>,
): Promise<T> {
  await server.stop();
  const held = await holdPort(server.port);
  try {
    return await during();
  } finally {
    await held.release();
    await server.start();
  }
}
