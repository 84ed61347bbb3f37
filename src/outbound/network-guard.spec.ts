import type { LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { BlockedAddressError, NetworkGuard } from './network-guard.js';

/** A resolver whose answers change between calls, like a DNS rebinding attacker's name server. */
function rebinding(...answers: string[][]) {
  let call = 0;
  return (_host: string, _opts: { all: true }, cb: (err: Error | null, a: LookupAddress[]) => void) => {
    const answer = answers[Math.min(call++, answers.length - 1)];
    setImmediate(() =>
      cb(
        null,
        answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      ),
    );
  };
}

const lookup = (guard: NetworkGuard, host: string, all = false) =>
  new Promise<{ error: Error | null; address?: unknown }>((resolve) =>
    guard.lookup(host, { all } as never, (error: Error | null, address?: unknown) => resolve({ error, address })),
  );

describe('NetworkGuard', () => {
  const guard = new NetworkGuard([]);

  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['192.168.1.10', 'private'],
    ['172.16.5.4', 'private'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.1.1', 'link-local'],
    ['100.100.100.200', 'CGNAT'],
    ['224.0.0.1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fd00:ec2::254', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:10.0.0.1', 'private (IPv4-mapped)'],
    ['::ffff:a00:1', 'private (IPv4-mapped)'],
    ['64:ff9b::a9fe:a9fe', 'cloud metadata (NAT64)'],
    ['2002:7f00:1::1', 'loopback (6to4)'],
  ])('refuses %s (%s)', (address, reason) => {
    expect(guard.blockedReason(address)).toBe(reason);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'allows %s',
    (address) => {
      expect(guard.blockedReason(address)).toBeNull();
    },
  );

  // Every IPv6 form that carries an IPv4 address is judged by that address: public passes, internal does not.
  it.each([
    // IPv4-compatible ::/96, as the URL parser writes it and as written by hand
    ['::7f00:1', 'loopback (IPv4-compatible)'],
    ['::a9fe:a9fe', 'cloud metadata (IPv4-compatible)'],
    ['::a00:1', 'private (IPv4-compatible)'],
    ['::2', 'unspecified (IPv4-compatible)'], // 0.0.0.2
    ['::127.0.0.1', 'loopback (IPv4-mapped)'], // ipaddr.js reads the dotted form as mapped: refused all the same
    // IPv4-mapped ::ffff:0:0/96
    ['::ffff:7f00:1', 'loopback (IPv4-mapped)'],
    ['::ffff:169.254.169.254', 'cloud metadata (IPv4-mapped)'],
    // IPv4-translated ::ffff:0:0:0/96
    ['::ffff:0:a00:1', 'private (IPv4-translated)'],
    ['::ffff:0:7f00:1', 'loopback (IPv4-translated)'],
    // NAT64 64:ff9b::/96 and the local-use 64:ff9b:1::/48
    ['64:ff9b::c0a8:101', 'private (NAT64)'],
    ['64:ff9b:1::a00:1', 'private (NAT64)'],
    ['64:ff9b:1:abcd::7f00:1', 'loopback (NAT64)'],
    // 6to4 2002::/16, the IPv4 address in bits 16–48
    ['2002:a9fe:a9fe::1', 'cloud metadata (6to4)'],
    ['2002:c0a8:101:1::1', 'private (6to4)'],
    // Teredo 2001:0::/32: server in bits 32–64, client in the last 32 bits inverted
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', 'private (Teredo)'], // client 10.0.0.1
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback (Teredo)'], // client 127.0.0.1
    ['2001:0:a00:1:8000:63bf:f7f7:f7f7', 'private (Teredo)'], // server 10.0.0.1
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved (Teredo)'], // RFC 4380's example: client 192.0.2.45
  ])('refuses %s, which embeds an internal IPv4 address (%s)', (address, reason) => {
    expect(guard.blockedReason(address)).toBe(reason);
  });

  it.each([
    '::808:808', // IPv4-compatible 8.8.8.8
    '::ffff:5db8:d822', // IPv4-mapped 93.184.216.34
    '::ffff:0:808:808', // IPv4-translated 8.8.8.8
    '64:ff9b:1::808:808', // NAT64 local-use, 8.8.8.8
    '2002:808:808::1', // 6to4 via 8.8.8.8
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7', // Teredo server 65.54.227.120, client 8.8.8.8
  ])('allows %s, which embeds a public IPv4 address', (address) => {
    expect(guard.blockedReason(address)).toBeNull();
  });

  it('an embedding form the guard refuses is refused at connect time too', async () => {
    const resolver = rebinding(['::7f00:1']);
    const { error } = await lookup(new NetworkGuard([], resolver), 'compat.example');
    expect(error!.message).toBe('blocked: compat.example resolves to ::7f00:1, a loopback (IPv4-compatible) address');
    expect(() => guard.checkHost('[::a9fe:a9fe]')).toThrow(
      'blocked: ::a9fe:a9fe is a cloud metadata (IPv4-compatible) address',
    );
  });

  it('OUTBOUND_ALLOWED_CIDRS opens an IPv4 range in every embedding form; Teredo needs both its addresses', () => {
    const open = new NetworkGuard(['127.0.0.0/8']);
    for (const form of ['::7f00:1', '::ffff:0:7f00:1', '64:ff9b::7f00:1', '2002:7f00:1::1']) {
      expect({ form, reason: open.blockedReason(form) }).toEqual({ form, reason: null });
    }
    expect(open.isAllowedRange(ipaddr.parse('::7f00:1'))).toBe(true);
    // Teredo: client 127.0.0.1 is allowed, server 65.54.227.120 is public, so it passes but is not "in" the range.
    expect(open.blockedReason('2001:0:4136:e378:8000:63bf:80ff:fffe')).toBeNull();
    expect(open.isAllowedRange(ipaddr.parse('2001:0:4136:e378:8000:63bf:80ff:fffe'))).toBe(false);
    expect(open.isAllowedRange(ipaddr.parse('2001:0:7f00:1:8000:63bf:80ff:fffe'))).toBe(true);
    expect(open.blockedReason('::a00:1')).toBe('private (IPv4-compatible)');
  });

  it('OUTBOUND_ALLOWED_CIDRS opens a range, also in its IPv4-mapped form', () => {
    const open = new NetworkGuard(['127.0.0.0/8', 'fd00::/8']);
    expect(open.blockedReason('127.0.0.1')).toBeNull();
    expect(open.blockedReason('::ffff:127.0.0.1')).toBeNull();
    expect(open.blockedReason('fd12::1')).toBeNull();
    expect(open.blockedReason('10.0.0.1')).toBe('private');
  });

  it('checkHost refuses IP literals (which skip lookup) and leaves names to the lookup', () => {
    expect(() => guard.checkHost('[::ffff:a00:1]')).toThrow(BlockedAddressError);
    expect(() => guard.checkHost('10.0.0.1')).toThrow(/blocked: 10\.0\.0\.1 is a private address/);
    expect(() => guard.checkHost('example.com')).not.toThrow();
  });

  it('connect-time lookup refuses a name that now resolves to a private address (DNS rebinding)', async () => {
    const rebinder = new NetworkGuard([], rebinding(['93.184.216.34'], ['93.184.216.34', '10.0.0.7']));
    expect(await rebinder.checkUrl('https://rebind.example/hook', true)).toBeNull(); // fine at creation
    const { error } = await lookup(rebinder, 'rebind.example');
    expect(error).toBeInstanceOf(BlockedAddressError);
    expect(error!.message).toBe('blocked: rebind.example resolves to 10.0.0.7, a private address');
  });

  it('lookup answers in the shape net.connect asked for', async () => {
    const fine = new NetworkGuard([], rebinding(['93.184.216.34', '2606:4700::1111']));
    expect((await lookup(fine, 'x.example')).address).toBe('93.184.216.34');
    expect((await lookup(fine, 'x.example', true)).address).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700::1111', family: 6 },
    ]);
  });

  it('checkUrl: scheme, credentials, literal and resolved addresses, https in production', async () => {
    const g = new NetworkGuard(['127.0.0.0/8'], rebinding(['10.1.1.1']));
    expect(await g.checkUrl('ftp://example.com/x', false)).toBe('url must use http or https (got ftp)');
    expect(await g.checkUrl('/relative', false)).toBe('url must be an absolute http or https URL');
    expect(await g.checkUrl('https://user:pw@example.com/', false)).toBe('url must not contain credentials');
    expect(await g.checkUrl('http://169.254.169.254/latest/meta-data', false)).toMatch(
      /^url: 169\.254\.169\.254 is a cloud metadata address/,
    );
    expect(await g.checkUrl('http://[::ffff:10.0.0.1]/', false)).toMatch(/is a private \(IPv4-mapped\) address/);
    expect(await g.checkUrl('http://0x7f000001/', false)).toBeNull(); // 127.0.0.1, allowed here
    expect(await g.checkUrl('https://internal.example/', false)).toMatch(
      /internal\.example resolves to 10\.1\.1\.1, which is a private address/,
    );
    const publicGuard = new NetworkGuard(['127.0.0.0/8'], rebinding(['93.184.216.34']));
    expect(await publicGuard.checkUrl('http://example.com/', true)).toMatch(/url must use https/);
    expect(await publicGuard.checkUrl('https://example.com/', true)).toBeNull();
    expect(await publicGuard.checkUrl('http://127.0.0.1:8080/', true)).toBeNull();
  });
});
