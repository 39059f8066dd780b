// Where a request comes from, as the rate limits count it. Behind a reverse proxy the peer is the
// proxy, so X-Forwarded-For is believed from `http.trusted_proxies` and from a UNIX-socket peer,
// which has no address and can only be a local process (MAS believes it too). An IPv6 client
// usually holds a whole /64 and can pick any address in it, so IPv6 is counted per /64.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Express's `trust proxy` function: whether the address `hop` steps from Mauth may set X-Forwarded-For. */
export type TrustProxy = (address: string | undefined, hop: number) => boolean;

export function trustProxy(networks: readonly string[]): TrustProxy {
  const list = new BlockList();
  for (const network of networks) {
    const [address = '', prefix] = network.split('/');
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    list.addSubnet(address, prefix === undefined ? (type === 'ipv4' ? 32 : 128) : Number(prefix), type);
  }
  return (address, hop) => {
    if (!address) return hop === 0;
    if (isIPv4(address)) return list.check(address, 'ipv4');
    return isIPv6(address) && list.check(address, 'ipv6');
  };
}

/** The eight 16-bit groups of a valid IPv6 address (a dotted IPv4 tail included). */
function groups(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const [head = '', tail] = text.split('::');
  if (tail === undefined) return parse(head);
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...Array.from({ length: 8 - left.length - right.length }, () => 0), ...right];
}

/**
 * The rate-limit bucket of a client address: an IPv4 address as it is (an IPv4-mapped IPv6
 * address as its IPv4 address), an IPv6 address as its /64, `unknown` when there is none.
 */
export function addressBucket(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const address = ip.replace(/%.*$/, '');
  if (!isIPv6(address)) return address;
  const g = groups(address);
  if (g.slice(0, 5).every((group) => group === 0) && g[5] === 0xffff) {
    return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join('.');
  }
  return `${g.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}
