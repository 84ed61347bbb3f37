/**
 * Chat over socket.io against two app instances (real Postgres, Redis, socket.io clients):
 * delivery across instances, inbox, idempotency, membership, polling transport, concurrent seqs,
 * receipts, typing, presence, system messages, REST, metrics.
 */
import { getDataSourceToken } from '@nestjs/typeorm';
import { SignJWT } from 'jose';
import type { DataSource } from 'typeorm';
import { GithubEventsHandler } from '#src/chat/github-events.handler.js';
import { MessagePoster } from '#src/chat/message-poster.js';
import { OutboxService } from '#src/platform/events/outbox.service.js';
import { query } from './helpers/databases.js';
import { type ChatClient, bearer, clientMsgId, connectChat, createUser } from './helpers/socket-chat.js';
import {
  TEST_JWT_SECRET,
  type TestApp,
  type TestEnv,
  api,
  createTestEnv,
  sleep,
  startTestApp,
  waitFor,
} from './helpers/test-app.js';

type User = Awaited<ReturnType<typeof createUser>>;

describe('chat over socket.io (e2e, two instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let alice: User;
  let bob: User;
  let carol: User;
  let direct: string;
  const open: ChatClient[] = [];

  beforeAll(async () => {
    env = await createTestEnv({
      CHAT_MESSAGES_PER_MINUTE: '60',
      CHAT_PRESENCE_TTL_SECONDS: '8',
      CHAT_TYPING_THROTTLE_MS: '1000',
      CHAT_MAX_MESSAGE_CHARS: '4000',
    });
    a = await startTestApp(env);
    b = await startTestApp(env);
    alice = await createUser(a.url, 'Alice');
    bob = await createUser(a.url, 'Bob');
    carol = await createUser(a.url, 'Carol');
    const created = await api(
      a.url,
      'POST',
      '/chat/conversations',
      { type: 'direct', userId: bob.id },
      bearer(alice.token),
    );
    expect(created.status).toBe(201);
    direct = created.body.id;
  });
  afterEach(() => open.splice(0).forEach((client) => client.close()));
  afterAll(async () => {
    open.splice(0).forEach((client) => client.close());
    await a?.close();
    await b?.close();
    await env?.cleanup();
  });

  const connect = async (app: TestApp, user: User, options: Parameters<typeof connectChat>[2] = {}) => {
    const client = await connectChat(app.url, user.token, options);
    open.push(client);
    return client;
  };
  const count = async (sql: string, params: unknown[]) =>
    Number((await query<{ n: string }>(env.databaseUrl, sql, params))[0].n);
  const deliveredSeq = async (conversationId: string, userId: string) =>
    Number(
      (
        await query<{ delivered_seq: string }>(
          env.databaseUrl,
          'SELECT delivered_seq FROM conversation_members WHERE conversation_id = $1 AND user_id = $2',
          [conversationId, userId],
        )
      )[0].delivered_seq,
    );

  describe('handshake', () => {
    it('a missing, forged or expired token → connect_error "unauthorized"', async () => {
      await expect(connectChat(a.url, undefined)).rejects.toThrow('unauthorized');
      await expect(connectChat(a.url, 'not-a-jwt')).rejects.toThrow('unauthorized');
      const forged = `${alice.token.slice(0, -4)}AAAA`;
      await expect(connectChat(b.url, forged)).rejects.toThrow('unauthorized');
      const expired = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(alice.id)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
      await expect(connectChat(a.url, expired, { transports: ['polling'] })).rejects.toThrow('unauthorized');
      const good = await connect(a, alice, { transports: ['polling'] });
      expect(good.socket.connected).toBe(true);
    });

    it('a browser origin that is not allowed is refused; the same origin is accepted', async () => {
      await expect(
        connectChat(a.url, alice.token, { transports: ['polling'], extraHeaders: { origin: 'http://evil.example' } }),
      ).rejects.toThrow();
      const same = await connect(a, alice, {
        transports: ['polling'],
        extraHeaders: { origin: a.url },
      });
      expect(same.socket.connected).toBe(true);
    });
  });

  it('Alice on A and Bob on B exchange messages: each send is acked with a seq and arrives on the other side', async () => {
    const aliceA = await connect(a, alice);
    const bobB = await connect(b, bob);

    const first = await aliceA.send(direct, '  hello Bob  ');
    expect(first).toEqual({
      ok: true,
      message: {
        id: expect.any(String),
        conversationId: direct,
        seq: 1,
        senderId: alice.id,
        body: 'hello Bob',
        createdAt: expect.any(String),
      },
    });
    await bobB.waitFor((c) => c.received.some((m) => m.seq === 1));
    expect(bobB.received.find((m) => m.seq === 1)).toEqual(first.message);

    const reply = await bobB.send(direct, 'hi Alice');
    expect(reply.ok).toBe(true);
    expect(reply.message.seq).toBe(2);
    await aliceA.waitFor((c) => c.received.some((m) => m.seq === 2 && m.body === 'hi Alice'));
    // Delivered cursors follow the clients' acks of message:new. A sender's own message comes back in
    // its ack, not as message:new, so Bob's cursor stays at 1 until he acknowledges a later one.
    await waitFor(
      async () => (await deliveredSeq(direct, bob.id)) === 1 && (await deliveredSeq(direct, alice.id)) === 2,
    );
    expect(aliceA.received.map((m) => m.seq)).toEqual([2]);
    expect(bobB.received.map((m) => m.seq)).toEqual([1]);
  });

  const createGroup = async (owner: User, title: string, members: User[]) => {
    const res = await api(
      a.url,
      'POST',
      '/chat/conversations',
      { type: 'group', title, memberIds: members.map((m) => m.id) },
      bearer(owner.token),
    );
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const of = (client: ChatClient, conversationId: string) =>
    client.received.filter((m) => m.conversationId === conversationId);

  it('Bob offline, Alice sends 5 → Bob connects (to either instance) and gets exactly those 5, in order, not the ones he had', async () => {
    const conversation = await createGroup(alice, 'inbox', [bob]);
    const aliceA = await connect(a, alice);
    const bobB = await connect(b, bob);
    for (const body of ['one', 'two']) expect((await aliceA.send(conversation, body)).ok).toBe(true);
    await bobB.waitFor((c) => of(c, conversation).length === 2);
    await waitFor(async () => (await deliveredSeq(conversation, bob.id)) === 2);
    bobB.close();

    const sent = [];
    for (let i = 1; i <= 5; i++) sent.push((await aliceA.send(conversation, `while you were away ${i}`)).message);
    expect(sent.map((m) => m.seq)).toEqual([3, 4, 5, 6, 7]);

    const bobA = await connect(a, bob);
    await bobA.waitFor((c) => of(c, conversation).length >= 5);
    await sleep(300);
    expect(of(bobA, conversation)).toEqual(sent);
    await waitFor(async () => (await deliveredSeq(conversation, bob.id)) === 7);
    bobA.close();

    // Nothing left for the other instance to send.
    const bobAgain = await connect(b, bob);
    await sleep(500);
    expect(of(bobAgain, conversation)).toEqual([]);
    bobAgain.close();

    // Received but never acknowledged (the app crashed before acking): not delivered, so sent again.
    const eighth = (await aliceA.send(conversation, 'ack me')).message;
    const silent = await connect(b, bob, { ack: false });
    await silent.waitFor((c) => of(c, conversation).length === 1);
    silent.close();
    expect(await deliveredSeq(conversation, bob.id)).toBe(7);
    const later = await connect(a, bob);
    await later.waitFor((c) => of(c, conversation).length === 1);
    expect(of(later, conversation)).toEqual([eighth]);
  });

  it('the same clientMsgId twice → one row, the same message (also concurrently, on two instances)', async () => {
    const aliceA = await connect(a, alice);
    const aliceB = await connect(b, alice);
    const key = clientMsgId();
    const first = await aliceA.send(direct, 'only once', key);
    expect(first.ok).toBe(true);
    expect(await aliceB.send(direct, 'only once', key)).toEqual(first);

    const racing = clientMsgId();
    const [x, y] = await Promise.all([aliceA.send(direct, 'racing', racing), aliceB.send(direct, 'racing', racing)]);
    expect(x.ok && y.ok).toBe(true);
    expect(y.message).toEqual(x.message);
    expect(
      await count('SELECT count(*) AS n FROM messages WHERE sender_id = $1 AND client_msg_id = ANY($2)', [
        alice.id,
        [key, racing],
      ]),
    ).toBe(2);
    // No seq was burnt by the duplicates.
    const seqs = (
      await query<{ seq: string }>(
        env.databaseUrl,
        'SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq',
        [direct],
      )
    ).map((row) => Number(row.seq));
    expect(seqs).toEqual(seqs.map((_, index) => index + 1));

    // The same key for another conversation is a client bug, not a duplicate.
    const other = await createGroup(alice, 'other', [bob]);
    expect(await aliceA.send(other, 'only once', key)).toEqual({
      ok: false,
      error: { code: 'invalid', message: expect.stringMatching(/clientMsgId was already used/) },
    });
  });

  it('a non-member cannot send (error ack, nothing stored) or read history, and is answered as for an unknown id', async () => {
    const carolA = await connect(a, carol);
    const aliceA = await connect(a, alice);
    const before = await count('SELECT count(*) AS n FROM messages WHERE conversation_id = $1', [direct]);
    const unknown = '00000000-0000-4000-8000-000000000000';

    // Every socket event and route answers a conversation she is not in exactly as one that does not
    // exist (not_found / 404 with the same message), so she cannot tell which ids exist.
    const notFound = (id: string) => ({
      ok: false,
      error: { code: 'not_found', message: `conversation ${id} not found` },
    });
    for (const id of [direct, unknown]) {
      expect(await carolA.send(id, 'let me in')).toEqual(notFound(id));
      expect(await carolA.request('sync', { conversationId: id, afterSeq: 0 })).toEqual(notFound(id));
      expect(await carolA.request('message:read', { conversationId: id, seq: 1 })).toEqual(notFound(id));
      expect(await carolA.request('typing', { conversationId: id })).toEqual(notFound(id));
      for (const [method, path, body] of [
        ['GET', `/chat/conversations/${id}`],
        ['GET', `/chat/conversations/${id}/messages`],
        ['POST', `/chat/conversations/${id}/members`, { userIds: [carol.id] }],
        ['DELETE', `/chat/conversations/${id}/members/${alice.id}`],
      ] as const) {
        const res = await api(a.url, method, path, body, bearer(carol.token));
        expect({ method, path, status: res.status, body: res.body }).toEqual({
          method,
          path,
          status: 404,
          body: { statusCode: 404, error: 'Not Found', message: `conversation ${id} not found` },
        });
      }
    }
    expect(await count('SELECT count(*) AS n FROM messages WHERE conversation_id = $1', [direct])).toBe(before);
    expect(await count('SELECT count(*) AS n FROM conversation_members WHERE conversation_id = $1', [direct])).toBe(2);
    const mine = await api(b.url, 'GET', '/chat/conversations', undefined, bearer(carol.token));
    expect(mine.body.items.map((c: { id: string }) => c.id)).not.toContain(direct);

    // And she never sees the conversation's messages.
    const sent = await aliceA.send(direct, 'private');
    await sleep(300);
    expect(carolA.received.map((m) => m.id)).not.toContain(sent.message.id);
  });

  it('bad input → error ack naming the field, nothing stored; the limit counts characters', async () => {
    const aliceA = await connect(a, alice);
    const before = await count('SELECT count(*) AS n FROM messages', []);
    const bad = async (payload: unknown) => (await aliceA.request('message:send', payload)).error;
    expect(await bad({ conversationId: direct, body: '   ', clientMsgId: clientMsgId() })).toEqual({
      code: 'invalid',
      message: 'body must not be empty',
    });
    expect(await bad({ conversationId: direct, body: 'x'.repeat(4001), clientMsgId: clientMsgId() })).toEqual({
      code: 'invalid',
      message: 'body must be at most 4000 characters (got 4001)',
    });
    expect((await bad({ conversationId: direct, body: 42, clientMsgId: clientMsgId() })).message).toMatch(/body/);
    expect((await bad({ conversationId: direct, body: 'hi' })).message).toMatch(/clientMsgId/);
    expect((await bad({ conversationId: direct, body: 'hi', clientMsgId: 'has space' })).message).toMatch(
      /clientMsgId/,
    );
    expect((await bad({ conversationId: 'nope', body: 'hi', clientMsgId: clientMsgId() })).message).toMatch(
      /conversationId/,
    );
    expect((await bad(null)).code).toBe('invalid');
    expect((await aliceA.request('sync', { conversationId: direct, afterSeq: -1 })).error.message).toMatch(/afterSeq/);
    expect((await aliceA.request('message:read', { conversationId: direct, seq: 1e9 })).error).toEqual({
      code: 'invalid',
      message: "seq 1000000000 is after the conversation's newest message",
    });
    expect(await count('SELECT count(*) AS n FROM messages', [])).toBe(before);

    // 4000 emoji are 4000 characters (8000 UTF-16 units).
    const emoji = await aliceA.send(direct, '😀'.repeat(4000));
    expect(emoji.ok).toBe(true);
  });

  it('a user over the rate limit gets rate_limited; only the accepted ones are stored', async () => {
    const dave = await createUser(a.url, 'Dave');
    const conversation = await createGroup(dave, 'flood', [alice]);
    const daveA = await connect(a, dave);
    const acks = await Promise.all(Array.from({ length: 75 }, (_, i) => daveA.send(conversation, `flood ${i}`)));
    const accepted = acks.filter((ack) => ack.ok);
    const refused = acks.filter((ack) => !ack.ok);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    expect(accepted.length).toBeGreaterThanOrEqual(60);
    for (const ack of refused) expect(ack.error.code).toBe('rate_limited');
    expect(await count('SELECT count(*) AS n FROM messages WHERE conversation_id = $1', [conversation])).toBe(
      accepted.length,
    );
    // Typing, read and sync share a separate bucket (5× the message rate), so they never eat into sending.
    const events = await Promise.all(
      Array.from({ length: 320 }, () => daveA.request('typing', { conversationId: conversation })),
    );
    const limited = events.filter((ack) => !ack.ok);
    expect(limited.length).toBeGreaterThanOrEqual(10);
    for (const ack of limited) expect(ack.error.code).toBe('rate_limited');
  });

  it('a polling-only client (transports: [polling]) sends and receives', async () => {
    const bobPolling = await connect(b, bob, { transports: ['polling'] });
    const aliceA = await connect(a, alice);
    const sent = await aliceA.send(direct, 'can you hear me over polling?');
    await bobPolling.waitFor((c) => c.received.some((m) => m.id === sent.message.id));
    const reply = await bobPolling.send(direct, 'loud and clear');
    expect(reply.ok).toBe(true);
    await aliceA.waitFor((c) => c.received.some((m) => m.id === reply.message.id));
    expect(bobPolling.socket.io.engine.transport.name).toBe('polling');
  });

  it('20 concurrent senders in one conversation → seqs 1..N with no gap or repeat, everyone sees them in order', async () => {
    const users = await Promise.all(Array.from({ length: 20 }, (_, i) => createUser(a.url, `Sender ${i}`)));
    const group = await createGroup(users[0], 'busy', users.slice(1));
    const clients = await Promise.all(users.map((user, i) => connect(i % 2 ? b : a, user)));
    const acks = await Promise.all(
      clients.flatMap((client, i) => [1, 2, 3].map((k) => client.send(group, `from ${i} #${k}`))),
    );
    expect(acks.filter((ack) => !ack.ok)).toEqual([]);
    const expected = Array.from({ length: 60 }, (_, i) => i + 1);
    expect(acks.map((ack) => ack.message.seq).sort((x, y) => x - y)).toEqual(expected);
    const rows = await query<{ seq: string }>(
      env.databaseUrl,
      'SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq',
      [group],
    );
    expect(rows.map((row) => Number(row.seq))).toEqual(expected);
    // Each socket gets everyone else's messages in seq order (its own came back in its acks).
    const seqBySender = new Map<string, number[]>();
    for (const { message } of acks)
      seqBySender.set(message.senderId, [...(seqBySender.get(message.senderId) ?? []), message.seq]);
    await Promise.all(clients.map((client) => client.waitFor((c) => of(c, group).length >= 57)));
    await sleep(200);
    clients.forEach((client, i) => {
      const own = new Set(seqBySender.get(users[i].id));
      expect(of(client, group).map((m) => m.seq)).toEqual(expected.filter((seq) => !own.has(seq)));
    });
  });

  it('message:read moves the read cursor and sends message:receipt to the others; acks send delivered receipts', async () => {
    const aliceA = await connect(a, alice);
    const bobB = await connect(b, bob);
    const sent = (await aliceA.send(direct, 'read me')).message;
    await aliceA.waitFor((c) =>
      c.events.some(
        (e) => e.event === 'message:receipt' && e.data.userId === bob.id && e.data.deliveredSeq >= sent.seq,
      ),
    );
    const read = await bobB.request('message:read', { conversationId: direct, seq: sent.seq });
    expect(read).toEqual({ ok: true, readSeq: sent.seq, deliveredSeq: sent.seq });
    const receipt = await aliceA.waitFor((c) =>
      c.events.find((e) => e.event === 'message:receipt' && e.data.userId === bob.id && e.data.readSeq === sent.seq),
    );
    expect(receipt.data).toEqual({ conversationId: direct, userId: bob.id, deliveredSeq: sent.seq, readSeq: sent.seq });
    // Reading an older seq never moves the cursor back.
    expect(await bobB.request('message:read', { conversationId: direct, seq: 1 })).toMatchObject({ readSeq: sent.seq });
    expect(bobB.events.some((e) => e.event === 'message:receipt' && e.data.userId === bob.id)).toBe(false);
  });

  it('typing is relayed to the other members, throttled, and not stored', async () => {
    const group = await createGroup(alice, 'typing', [bob, carol]);
    const aliceA = await connect(a, alice);
    const bobB = await connect(b, bob);
    const carolA = await connect(a, carol);
    const before = await count('SELECT count(*) AS n FROM messages', []);
    expect(await aliceA.request('typing', { conversationId: group })).toEqual({ ok: true, relayed: true });
    expect(await aliceA.request('typing', { conversationId: group })).toEqual({ ok: true, relayed: false });
    const typing = (c: ChatClient) => c.events.filter((e) => e.event === 'typing' && e.data.conversationId === group);
    await bobB.waitFor((c) => typing(c).length === 1);
    await carolA.waitFor((c) => typing(c).length === 1);
    expect(typing(bobB)[0].data).toEqual({ conversationId: group, userId: alice.id });
    await sleep(1_100);
    expect(await aliceA.request('typing', { conversationId: group })).toEqual({ ok: true, relayed: true });
    await bobB.waitFor((c) => typing(c).length === 2);
    expect(typing(aliceA)).toEqual([]);
    expect(await count('SELECT count(*) AS n FROM messages', [])).toBe(before);
  });

  it('presence: contacts get online/offline events; GET /chat/presence counts every connection', async () => {
    const aliceA = await connect(a, alice);
    const presenceOf = async (user: User) => {
      const res = await api(
        b.url,
        'GET',
        `/chat/presence?userIds=${user.id},${alice.id}`,
        undefined,
        bearer(alice.token),
      );
      expect(res.status).toBe(200);
      return res.body.presence.find((p: { userId: string }) => p.userId === user.id).online as boolean;
    };
    await waitFor(async () => (await presenceOf(bob)) === false);
    const ofBob = (e: ChatClient['events'][number]) => e.event === 'presence' && e.data.userId === bob.id;

    const bobB = await connect(b, bob);
    // Count only what follows bob's online: the previous test's sockets closed without waiting, and
    // their offline announcement may still reach this new socket of alice's before it.
    const since = await aliceA.waitFor(() => {
      const index = aliceA.events.findIndex((e) => ofBob(e) && e.data.online);
      return index >= 0 && index + 1;
    });
    const after = () => aliceA.events.slice(since).filter(ofBob);
    expect(await presenceOf(bob)).toBe(true);
    const bobA = await connect(a, bob);
    bobB.close();
    await sleep(400);
    expect(await presenceOf(bob)).toBe(true);
    // A second socket is not a second "online", and closing one of two is not an "offline".
    expect(after()).toEqual([]);
    bobA.close();
    await aliceA.waitFor(() => after().length > 0);
    await sleep(200);
    expect(after().map((e) => e.data)).toEqual([{ userId: bob.id, online: false }]);
    expect(await presenceOf(bob)).toBe(false);

    const bad = await api(a.url, 'GET', '/chat/presence?userIds=nope', undefined, bearer(alice.token));
    expect(bad.status).toBe(400);
  });

  it('a github.* domain event posts its summary as a system message into each listed conversation, once', async () => {
    const group = await createGroup(alice, 'deploys', [bob]);
    const aliceA = await connect(a, alice);
    const bobB = await connect(b, bob);
    const summary = `alice pushed 3 commits to main (${clientMsgId()})`;
    const dataSource = a.app.get<DataSource>(getDataSourceToken());
    const [event] = await dataSource.transaction((manager) =>
      a.app.get(OutboxService).record(manager, {
        type: 'github.push',
        data: {
          conversationIds: [direct, group, '00000000-0000-4000-8000-000000000000', 'not-an-id'],
          summary,
        },
      }),
    );
    const system = (c: ChatClient, conversationId: string) =>
      c.received.find((m) => m.conversationId === conversationId && m.body === summary);
    const inDirect = await bobB.waitFor((c) => system(c, direct));
    expect(inDirect.senderId).toBeNull();
    await aliceA.waitFor((c) => system(c, group));
    await bobB.waitFor((c) => system(c, group));
    const stored = () => count('SELECT count(*) AS n FROM messages WHERE sender_id IS NULL AND body = $1', [summary]);
    expect(await stored()).toBe(2);

    // The relay delivers at least once: the same event again changes nothing.
    await a.app.get(GithubEventsHandler).handle(event);
    await b.app.get(GithubEventsHandler).handle(event);
    expect(await stored()).toBe(2);

    // The service itself: idempotent per key, sender null, in the history.
    const { message: first } = await b.app
      .get(MessagePoster)
      .postSystem(group, 'maintenance at 22:00', 'ops:maintenance-1');
    const { message: again } = await a.app
      .get(MessagePoster)
      .postSystem(group, 'maintenance at 22:00', 'ops:maintenance-1');
    expect(again).toEqual(first);
    expect(first.senderId).toBeNull();
    const history = await api(a.url, 'GET', `/chat/conversations/${group}/messages`, undefined, bearer(bob.token));
    expect(history.body.items.filter((m: { senderId: string | null }) => m.senderId === null)).toHaveLength(2);
  });

  describe('REST', () => {
    it('direct: one conversation per pair, 201 when created then 200 with the same one (also concurrently)', async () => {
      const res = await api(
        b.url,
        'POST',
        '/chat/conversations',
        { type: 'direct', userId: alice.id },
        bearer(bob.token),
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: direct, type: 'direct', title: null });
      expect(res.body.members.map((m: { userId: string }) => m.userId).sort()).toEqual([alice.id, bob.id].sort());

      const [erin, frank] = await Promise.all([createUser(a.url, 'Erin'), createUser(a.url, 'Frank')]);
      const racing = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          i % 2
            ? api(a.url, 'POST', '/chat/conversations', { type: 'direct', userId: frank.id }, bearer(erin.token))
            : api(b.url, 'POST', '/chat/conversations', { type: 'direct', userId: erin.id }, bearer(frank.token)),
        ),
      );
      expect(new Set(racing.map((r) => r.body.id)).size).toBe(1);
      expect(racing.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
      expect(
        await count("SELECT count(*) AS n FROM conversations WHERE type = 'direct' AND direct_key LIKE $1", [
          `%${erin.id}%`,
        ]),
      ).toBe(1);
    });

    it('bad input → 4xx envelope naming the problem, nothing created', async () => {
      const before = await count('SELECT count(*) AS n FROM conversations', []);
      const post = (body: unknown, token: string | null = alice.token) =>
        api(a.url, 'POST', '/chat/conversations', body, token ? bearer(token) : { 'content-type': 'application/json' });
      const cases: [unknown, number, RegExp][] = [
        [{ type: 'direct' }, 400, /userId must be a UUID/],
        [{ type: 'direct', userId: 'x' }, 400, /userId must be a UUID/],
        [{ type: 'direct', userId: alice.id }, 400, /needs another user/],
        [{ type: 'direct', userId: '00000000-0000-4000-8000-000000000000' }, 422, /userId: unknown user/],
        [{ type: 'group', title: 'x', memberIds: [] }, 400, /memberIds/],
        [{ type: 'group', memberIds: [bob.id] }, 400, /title/],
        [{ type: 'channel' }, 400, /type must be one of/],
        [{ type: 'direct', userId: bob.id, extra: 1 }, 400, /property extra should not exist/],
      ];
      for (const [body, status, message] of cases) {
        const res = await post(body);
        expect({ body, status: res.status }).toEqual({ body, status });
        expect(res.body.message).toMatch(message);
        expect(res.body.statusCode).toBe(status);
      }
      expect((await post({ type: 'direct', userId: bob.id }, null)).status).toBe(401);
      expect(await count('SELECT count(*) AS n FROM conversations', [])).toBe(before);
    });

    it('GET /chat/conversations: mine, newest first, with the last message and my unread count', async () => {
      const group = await createGroup(alice, 'unread', [bob]);
      const aliceA = await connect(a, alice);
      for (const body of ['u1', 'u2', 'u3']) await aliceA.send(group, body);
      const mine = async (user: User) => {
        const res = await api(b.url, 'GET', '/chat/conversations?limit=100', undefined, bearer(user.token));
        expect(res.status).toBe(200);
        return res.body;
      };
      const bobs = await mine(bob);
      expect(bobs).toMatchObject({ page: 1, limit: 100, total: expect.any(Number) });
      expect(bobs.items[0]).toMatchObject({
        id: group,
        type: 'group',
        title: 'unread',
        role: 'member',
        lastSeq: 3,
        unreadCount: 3,
        lastMessage: { seq: 3, body: 'u3', senderId: alice.id },
      });
      expect((await mine(alice)).items[0]).toMatchObject({ id: group, unreadCount: 0, role: 'owner' });
      const bobB = await connect(b, bob);
      await bobB.request('message:read', { conversationId: group, seq: 2 });
      expect((await mine(bob)).items[0]).toMatchObject({ id: group, unreadCount: 1, readSeq: 2 });
      expect((await mine(carol)).items.map((c: { id: string }) => c.id)).not.toContain(group);
    });

    it('history: keyset pages by beforeSeq, oldest first in a page', async () => {
      const group = await createGroup(alice, 'history', [bob]);
      const aliceA = await connect(a, alice);
      for (let i = 1; i <= 7; i++) await aliceA.send(group, `h${i}`);
      const get = (q: string) =>
        api(a.url, 'GET', `/chat/conversations/${group}/messages${q}`, undefined, bearer(bob.token));
      const p1 = await get('?limit=3');
      expect(p1.body.items.map((m: { seq: number }) => m.seq)).toEqual([5, 6, 7]);
      expect(p1.body.nextBeforeSeq).toBe(5);
      const p2 = await get('?limit=3&beforeSeq=5');
      expect(p2.body.items.map((m: { body: string }) => m.body)).toEqual(['h2', 'h3', 'h4']);
      const p3 = await get(`?limit=3&beforeSeq=${p2.body.nextBeforeSeq}`);
      expect(p3.body).toEqual({
        items: [expect.objectContaining({ seq: 1, body: 'h1' })],
        limit: 3,
        nextBeforeSeq: null,
      });
      expect((await get('?limit=0')).status).toBe(400);
      expect((await get('?limit=101')).status).toBe(400);
      expect((await get('?beforeSeq=abc')).status).toBe(400);
      expect((await api(a.url, 'GET', '/chat/conversations/nope/messages', undefined, bearer(bob.token))).status).toBe(
        400,
      );
      // sync: everything after a seq, any age.
      const bobB = await connect(b, bob);
      const sync = await bobB.request('sync', { conversationId: group, afterSeq: 4 });
      expect(sync).toEqual({ ok: true, more: false, messages: p1.body.items });
      const limited = await bobB.request('sync', { conversationId: group, afterSeq: 0, limit: 2 });
      expect(limited.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2]);
      expect(limited.more).toBe(true);
    });

    it('group members: owner and admins add, members cannot; removal by role; leaving; a new member starts at the end', async () => {
      const group = await createGroup(alice, 'roles', [bob]);
      const aliceA = await connect(a, alice);
      await aliceA.send(group, 'before Carol joined');
      const add = (by: User, userIds: string[], role?: string) =>
        api(b.url, 'POST', `/chat/conversations/${group}/members`, { userIds, role }, bearer(by.token));
      expect((await add(bob, [carol.id])).status).toBe(403);
      const added = await add(alice, [carol.id], 'admin');
      expect(added.status).toBe(200);
      expect(added.body.members).toContainEqual({ userId: carol.id, role: 'admin' });

      const carolB = await connect(b, carol);
      const after = (await aliceA.send(group, 'welcome Carol')).message;
      await carolB.waitFor((c) => of(c, group).length === 1);
      await sleep(200);
      expect(of(carolB, group)).toEqual([after]);

      const remove = (by: User, userId: string) =>
        api(a.url, 'DELETE', `/chat/conversations/${group}/members/${userId}`, undefined, bearer(by.token));
      expect((await remove(bob, carol.id)).status).toBe(403);
      expect((await remove(carol, alice.id)).status).toBe(403);
      expect((await remove(carol, bob.id)).status).toBe(204);
      expect(await carolB.send(group, 'still here?')).toMatchObject({ ok: true });
      expect((await remove(carol, carol.id)).status).toBe(204);
      expect(await carolB.send(group, 'and now?')).toMatchObject({ ok: false, error: { code: 'not_found' } });
      expect((await remove(alice, carol.id)).status).toBe(404);
      const directAdd = await api(
        a.url,
        'POST',
        `/chat/conversations/${direct}/members`,
        { userIds: [carol.id] },
        bearer(alice.token),
      );
      expect(directAdd.status).toBe(409);
    });
  });

  it('metrics: connected sockets, messages sent and delivered, ack latency', async () => {
    const aliceA = await connect(a, alice);
    await connect(a, bob);
    await aliceA.send(direct, 'count me');
    await waitFor(async () => {
      const text = await (await fetch(`${a.url}/metrics`)).text();
      return (
        /chat_connected_sockets [1-9]/.test(text) &&
        /chat_messages_sent_total\{kind="user"\} [1-9]/.test(text) &&
        /chat_messages_delivered_total [1-9]/.test(text) &&
        /chat_send_ack_seconds_count [1-9]/.test(text)
      );
    });
  });

  it('closing an instance closes its sockets and finishes promptly, even with a long poll open', async () => {
    const bobOnline = async () =>
      (await api(a.url, 'GET', `/chat/presence?userIds=${bob.id}`, undefined, bearer(alice.token))).body.presence[0]
        .online as boolean;
    await waitFor(async () => !(await bobOnline()));
    const aliceA = await connect(a, alice);
    const c = await startTestApp(env);
    let closed = false;
    try {
      const bobC = await connectChat(c.url, bob.token);
      await aliceA.waitFor((client) =>
        client.events.some((e) => e.event === 'presence' && e.data.userId === bob.id && e.data.online),
      );
      const disconnected = new Promise((resolve) => bobC.socket.once('disconnect', resolve));
      const { cursor } = (await api(c.url, 'GET', '/ticker/poll')).body;
      const poll = fetch(`${c.url}/ticker/poll?cursor=${encodeURIComponent(cursor)}&timeoutMs=25000`).catch(() => null);
      await sleep(200);
      const started = Date.now();
      await c.close();
      closed = true;
      expect(Date.now() - started).toBeLessThan(5_000);
      await disconnected;
      await poll;
      // Its users were taken out of presence at once, not after the TTL.
      await aliceA.waitFor((client) =>
        client.events.some((e) => e.event === 'presence' && e.data.userId === bob.id && !e.data.online),
      );
      expect(await bobOnline()).toBe(false);
    } finally {
      if (!closed) await c.close();
    }
  });
});
