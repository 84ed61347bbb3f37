/**
 * Targeted chat delivery across three instances (issue 15): the fan-out of a message, receipt,
 * typing or presence event reaches only the instances holding a socket of a recipient; an offline
 * recipient costs no publish and gets the message from the inbox; a recipient whose registry entry
 * is stale (their instance SIGKILLed, reconnected elsewhere before the entry lapsed) gets every
 * message once, in order; a conversation created or joined while its members are connected
 * elsewhere is heard from its first message, with one publish per message however many instances
 * hear it. Counters are each instance's own `/metrics`.
 */
import type { Redis } from 'ioredis';
import { RedisService } from '#src/platform/redis/redis.service.js';
import { type AppProcess, spawnApp } from './helpers/processes.js';
import { ChatView, bearer, connectChat, createUser } from './helpers/socket-chat.js';
import { type TestApp, type TestEnv, api, createTestEnv, sleep, startTestApp } from './helpers/test-app.js';

async function metric(url: string, name: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

const counters = async (url: string) => ({
  received: await metric(url, 'chat_fanout_received_total'),
  bytes: await metric(url, 'chat_fanout_bytes_received_total'),
  published: await metric(url, 'chat_fanout_published_total'),
});

async function direct(url: string, token: string, userId: string): Promise<string> {
  const res = await api(url, 'POST', '/chat/conversations', { type: 'direct', userId }, bearer(token));
  if (res.status !== 201 && res.status !== 200) throw new Error(`conversation: ${res.status}`);
  return res.body.id as string;
}

describe('chat routed on conversation and user channels (e2e, three instances)', () => {
  let env: TestEnv;
  let a: TestApp;
  let b: TestApp;
  let c: TestApp;

  beforeAll(async () => {
    env = await createTestEnv({ CHAT_PRESENCE_TTL_SECONDS: '60' });
    [a, b, c] = [await startTestApp(env), await startTestApp(env), await startTestApp(env)];
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((t) => t?.close()));
    await env?.cleanup();
  });

  it('users on A and B chatting: C receives none of their messages, receipts, typing or presence', async () => {
    const [alice, bob, carol] = await Promise.all(['Alice', 'Bob', 'Carol'].map((n) => createUser(a.url, n)));
    const conversation = await direct(a.url, alice.token, bob.id);
    // Carol, on C, shares nothing with them: C has a socket, just not theirs.
    const onC = await connectChat(c.url, carol.token);
    const cBefore = await counters(c.url);
    const cSubscriberBefore = (c.app.get(RedisService).subscriber as Redis).stream.bytesRead;
    const bBefore = await counters(b.url);

    const onA = await connectChat(a.url, alice.token);
    const view = new ChatView();
    const onB = await connectChat(b.url, bob.token, { onMessage: view.apply });
    try {
      for (let i = 1; i <= 20; i++) expect(await onA.send(conversation, `hello ${i}`)).toMatchObject({ ok: true });
      await onB.waitFor(() => view.of(conversation).length === 20);
      expect(await onB.request('message:read', { conversationId: conversation, seq: 20 })).toMatchObject({ ok: true });
      expect(await onB.request('typing', { conversationId: conversation })).toEqual({ ok: true, relayed: true });
      await onA.waitFor((client) => client.events.some((e) => e.event === 'message:receipt' && e.data.readSeq === 20));
      await onA.waitFor((client) => client.events.some((e) => e.event === 'typing'));
      expect(view.of(conversation).map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(view.repeats).toBe(0);

      const bAfter = await counters(b.url);
      expect(bAfter.received - bBefore.received).toBeGreaterThanOrEqual(20); // the messages reached B through Redis
      await sleep(200);
      const cAfter = await counters(c.url);
      expect({ received: cAfter.received - cBefore.received, bytes: cAfter.bytes - cBefore.bytes }).toEqual({
        received: 0,
        bytes: 0,
      });
      // C's subscriber connection read nothing of it either (no feed traffic in this test).
      expect((c.app.get(RedisService).subscriber as Redis).stream.bytesRead - cSubscriberBefore).toBe(0);
      expect(onC.events).toEqual([]);
    } finally {
      for (const client of [onA, onB, onC]) client.close();
    }
  });

  it('an offline recipient costs no fan-out publish and gets the message from the inbox on connect', async () => {
    const [erin, frank] = await Promise.all(['Erin', 'Frank'].map((n) => createUser(a.url, n)));
    const conversation = await direct(a.url, erin.token, frank.id);
    const onA = await connectChat(a.url, erin.token);
    await sleep(50); // let Erin's own presence fan-out (to no one online) pass
    const before = await counters(a.url);
    try {
      for (let i = 1; i <= 3; i++) expect(await onA.send(conversation, `while away ${i}`)).toMatchObject({ ok: true });
      await sleep(100);
      expect((await counters(a.url)).published - before.published).toBe(0);
      const view = new ChatView();
      const onC = await connectChat(c.url, frank.token, { onMessage: view.apply });
      try {
        await onC.waitFor(() => view.of(conversation).length === 3);
        expect(view.of(conversation).map((m) => m.body)).toEqual(['while away 1', 'while away 2', 'while away 3']);
        // Online on C now: the next message is published, once, to C.
        const online = await counters(a.url);
        expect(await onA.send(conversation, 'now online')).toMatchObject({ ok: true });
        await onC.waitFor(() => view.of(conversation).length === 4);
        expect((await counters(a.url)).published - online.published).toBe(1);
      } finally {
        onC.close();
      }
    } finally {
      onA.close();
    }
  });

  it('a stale registry entry (instance SIGKILLed, the user reconnected elsewhere before it lapsed) loses nothing', async () => {
    const [gina, hank] = await Promise.all(['Gina', 'Hank'].map((n) => createUser(a.url, n)));
    const conversation = await direct(a.url, gina.token, hank.id);
    let doomed: AppProcess | undefined = await spawnApp({ ...env.env, LOG_LEVEL: 'warn' }, { readyTimeoutMs: 90_000 });
    const view = new ChatView();
    const sender = await connectChat(a.url, gina.token);
    try {
      const first = await connectChat(doomed.url, hank.token, { onMessage: view.apply });
      for (let i = 1; i <= 5; i++) await sender.send(conversation, `m${i}`);
      await first.waitFor(() => view.of(conversation).length === 5);
      doomed.kill('SIGKILL');
      await doomed.exited;
      doomed = undefined;
      first.close();
      // Sent while Hank is away: the registry still names the dead instance.
      for (let i = 6; i <= 10; i++) await sender.send(conversation, `m${i}`);
      const again = await connectChat(c.url, hank.token, { onMessage: view.apply });
      try {
        for (let i = 11; i <= 15; i++) await sender.send(conversation, `m${i}`);
        await again.waitFor(() => view.of(conversation).length === 15);
        await sleep(300);
        expect(view.of(conversation).map((m) => m.body)).toEqual(Array.from({ length: 15 }, (_, i) => `m${i + 1}`));
        expect(view.gaps).toEqual([]);
        // Once per socket, in order: the new socket starts at the delivered cursor the dead instance
        // managed to write (acknowledged cursors are written in batches), at seq 6 at the latest.
        const seqs = again.received.map((m) => m.seq);
        expect(seqs[0]).toBeLessThanOrEqual(6);
        expect(seqs).toEqual(Array.from({ length: 16 - seqs[0] }, (_, i) => i + seqs[0]));
      } finally {
        again.close();
      }
    } finally {
      sender.close();
      doomed?.kill('SIGKILL');
    }
  }, 120_000);

  it('a conversation created or joined while its members are online elsewhere is heard from its first message, one publish per message', async () => {
    const [ivy, jack, kate] = await Promise.all(['Ivy', 'Jack', 'Kate'].map((n) => createUser(a.url, n)));
    const onA = await connectChat(a.url, ivy.token);
    const jackView = new ChatView();
    const kateView = new ChatView();
    const onB = await connectChat(b.url, jack.token, { onMessage: jackView.apply });
    const onC = await connectChat(c.url, kate.token, { onMessage: kateView.apply });
    try {
      // Created after Jack connected, written to at once: B starts hearing it through the join.
      const pair = await direct(a.url, ivy.token, jack.id);
      for (let i = 1; i <= 5; i++) expect(await onA.send(pair, `d${i}`)).toMatchObject({ ok: true });
      await onB.waitFor(() => jackView.of(pair).length === 5);
      expect(jackView.of(pair).map((m) => m.body)).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);

      const res = await api(
        a.url,
        'POST',
        '/chat/conversations',
        { type: 'group', title: 'g', memberIds: [jack.id] },
        bearer(ivy.token),
      );
      expect(res.status).toBe(201);
      const group = res.body.id as string;
      expect(await onA.send(group, 'before kate')).toMatchObject({ ok: true });
      const added = await api(
        a.url,
        'POST',
        `/chat/conversations/${group}/members`,
        { userIds: [kate.id] },
        bearer(ivy.token),
      );
      expect(added.status).toBe(200);
      const [aBefore, bBefore, cBefore] = await Promise.all([a, b, c].map((t) => counters(t.url)));
      for (let i = 1; i <= 5; i++) expect(await onA.send(group, `g${i}`)).toMatchObject({ ok: true });
      await onB.waitFor(() => jackView.of(group).length === 6);
      await onC.waitFor(() => kateView.of(group).length === 5);
      expect(kateView.of(group).map((m) => m.body)).toEqual(['g1', 'g2', 'g3', 'g4', 'g5']);
      expect(jackView.repeats + kateView.repeats).toBe(0);
      const [aAfter, bAfter, cAfter] = await Promise.all([a, b, c].map((t) => counters(t.url)));
      // B and C each heard the five messages through Redis, from at most five publishes on A (not ten).
      expect(bAfter.received - bBefore.received).toBeGreaterThanOrEqual(5);
      expect(cAfter.received - cBefore.received).toBeGreaterThanOrEqual(5);
      expect(aAfter.published - aBefore.published).toBeGreaterThanOrEqual(1);
      expect(aAfter.published - aBefore.published).toBeLessThanOrEqual(5);
    } finally {
      for (const client of [onA, onB, onC]) client.close();
    }
  });
});
