import type { LookupAddress } from 'node:dns';
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
