/**
 * Keeps outbound webhooks out of our own network (SSRF). Default deny: only globally routable unicast
 * addresses pass; loopback, private, link-local (cloud metadata), CGNAT, multicast, unspecified,
 * reserved, and IPv6 forms that embed such an IPv4 address (mapped, compatible, translated, NAT64, 6to4,
 * Teredo) are refused unless `OUTBOUND_ALLOWED_CIDRS` opens their range.
 *
 * Checked twice: when an endpoint is created or changed (a 422), and at connect time through a
 * `lookup` that checks every address the name resolves to, so a name that resolved to a public
 * address at creation and to a private one later (DNS rebinding) is still refused. IP literals skip
 * `lookup` in `net.connect`, so the sender checks them itself (`checkHost`).
 */
import { type LookupAddress, lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Resolver = (
  hostname: string,
  options: { all: true },
  cb: (err: Error | null, addresses: LookupAddress[]) => void,
) => void;

export class BlockedAddressError extends Error {
  readonly code = 'ERR_BLOCKED_ADDRESS';
}

const METADATA = ipaddr.parse('169.254.169.254');

/** ipaddr.js range names as people write them. */
const LABELS: Record<string, string> = {
  linkLocal: 'link-local',
  carrierGradeNat: 'CGNAT',
  uniqueLocal: 'unique-local',
  ipv4Mapped: 'IPv4-mapped',
  ipv4Compatible: 'IPv4-compatible',
  rfc6145: 'IPv4-translated',
  rfc6052: 'NAT64',
  teredo: 'Teredo',
};
const label = (range: string) => LABELS[range] ?? range;
const an = (word: string) => `${/^[aeiou]/i.test(word) ? 'an' : 'a'} ${word}`;

interface Embedded {
  /** The translation form, as a LABELS key. */
  form: string;
  /** Every IPv4 address a packet to this IPv6 address may end up at; each must pass. */
  addresses: ipaddr.IPv4[];
}

/**
 * The IPv4 addresses an IPv6 address carries in a translation or tunnelling form, or null. Such an
 * address is judged by what it carries: a host with a NAT64, 6to4 or Teredo path (or a stack that
 * still speaks IPv4-compatible addresses) delivers the packet to that IPv4 address.
 */
function embeddedIPv4(address: ipaddr.IPv6): Embedded | null {
  const p = address.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const range = address.range();
  switch (range) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d
    case 'rfc6052': // NAT64 64:ff9b::a.b.c.d and the local-use 64:ff9b:1::/48 (RFC 8215), both in the last 32 bits
      return { form: range, addresses: [v4(p[6], p[7])] };
    case '6to4': // 2002:AABB:CCDD::/48
      return { form: range, addresses: [v4(p[1], p[2])] };
    case 'teredo': // 2001:0:SERVER:flags:port:CLIENT, the client inverted (RFC 4380)
      return { form: range, addresses: [v4(p[2], p[3]), v4(p[6] ^ 0xffff, p[7] ^ 0xffff)] };
    default:
      // IPv4-compatible ::a.b.c.d (RFC 4291, deprecated); :: and ::1 are their own ranges, judged as such.
      if (range === 'unicast' && p.slice(0, 6).every((part) => part === 0)) {
        return { form: 'ipv4Compatible', addresses: [v4(p[6], p[7])] };
      }
      return null;
  }
}

export class NetworkGuard {
  private readonly allowed: [Address, number][];

  constructor(
    allowedCidrs: readonly string[],
    private readonly resolver: Resolver = dnsLookup as unknown as Resolver,
  ) {
    this.allowed = allowedCidrs.map((cidr) => ipaddr.parseCIDR(cidr));
  }

  isAllowedRange(address: Address): boolean {
    const sameKind = (a: Address) =>
      this.allowed.some(([range, bits]) => a.kind() === range.kind() && a.match(range, bits));
    if (sameKind(address)) return true;
    // An IPv4 range also covers its addresses written in an IPv6 form that embeds them (all of them, for Teredo).
    const embedded = address.kind() === 'ipv6' ? embeddedIPv4(address as ipaddr.IPv6) : null;
    return embedded !== null && embedded.addresses.every(sameKind);
  }

  /** Why an address is refused (`loopback`, `private`, …), or null when it may be reached. */
  blockedReason(raw: string): string | null {
    let address: Address;
    try {
      address = ipaddr.parse(raw.replace(/^\[|\]$/g, ''));
    } catch {
      return 'not an IP address';
    }
    if (this.isAllowedRange(address)) return null;
    const embedded = address.kind() === 'ipv6' ? embeddedIPv4(address as ipaddr.IPv6) : null;
    if (embedded) {
      for (const v4 of embedded.addresses) {
        const inner = this.isAllowedRange(v4) ? null : this.rangeReason(v4);
        if (inner) return `${inner} (${label(embedded.form)})`;
      }
      return null;
    }
    return this.rangeReason(address);
  }

  private rangeReason(address: Address): string | null {
    if (address.kind() === 'ipv4' && (address as ipaddr.IPv4).match(METADATA, 32)) return 'cloud metadata';
    const range = address.range();
    return range === 'unicast' ? null : label(range);
  }

  /** Throws when `hostname` is an IP literal we must not reach; names are checked at lookup. */
  checkHost(hostname: string): void {
    const bare = hostname.replace(/^\[|\]$/g, '');
    if (!ipaddr.isValid(bare)) return;
    const reason = this.blockedReason(bare);
    if (reason) throw new BlockedAddressError(`blocked: ${bare} is ${an(reason)} address`);
  }

  /**
   * The creation-time check (null = fine, else the problem for a 422): http/https only, no
   * credentials, and neither the literal address nor any address the name resolves to now may be
   * refused. A name that does not resolve yet is accepted: the connect-time check still applies.
   * `requireHttps` (production): plain http only towards allowed ranges.
   */
  async checkUrl(raw: string, requireHttps: boolean): Promise<string | null> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return 'url must be an absolute http or https URL';
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return `url must use http or https (got ${url.protocol.replace(/:$/, '')})`;
    }
    if (url.username || url.password) return 'url must not contain credentials';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const addresses = ipaddr.isValid(host)
      ? [host]
      : await this.lookupAll(host, 3_000).then(
          (found) => found.map((a) => a.address),
          () => [] as string[],
        );
    for (const address of addresses) {
      const reason = this.blockedReason(address);
      if (reason) {
        const what = address === host ? address : `${host} resolves to ${address}, which`;
        return `url: ${what} is ${an(reason)} address; outbound webhooks may not reach it unless OUTBOUND_ALLOWED_CIDRS allows it`;
      }
    }
    if (
      requireHttps &&
      url.protocol === 'http:' &&
      !(addresses.length > 0 && addresses.every((a) => this.isAllowedRange(ipaddr.parse(a))))
    ) {
      return 'url must use https (plain http only towards OUTBOUND_ALLOWED_CIDRS ranges)';
    }
    return null;
  }

  private lookupAll(hostname: string, timeoutMs: number): Promise<LookupAddress[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('lookup timed out')), timeoutMs);
      this.resolver(hostname, { all: true }, (error, addresses) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(addresses);
      });
    });
  }

  /** Every address of `hostname`; rejects with the first refused one. */
  resolve(hostname: string): Promise<LookupAddress[]> {
    return new Promise((resolve, reject) => {
      this.resolver(hostname, { all: true }, (error, addresses) => {
        if (error) return reject(error);
        for (const { address } of addresses) {
          const reason = this.blockedReason(address);
          if (reason)
            return reject(
              new BlockedAddressError(`blocked: ${hostname} resolves to ${address}, ${an(reason)} address`),
            );
        }
        if (addresses.length === 0) return reject(new Error(`${hostname} has no addresses`));
        resolve(addresses);
      });
    });
  }

  /** A `lookup` for `net.connect`/undici: resolves, refuses if any address is refused. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname).then(
      (addresses) => {
        if ((options as { all?: boolean }).all) (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
        else callback(null, addresses[0].address, addresses[0].family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}
