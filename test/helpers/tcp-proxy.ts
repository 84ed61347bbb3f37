/**
 * A load balancer in miniature: one TCP address in front of app instances. Each connection goes to
 * the target of the moment; `retarget` changes where new connections go (the balancer stops routing
 * to a draining instance), and connections already open stay where they are until either side
 * closes them. While `hold` is on, new connections wait (unanswered, as during a balancer's brief
 * reconfiguration) and go to the next target set.
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

export interface TcpProxy {
  url: string;
  /** Where each accepted connection was sent, in order (`host:port`). */
  readonly routed: string[];
  retarget(url: string): void;
  hold(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  let target: URL | undefined = new URL(targetUrl);
  const waiting: Socket[] = [];
  const open = new Set<Socket>();
  const routed: string[] = [];

  const forward = (client: Socket, to: URL) => {
    routed.push(to.host);
    const upstream = connect(Number(to.port), to.hostname);
    open.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.on('close', () => open.delete(upstream));
  };

  const server: Server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    if (target) forward(client, target);
    else {
      client.pause();
      waiting.push(client);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    routed,
    retarget(url) {
      target = new URL(url);
      for (const client of waiting.splice(0)) {
        if (client.destroyed) continue;
        forward(client, target);
        client.resume();
      }
    },
    hold() {
      target = undefined;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
