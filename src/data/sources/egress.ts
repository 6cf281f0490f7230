/**
 * Which network addresses Trellis may open a connection to when it fetches something a user
 * named (an `https://` data source): public addresses, and nothing internal unless the operator
 * listed it. Loopback, link-local (the cloud metadata service at 169.254.169.254), private,
 * carrier-grade NAT, unique-local, multicast and reserved ranges are refused by default, so a URL
 * cannot be used to reach what only the machine itself can see.
 *
 * `TRELLIS_EGRESS_ALLOW` lists what is allowed anyway, comma-separated: an address (`127.0.0.1`,
 * `::1`), a CIDR range (`10.0.0.0/8`), a host name (`data.internal`, matched exactly, without the
 * port), or `*` for everything.
 *
 * The check is made on the addresses a name resolves to, inside the connection's own DNS lookup,
 * so a name cannot resolve to a public address for the check and an internal one for the
 * connection; every redirect goes through it again.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { TrellisError } from '../../core/errors.js';

export const EGRESS_ALLOW_ENV = 'TRELLIS_EGRESS_ALLOW';

const RANGES: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'a "this network" address'],
  ['10.0.0.0', 8, 'ipv4', 'a private address'],
  ['100.64.0.0', 10, 'ipv4', 'a carrier-grade NAT address'],
  ['127.0.0.0', 8, 'ipv4', 'a loopback address'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local address'],
  ['172.16.0.0', 12, 'ipv4', 'a private address'],
  ['192.0.0.0', 24, 'ipv4', 'a reserved address'],
  ['192.168.0.0', 16, 'ipv4', 'a private address'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking address'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast address'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved address'],
  ['::', 128, 'ipv6', 'the unspecified address'],
  ['::1', 128, 'ipv6', 'a loopback address'],
  ['fc00::', 7, 'ipv6', 'a unique-local (private) address'],
  ['fe80::', 10, 'ipv6', 'a link-local address'],
  ['ff00::', 8, 'ipv6', 'a multicast address'],
];

const INTERNAL = RANGES.map(([net, prefix, family, what]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, family);
  return { list, family, what };
});

/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is checked as the IPv4 address it is. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m) return { address: m[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** What kind of internal address this is ('a loopback address' …), or undefined for a public one. */
export function internalRange(address: string): string | undefined {
  const a = unmapped(address);
  return INTERNAL.find((r) => r.family === a.family && r.list.check(a.address, a.family))?.what;
}

export interface EgressPolicy {
  /** Everything is allowed (`*`). */
  readonly all: boolean;
  readonly hosts: ReadonlySet<string>;
  readonly ranges: BlockList;
  /** The entries as given, for messages. */
  readonly entries: readonly string[];
}

export function egressPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): EgressPolicy {
  return egressPolicy((env[EGRESS_ALLOW_ENV] ?? '').split(','));
}

export function egressPolicy(allow: readonly string[]): EgressPolicy {
  const entries = allow.map((e) => e.trim()).filter(Boolean);
  const hosts = new Set<string>();
  const ranges = new BlockList();
  let all = false;
  for (const e of entries) {
    if (e === '*') {
      all = true;
      continue;
    }
    const cidr = /^(.+)\/(\d{1,3})$/.exec(e);
    const ip = cidr ? cidr[1]! : e.replace(/^\[(.*)\]$/, '$1');
    const v = isIP(ip);
    if (v) {
      const family = v === 6 ? 'ipv6' : 'ipv4';
      const prefix = cidr ? Number(cidr[2]) : v === 6 ? 128 : 32;
      if (prefix > (v === 6 ? 128 : 32)) {
        throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `${EGRESS_ALLOW_ENV}: '${e}' is not an address range (the prefix is at most ${v === 6 ? 128 : 32})` });
      }
      ranges.addSubnet(ip, prefix, family);
    } else if (/^[a-z0-9.-]+$/i.test(e)) {
      hosts.add(e.toLowerCase());
    } else {
      throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `${EGRESS_ALLOW_ENV}: '${e}' is neither an address, a CIDR range, a host name nor '*'` });
    }
  }
  return { all, hosts, ranges, entries };
}

/** Is this host (a name or an address literal) listed by the policy itself, whatever it resolves to? */
export function hostListed(policy: EgressPolicy, host: string): boolean {
  if (policy.all) return true;
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (policy.hosts.has(h)) return true;
  if (!isIP(h)) return false;
  const a = unmapped(h);
  return policy.ranges.check(a.address, a.family);
}

/** Throws TRELLIS_EGRESS_BLOCKED when `address` (which `host` resolved to) is internal and not allowed. */
export function checkEgress(policy: EgressPolicy, host: string, address: string): void {
  const what = internalRange(address);
  if (!what || hostListed(policy, host)) return;
  const a = unmapped(address);
  if (policy.ranges.check(a.address, a.family)) return;
  throw new TrellisError('TRELLIS_EGRESS_BLOCKED', {
    host, address,
    detail: `${address} is ${what}, which Trellis does not connect to unless told to; to allow it, set ${EGRESS_ALLOW_ENV}=${address}${policy.entries.length ? ` (added to the current list: ${policy.entries.join(',')})` : ''}, or name the host or a CIDR range there`,
  });
}

/**
 * A DNS lookup for `http.request`'s `lookup` option that refuses a name when any address it
 * resolves to is blocked: the addresses checked are the ones the socket connects to.
 */
export function egressLookup(policy: EgressPolicy): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number }, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      try {
        for (const a of addresses) checkEgress(policy, hostname, a.address);
      } catch (e) {
        return callback(e as Error, '', 0);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}
