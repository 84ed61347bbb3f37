/**
 * `GET /docs/asyncapi.json` (issue 19, item 4): an AsyncAPI 3 document whose every reference
 * resolves, whose names (feeds, WebSocket ops, error codes, event types, chat events) are the
 * SDK's (`packages/client/src/wire.ts`), and whose schemas the running app's real frames satisfy: the
 * feed WebSocket's replies and events, the SSE stream's event data, and the chat's `message:new`.
 */
import { Ajv } from 'ajv';
import { EventSource } from 'eventsource';
import {
  CHAT_CLIENT_EVENTS,
  CHAT_SERVER_EVENTS,
  FEEDS,
  FEED_EVENT_TYPES,
  WS_CLIENT_OPS,
  WS_ERROR_CODES,
  WS_SERVER_OPS,
} from '../packages/client/src/wire.js';
import { connectChat } from './helpers/socket-chat.js';
import { type TestApp, type TestEnv, api, createTestEnv, startTestApp, waitFor } from './helpers/test-app.js';
import { type WsFeedClient, openWsFeed } from './helpers/ws-feed.js';

const ADMIN = { authorization: 'Bearer test-admin-key-0123456789' };

describe('AsyncAPI document of the realtime wire (e2e)', () => {
  let env: TestEnv;
  let app: TestApp;
  let doc: any;
  let client: WsFeedClient | undefined;

  beforeAll(async () => {
    env = await createTestEnv();
    app = await startTestApp(env);
    const res = await api(app.url, 'GET', '/docs/asyncapi.json', undefined, {});
    expect(res.status).toBe(200);
    doc = res.body;
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await app?.close();
    await env?.cleanup();
  });

  /** Resolves a local `$ref` (`#/a/b`) in the document. */
  const resolve = (ref: string) =>
    ref
      .slice(2)
      .split('/')
      .reduce((node: any, key) => node?.[key], doc);

  /** A validator for one message's payload, its schema refs resolved against the components. */
  const validator = (message: string) => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'doc', components: { schemas: doc.components.schemas } });
    const payload = JSON.parse(
      JSON.stringify(doc.components.messages[message].payload).replaceAll('"#/components', '"doc#/components'),
    );
    return ajv.compile(payload);
  };
  const expectValid = (message: string, value: unknown) => {
    const validate = validator(message);
    const ok = validate(value);
    if (!ok)
      throw new Error(`${message}: ${JSON.stringify(validate.errors)} for ${JSON.stringify(value).slice(0, 300)}`);
  };

  it('is AsyncAPI 3 and every reference resolves', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    const refs: string[] = [];
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === '$ref' && typeof value === 'string') refs.push(value);
          else walk(value);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of refs) expect([ref, resolve(ref)]).toEqual([ref, expect.anything()]);
    for (const operation of Object.values<any>(doc.operations)) {
      expect(['send', 'receive']).toContain(operation.action);
      const channel = operation.channel.$ref.split('/').pop();
      for (const message of operation.messages)
        expect(message.$ref).toMatch(new RegExp(`^#/channels/${channel}/messages/`));
    }
  });

  it("names exactly the SDK's feeds, ops, error codes and event types, and the chat's events", () => {
    const messages = Object.keys(doc.components.messages);
    const wsOps = messages.filter((m) => m.startsWith('ws.')).map((m) => m.slice(3));
    expect(wsOps.sort()).toEqual([...WS_CLIENT_OPS, ...WS_SERVER_OPS].sort());
    expect(doc.components.messages['ws.error'].payload.properties.code.enum).toEqual([...WS_ERROR_CODES]);
    expect(doc.components.messages['ws.subscribe'].payload.properties.feed.enum).toEqual([...FEEDS]);
    for (const feed of FEEDS) {
      const types = messages
        .filter((m) => m.startsWith(`${feed}.`) && !m.includes('.sse.'))
        .map((m) => m.split('.')[1]);
      expect(types).toEqual([...FEED_EVENT_TYPES[feed]]);
      const sse = messages.filter((m) => m.startsWith(`${feed}.sse.`)).map((m) => m.split('.')[2]);
      expect(sse).toEqual([...FEED_EVENT_TYPES[feed]]);
    }
    // operation → the channel's message → the component message, whose `name` is the socket.io event.
    const chatNames = (operation: string) =>
      doc.operations[operation].messages.map((m: { $ref: string }) => resolve(resolve(m.$ref).$ref).name as string);
    expect(chatNames('receiveChat')).toEqual([...CHAT_CLIENT_EVENTS]);
    expect(chatNames('sendChat')).toEqual([...CHAT_SERVER_EVENTS]);
  });

  it("the app's real frames satisfy the schemas: WebSocket replies and events, SSE data, chat message:new", async () => {
    expect((await api(app.url, 'POST', '/admin/ticker/instruments', { symbol: 'ASY', name: 'ASY' })).status).toBe(201);
    const match = await api(app.url, 'POST', '/admin/scores/matches', {
      sport: 'football',
      homeTeam: 'H',
      awayTeam: 'A',
      startsAt: new Date().toISOString(),
    });
    client = await openWsFeed(app.url, { headers: ADMIN });
    expectValid('ws.subscribed', await client.request({ op: 'subscribe', feed: 'ticker', topics: ['ASY'] }));
    expectValid('ws.subscribed', await client.request({ op: 'subscribe', feed: 'scores', topics: [match.body.id] }));
    expectValid('ws.pong', await client.request({ op: 'ping' }));
    expectValid('ws.error', await client.request({ op: 'subscribe', feed: 'nope', topics: ['X'] }));
    expectValid(
      'ws.unsubscribed',
      await client.request({ op: 'unsubscribe', feed: 'scores', topics: [match.body.id] }),
    );
    await client.request({ op: 'subscribe', feed: 'scores', topics: [match.body.id] });
    // A foreign cursor on a socket of its own: `reset`, then a snapshot.
    const resetting = await openWsFeed(app.url, { headers: ADMIN });
    await resetting.request({ op: 'subscribe', feed: 'ticker', topics: ['ASY'], cursor: 'deadbeef:1-0' });
    await resetting.waitFor((f) => f.some((x) => x.type === 'snapshot'));
    resetting.close();

    const sse = new EventSource(`${app.url}/ticker/stream?symbols=ASY`);
    const sseEvents: { type: string; data: unknown }[] = [];
    for (const type of ['snapshot', 'tick']) {
      sse.addEventListener(type, (event) => sseEvents.push({ type, data: JSON.parse(event.data) }));
    }
    await waitFor(() => sseEvents.length > 0);
    expect((await api(app.url, 'POST', '/admin/ticker/ticks', { ticks: [{ symbol: 'ASY', price: 3.5 }] })).status).toBe(
      202,
    );
    expect(
      (await api(app.url, 'POST', `/admin/scores/matches/${match.body.id}/events`, { kind: 'kickoff' })).status,
    ).toBe(201);
    expect(
      (await api(app.url, 'POST', `/admin/scores/matches/${match.body.id}/events`, { kind: 'score', team: 'home' }))
        .status,
    ).toBe(201);
    await client.waitFor((f) => f.filter((x) => x.type === 'score').length >= 2 && f.some((x) => x.type === 'tick'));
    await waitFor(() => sseEvents.some((e) => e.type === 'tick'));
    sse.close();

    const events = [...client.frames, ...resetting.frames].filter((f) => f.feed && f.type);
    expect(new Set(events.map((f) => `${f.feed}.${f.type}`))).toEqual(
      new Set(['ticker.snapshot', 'scores.snapshot', 'ticker.tick', 'scores.score', 'ticker.reset']),
    );
    for (const frame of events) expectValid(`${frame.feed}.${frame.type}`, frame);
    for (const event of sseEvents) expectValid(`ticker.sse.${event.type}`, event.data);

    // Chat: a message to myself's conversation arrives as message:new.
    const user = await api(app.url, 'POST', '/admin/users', { name: 'asyncapi' });
    const other = await api(app.url, 'POST', '/admin/users', { name: 'asyncapi other' });
    const token = (await api(app.url, 'POST', `/admin/users/${user.body.id}/tokens`, {})).body.token;
    const otherToken = (await api(app.url, 'POST', `/admin/users/${other.body.id}/tokens`, {})).body.token;
    const conversation = await api(
      app.url,
      'POST',
      '/chat/conversations',
      { type: 'direct', userId: other.body.id },
      { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    );
    const sender = await connectChat(app.url, token);
    const receiver = await connectChat(app.url, otherToken);
    const sendPayload = { conversationId: conversation.body.id, body: 'hello', clientMsgId: 'c-asyncapi-1' };
    expectValid('chat.message:send', sendPayload);
    const ack = await sender.send(conversation.body.id, 'hello', 'c-asyncapi-1');
    expect(ack.ok).toBe(true);
    await receiver.waitFor((c) => c.received.length > 0);
    expectValid('chat.message:new', { message: receiver.received[0] });
    sender.close();
    receiver.close();
  });
});
