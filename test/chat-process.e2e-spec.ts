/**
 * Chat with real processes (`dist/main.js`, built by `npm test`): the instance a user is connected
 * to is killed with SIGKILL in the middle of a conversation.
 */
import { query } from './helpers/databases.js';
import { type AppProcess, spawnApp } from './helpers/processes.js';
import { type ChatClient, ChatView, type WireMessage, bearer, connectChat, createUser } from './helpers/socket-chat.js';
import { type TestEnv, api, createTestEnv, waitFor } from './helpers/test-app.js';

const PRESENCE_TTL_SECONDS = 6;

describe('chat: an instance killed with SIGKILL (e2e, real processes)', () => {
  let env: TestEnv;
  let a: AppProcess;
  let b: AppProcess;
  const clients: ChatClient[] = [];

  beforeAll(async () => {
    env = await createTestEnv({
      CHAT_PRESENCE_TTL_SECONDS: String(PRESENCE_TTL_SECONDS),
      CHAT_MESSAGES_PER_MINUTE: '1000',
      LOG_LEVEL: 'warn',
    });
    // Generous: on a busy 2-core machine a cold boot can take tens of seconds.
    [a, b] = await Promise.all([
      spawnApp(env.env, { readyTimeoutMs: 90_000 }),
      spawnApp(env.env, { readyTimeoutMs: 90_000 }),
    ]);
  }, 120_000);
  afterAll(async () => {
    clients.forEach((client) => client.close());
    for (const app of [a, b]) {
      app?.kill();
      await app?.exited;
    }
    await env?.cleanup();
  });

  it('Bob reconnects to the other instance and ends with all 100 messages, in order, no duplicates in his view; B’s users go offline within the TTL', async () => {
    const [alice, bob, carol] = await Promise.all(['Alice', 'Bob', 'Carol'].map((name) => createUser(a.url, name)));
    const direct = async (with_: { id: string }) =>
      (await api(a.url, 'POST', '/chat/conversations', { type: 'direct', userId: with_.id }, bearer(alice.token))).body
        .id as string;
    const conversation = await direct(bob);
    await direct(carol);

    const aliceA = await connectChat(a.url, alice.token);
    clients.push(aliceA);
    const presence = (userId: string, online: boolean) =>
      aliceA.events.some((e) => e.event === 'presence' && e.data.userId === userId && e.data.online === online);

    // Bob's app: one view, fed by whichever socket he has; each socket's own stream is kept too.
    const view = new ChatView();
    const streams: WireMessage[][] = [];
    const connectBob = async (url: string) => {
      const stream: WireMessage[] = [];
      streams.push(stream);
      const client = await connectChat(url, bob.token, {
        onMessage: (message) => {
          stream.push(message);
          view.apply(message);
        },
      });
      clients.push(client);
      return client;
    };
    const bobB = await connectBob(b.url);
    let reconnected: Promise<ChatClient> | undefined;
    bobB.socket.on('disconnect', () => {
      // Like socket.io's own reconnection, but to the instance that is still up.
      reconnected = connectBob(a.url);
    });
    const carolB = await connectChat(b.url, carol.token);
    clients.push(carolB);
    await aliceA.waitFor(() => presence(bob.id, true) && presence(carol.id, true));
    let carolOfflineAt = 0;
    aliceA.socket.on('presence', (data: { userId: string; online: boolean }) => {
      if (data.userId === carol.id && !data.online) carolOfflineAt ||= Date.now();
    });

    let killedAt = 0;
    for (let i = 1; i <= 100; i++) {
      const ack = await aliceA.send(conversation, `message ${i}`);
      expect(ack).toMatchObject({ ok: true, message: { seq: i } });
      if (i === 30) {
        b.kill('SIGKILL');
        killedAt = Date.now();
      }
    }
    expect((await b.exited).signal).toBe('SIGKILL');

    await waitFor(() => view.of(conversation).length === 100, 30_000);
    await reconnected;
    const seen = view.of(conversation);
    expect(seen.map((m) => m.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(seen.map((m) => m.body)).toEqual(Array.from({ length: 100 }, (_, i) => `message ${i + 1}`));
    expect(view.gaps).toEqual([]);
    // Each socket on its own got its messages in order, each once; only what B had handed out but
    // not yet recorded as delivered can come again, on the new socket.
    expect(streams.length).toBe(2);
    expect(streams[0].length).toBeLessThan(100);
    for (const stream of streams) {
      expect(stream.map((m) => m.seq)).toEqual([...stream.map((m) => m.seq)].sort((x, y) => x - y));
      expect(new Set(stream.map((m) => m.seq)).size).toBe(stream.length);
    }
    expect(view.repeats).toBeLessThanOrEqual(30);
    const rows = await query<{ seq: string }>(
      env.databaseUrl,
      'SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq',
      [conversation],
    );
    expect(rows.map((row) => Number(row.seq))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await waitFor(async () => {
      const res = await api(a.url, 'GET', `/chat/conversations/${conversation}`, undefined, bearer(bob.token));
      return res.body.deliveredSeq === 100;
    });

    // Carol was only on B: offline within the presence TTL, for the API and for her contacts.
    const online = async (userId: string) =>
      (await api(a.url, 'GET', `/chat/presence?userIds=${userId}`, undefined, bearer(alice.token))).body.presence[0]
        .online as boolean;
    await aliceA.waitFor(() => carolOfflineAt > 0, PRESENCE_TTL_SECONDS * 1000 + 5_000);
    expect(carolOfflineAt - killedAt).toBeLessThan(PRESENCE_TTL_SECONDS * 1000);
    expect(await online(carol.id)).toBe(false);
    // Bob is still online: his connection on A counts.
    expect(await online(bob.id)).toBe(true);
    expect(presence(bob.id, false)).toBe(false);
  }, 120_000);
});
