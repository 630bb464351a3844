// Which IP addresses Latchkey's own outbound requests may reach: public unicast only. Loopback,
// private, link-local (cloud metadata at 169.254.169.254 included), shared (CGNAT), multicast,
// broadcast, documentation, benchmarking and other special-use ranges are refused, by the range
// names of ipaddr.js (RFC 6890's IANA special-purpose registries) rather than hand-written CIDRs.
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface AddressVerdict {
  /** The address as it was given (a resolver's answer, or a URL's literal host). */
  address: string;
  /** ipaddr.js's range name (`unicast`, `private`, `loopback`, `linkLocal`, ...), or ours below. */
  range: string;
  allowed: boolean;
}

/** RFC 6052 §2.1: the well-known NAT64 prefix, whose last 32 bits are an IPv4 address. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');
/** RFC 4291 §2.5.5.1: "IPv4-compatible" ::a.b.c.d, deprecated; some stacks still route it to IPv4. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

/** Classifies one IP address (IPv4, IPv6, IPv4-mapped IPv6); anything unparsable is refused. */
export function classifyAddress(address: string): AddressVerdict {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process() turns an IPv4-mapped IPv6 address (::ffff:10.0.0.1) into the IPv4 it carries, so
    // that it is judged as the address it reaches.
    parsed = ipaddr.process(address);
  } catch {
    return { address, range: 'invalid', allowed: false };
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.match(NAT64_WELL_KNOWN)) {
      // Behind DNS64 every IPv4-only host has such an address; judge the IPv4 one it stands for.
      const embedded = classifyAddress(ipaddr.fromByteArray(v6.toByteArray().slice(12)).toString());
      return { address, range: embedded.range, allowed: embedded.allowed };
    }
    // :: and ::1 are in this prefix too; their own range names say more.
    if (v6.match(IPV4_COMPATIBLE) && v6.range() === 'unicast') {
      return { address, range: 'ipv4Compatible', allowed: false };
    }
  }
  const range = parsed.range();
  return { address, range, allowed: range === 'unicast' };
}

/**
 * The IP address `host` (a URL's hostname, IPv6 in brackets or not) is written as, or undefined for
 * a name. net.isIP, not ipaddr.js's looser parser: these are exactly the hosts that net.connect
 * dials without a DNS lookup, so they are the ones to check without one.
 */
export function ipLiteral(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(bare) === 0 ? undefined : bare;
}

const RANGE_WORDS: Record<string, string> = {
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  multicast: 'a multicast',
  linkLocal: 'a link-local',
  loopback: 'a loopback',
  carrierGradeNat: 'a shared (carrier-grade NAT)',
  private: 'a private',
  uniqueLocal: 'a private (unique local)',
  reserved: 'a reserved or documentation',
  benchmarking: 'a benchmarking',
  ipv4Compatible: 'an IPv4-compatible IPv6',
  invalid: 'an invalid',
};

/** "a private address (10.0.0.1)": the refused range in words, for error messages and logs. */
export function describeAddress(verdict: AddressVerdict, withAddress = true): string {
  const words = RANGE_WORDS[verdict.range] ?? `a special-use (${verdict.range})`;
  return withAddress ? `${words} address (${verdict.address})` : `${words} address`;
}
