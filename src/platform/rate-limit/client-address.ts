/**
 * The client a rate limit counts: an IPv4 address (IPv4-mapped IPv6 included) as is, an IPv6 address
 * by its /64, since one subscriber usually holds a whole /64 and could otherwise rotate through it.
 */
export function clientAddress(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const address = ip.split('%')[0].toLowerCase();
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped) return mapped[1];
  const compressed = address.includes('::');
  const [head, tail = ''] = address.split('::');
  const first = head ? head.split(':') : [];
  const last = compressed && tail ? tail.split(':') : [];
  const groups = compressed
    ? [...first, ...Array<string>(Math.max(0, 8 - first.length - last.length)).fill('0'), ...last]
    : first;
  const prefix = groups.slice(0, 4).map((group) => (parseInt(group, 16) || 0).toString(16));
  return `${prefix.join(':')}::/64`;
}
