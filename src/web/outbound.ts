// The one outbound HTTP client: every request Latchkey makes on its own initiative (vault issuer
// discovery and token calls, the vault proxy, oidc-provider's back-channel logout, JWKS and request
// object fetches, later webhooks) goes through it. Its undici dispatcher checks the address that
// each connection dials, after DNS resolution, so a name pointing at a private address is refused
// as surely as a literal one, and so is every redirect hop (each hop connects through the same
// dispatcher). It also carries the time and size limits. OUTBOUND_ALLOW_PRIVATE lifts the address
// rule (and check()'s https rule), for development and tests only.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch, type Dispatcher } from 'undici';
import { classifyAddress, describeAddress, ipLiteral, type AddressVerdict } from './outbound-addresses.js';

/** Resolves a host name to every address it has (dns.lookup with `all: true` by default). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

/** What a refusal was about, for logs (never a path, query or header: they may carry secrets). */
export interface OutboundRefusal {
  host: string;
  /** `address`: a refused IP address; `https` (check() only): plain http while the rules hold. */
  rule: 'address' | 'https';
  /** The refused address, when the rule is `address`. */
  address?: string | undefined;
  /** ipaddr.js's range name of that address (`private`, `loopback`, `linkLocal`, ...). */
  range?: string | undefined;
  /** "resolves to a private address (10.0.0.1)": what was wrong, without the subject. */
  reason: string;
}

/**
 * A request refused by the outbound rules. fetch reports it as the `cause` of its TypeError('fetch
 * failed'); undici's request() rejects with it directly.
 */
export class OutboundRefusedError extends Error {
  readonly code = 'ERR_OUTBOUND_REFUSED';
  readonly refusal: OutboundRefusal;

  constructor(refusal: OutboundRefusal) {
    super(`${refusal.host} ${refusal.reason}`);
    this.name = 'OutboundRefusedError';
    this.refusal = refusal;
  }
}

/** The refusal behind an error from fetch, undici or openid-client, if that is what it is. */
export function outboundRefusalOf(error: unknown): OutboundRefusal | undefined {
  for (let link = error, depth = 0; link !== null && typeof link === 'object' && depth < 8; depth++) {
    // By code, not instanceof: test runners load modules in more than one realm.
    if ((link as { code?: unknown }).code === 'ERR_OUTBOUND_REFUSED') {
      return (link as OutboundRefusedError).refusal;
    }
    link = (link as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface OutboundOptions {
  /** OUTBOUND_ALLOW_PRIVATE: reach loopback, private and other special-use addresses, and plain http. */
  allowPrivate?: boolean;
  /** TCP and TLS handshake limit, in ms. Default 10 s. */
  connectTimeoutMs?: number;
  /** `fetch`: the whole call, body included, in ms. Default 10 s. */
  fetchTimeoutMs?: number;
  /** `fetch`: the largest response body, in bytes. Default 1 MiB (documents, not downloads). */
  maxFetchBytes?: number;
  /** `dispatcher`: time to the response headers and between two body chunks, in ms. Default 30 s. */
  streamTimeoutMs?: number;
  /** `dispatcher`: the largest response body streamed through it, in bytes. Default 50 MiB. */
  maxStreamBytes?: number;
  /** DNS resolution; default dns.lookup (what the operating system would answer). */
  resolve?: Resolver;
  /**
   * Exceptions to the address rule, asked before it (tests: a stand-in for a public host on
   * loopback). Production leaves it unset.
   */
  allowAddress?: (address: string, port: number) => boolean;
  /** Told of every refused request, to log it. */
  onRefused?: (refusal: OutboundRefusal) => void;
}

export interface OutboundClient {
  /** Whether the address and https rules are lifted (OUTBOUND_ALLOW_PRIVATE). */
  readonly allowPrivate: boolean;
  /** WHATWG fetch for whole documents and small calls (discovery, tokens, JWKS, logout tokens). */
  readonly fetch: typeof globalThis.fetch;
  /** The guarded undici dispatcher for streamed calls (the vault proxy); it follows no redirects. */
  readonly dispatcher: Dispatcher;
  /**
   * Checks a URL before it is stored (an issuer, say): http(s), https unless allowPrivate, and every
   * address its host is or resolves to. Throws OutboundRefusedError, or the resolver's error (code
   * ENOTFOUND, EAI_AGAIN, ...) when the name does not resolve.
   */
  check(url: string | URL): Promise<void>;
  /** Closes the client's connections. */
  close(): Promise<void>;
}

const MIB = 1024 * 1024;
const DEFAULTS = {
  connectTimeoutMs: 10_000,
  fetchTimeoutMs: 10_000,
  maxFetchBytes: MIB,
  streamTimeoutMs: 30_000,
  maxStreamBytes: 50 * MIB,
};

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`);
  return value;
}

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

export function createOutboundClient(options: OutboundOptions = {}): OutboundClient {
  const allowPrivate = options.allowPrivate ?? false;
  const limits = {
    connectTimeoutMs: positiveInteger(
      'connectTimeoutMs',
      options.connectTimeoutMs,
      DEFAULTS.connectTimeoutMs,
    ),
    fetchTimeoutMs: positiveInteger('fetchTimeoutMs', options.fetchTimeoutMs, DEFAULTS.fetchTimeoutMs),
    maxFetchBytes: positiveInteger('maxFetchBytes', options.maxFetchBytes, DEFAULTS.maxFetchBytes),
    streamTimeoutMs: positiveInteger('streamTimeoutMs', options.streamTimeoutMs, DEFAULTS.streamTimeoutMs),
    maxStreamBytes: positiveInteger('maxStreamBytes', options.maxStreamBytes, DEFAULTS.maxStreamBytes),
  };
  const resolve = options.resolve ?? systemResolver;

  const refuse = (refusal: OutboundRefusal): OutboundRefusedError => {
    options.onRefused?.(refusal);
    return new OutboundRefusedError(refusal);
  };

  /** The first refused address among `addresses`, or undefined when every one may be dialled. */
  const refusedAmong = (addresses: readonly string[], port: number): AddressVerdict | undefined => {
    if (allowPrivate) return undefined;
    for (const address of addresses) {
      if (options.allowAddress?.(address, port) === true) continue;
      const verdict = classifyAddress(address);
      if (!verdict.allowed) return verdict;
    }
    return undefined;
  };

  const addressRefusal = (host: string, verdict: AddressVerdict, literal: boolean): OutboundRefusal => ({
    host,
    rule: 'address',
    address: verdict.address,
    range: verdict.range,
    // A name's resolved address stays in the operator's log: an app that registers an issuer
    // must not learn the internal addresses behind host names from the refusal.
    reason: `${literal ? 'is' : 'resolves to'} ${describeAddress(verdict, literal)}`,
  });

  const httpsRefusal = (host: string): OutboundRefusal => ({
    host,
    rule: 'https',
    reason: 'is not reached over https (plain http only with OUTBOUND_ALLOW_PRIVATE)',
  });

  /**
   * net.connect's DNS step for host names: every address the name has must pass, or none is
   * dialled. A name with one private address among public ones is refused whole: such answers are
   * what DNS rebinding tricks look like. (IP literals skip this step; the connector checks them.)
   */
  const guardedLookup = (port: number): LookupFunction =>
    ((hostname: string, lookupOptions: { family?: number | string; all?: boolean }, callback) => {
      resolve(hostname).then(
        (answers) => {
          const family = Number(String(lookupOptions.family ?? '0').replace('IPv', ''));
          const usable = family === 4 || family === 6 ? answers.filter((a) => a.family === family) : answers;
          const refused = refusedAmong(
            usable.map((answer) => answer.address),
            port,
          );
          if (refused) return callback(refuse(addressRefusal(hostname, refused, false)), '', 0);
          if (usable.length === 0) {
            const error = Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
            return callback(error, '', 0);
          }
          if (lookupOptions.all) return (callback as (e: null, all: LookupAddress[]) => void)(null, usable);
          callback(null, usable[0]!.address, usable[0]!.family);
        },
        (error: NodeJS.ErrnoException) => callback(error, '', 0),
      );
    }) as LookupFunction;

  const connectors = new Map<number, buildConnector.connector>();
  const connectorFor = (port: number) => {
    let connector = connectors.get(port);
    if (!connector) {
      connector = buildConnector({ timeout: limits.connectTimeoutMs, lookup: guardedLookup(port) });
      connectors.set(port, connector);
    }
    return connector;
  };

  /**
   * undici's connect step: IP literals are checked here, names in guardedLookup. (Which scheme a
   * caller may use is its own rule: the vault's is https only, unless OUTBOUND_ALLOW_PRIVATE.)
   */
  const connect: buildConnector.connector = (connectOptions, callback) => {
    const { hostname, protocol } = connectOptions;
    const port = Number(connectOptions.port) || (protocol === 'https:' ? 443 : 80);
    const literal = ipLiteral(hostname);
    const refused = literal === undefined ? undefined : refusedAmong([literal], port);
    if (refused) {
      callback(refuse(addressRefusal(hostname, refused, true)), null);
      return;
    }
    connectorFor(port)(connectOptions, callback);
  };

  // Two pools, one guard: whole documents get tight limits; streams (the proxy) get the stream limits.
  const documents = new Agent({
    connect,
    headersTimeout: limits.fetchTimeoutMs,
    bodyTimeout: limits.fetchTimeoutMs,
    maxResponseSize: limits.maxFetchBytes,
  });
  const streams = new Agent({
    connect,
    headersTimeout: limits.streamTimeoutMs,
    bodyTimeout: limits.streamTimeoutMs,
    maxResponseSize: limits.maxStreamBytes,
  });

  const guardedFetch = ((input: string | URL, init: RequestInit = {}) => {
    const deadline = AbortSignal.timeout(limits.fetchTimeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    // undici's own fetch with its own Agent: one implementation end to end, whatever fetch Node
    // bundles. Redirects (when followed) dial through `documents` again, so every hop is checked.
    return undiciFetch(input, { ...init, signal, dispatcher: documents } as never);
  }) as unknown as typeof globalThis.fetch;

  async function check(input: string | URL): Promise<void> {
    const url = typeof input === 'string' ? URL.parse(input) : input;
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new TypeError('check() takes an http or https URL');
    }
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const literal = ipLiteral(url.hostname);
    if (literal !== undefined) {
      const refused = refusedAmong([literal], port);
      if (refused) throw refuse(addressRefusal(url.hostname, refused, true));
    }
    if (url.protocol === 'http:' && !allowPrivate) throw refuse(httpsRefusal(url.hostname));
    if (literal !== undefined || allowPrivate) return;
    const answers = await resolve(url.hostname);
    const refused = refusedAmong(
      answers.map((answer) => answer.address),
      port,
    );
    if (refused) throw refuse(addressRefusal(url.hostname, refused, false));
  }

  return {
    allowPrivate,
    fetch: guardedFetch,
    dispatcher: streams,
    check,
    close: async () => {
      await Promise.all([documents.close(), streams.close()]);
    },
  };
}
