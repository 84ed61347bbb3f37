/**
 * socket.io on the app's HTTP server with the socket.io Redis adapter, wired once at boot (as the
 * Nest samples do): socket.io's own cross-instance operations (room broadcasts, `fetchSockets`,
 * `disconnectSockets`) see every instance. The chat's message fan-out does not ride on it: that is
 * routed on conversation and user channels (chat/chat-router.ts) so that an instance hears only its own
 * clients' traffic.
 */
import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';

/** The socket.io that Nest's adapter ships (it may be another copy than the app's own `socket.io`). */
type NestIoServer = ReturnType<IoAdapter['createIOServer']>;
import type { RedisClient, RedisService } from './redis.service.js';

export class RedisIoAdapter extends IoAdapter {
  private readonly clients: RedisClient[] = [];

  constructor(
    app: INestApplicationContext,
    private readonly redis: RedisService,
  ) {
    super(app);
  }

  override createIOServer(...args: Parameters<IoAdapter['createIOServer']>): NestIoServer {
    const server = super.createIOServer(...args);
    const pub = this.redis.connect('socket.io-pub');
    const sub = this.redis.connect('socket.io-sub', { maxRetriesPerRequest: null }, 'subscriber');
    this.clients.push(pub, sub);
    // On a cluster, socket.io's sharded adapter (SPUBLISH / SSUBSCRIBE, a channel per namespace).
    server.adapter(
      this.redis.mode === 'cluster'
        ? createShardedAdapter(pub, sub, { channelPrefix: this.redis.key('socket.io') })
        : createAdapter(pub, sub, { key: this.redis.key('socket.io') }),
    );
    return server;
  }

  override async close(server: NestIoServer): Promise<void> {
    await super.close(server);
    await Promise.all(this.clients.splice(0).map((client) => client.quit().catch(() => client.disconnect())));
  }
}
