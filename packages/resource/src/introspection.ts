// RFC 7662 token introspection, for an API that runs apart from the issuer: asks the issuer's
// introspection endpoint with the API's own client credentials, and remembers each answer
// (active or not) for a short while, so that a busy API does not ask for every request.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { fetchJson, type HttpOptions, type IssuerDiscovery } from './discovery.js';
import { upstreamUnavailable } from './errors.js';
import type { IntrospectionResponse, OpaqueTokenChecker } from './types.js';

export const DEFAULT_INTROSPECTION_CACHE_TTL_MS = 30_000;
export const DEFAULT_INTROSPECTION_CACHE_SIZE = 10_000;

export interface IntrospectionOptions {
  /** The client this API authenticates as; the issuer must let it introspect the API's tokens. */
  clientId: string;
  clientSecret: string;
  /**
   * How long an answer is reused (ms), default 30 s. A revoked token keeps working here for up to
   * this long: keep it short. An active answer is never kept past the token's own expiry.
   */
  cacheTtlMs?: number;
  /** Most answers kept at once (least recently used go first), default 10,000. */
  cacheSize?: number;
  /** The endpoint; found by discovery when absent. */
  endpoint?: string;
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded. */
function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

function isIntrospectionResponse(value: unknown): value is IntrospectionResponse {
  return (
    typeof value === 'object' && value !== null && typeof (value as { active?: unknown }).active === 'boolean'
  );
}

export class IntrospectionChecker implements OpaqueTokenChecker {
  readonly #options: IntrospectionOptions;
  readonly #http: HttpOptions;
  readonly #discovery: IssuerDiscovery;
  readonly #cacheTtlMs: number;
  /** Keyed by the token's SHA-256, so the cache holds no usable token. */
  readonly #cache: LRUCache<string, IntrospectionResponse, string>;

  constructor(options: IntrospectionOptions, http: HttpOptions, discovery: IssuerDiscovery) {
    this.#options = options;
    this.#http = http;
    this.#discovery = discovery;
    this.#cacheTtlMs = options.cacheTtlMs ?? DEFAULT_INTROSPECTION_CACHE_TTL_MS;
    this.#cache = new LRUCache<string, IntrospectionResponse, string>({
      max: options.cacheSize ?? DEFAULT_INTROSPECTION_CACHE_SIZE,
      ttl: Math.max(1, this.#cacheTtlMs),
      // Concurrent requests with one token share one introspection call.
      fetchMethod: async (_key, _stale, { options: entry, context: token }) => {
        const response = await this.#ask(token);
        if (response.active && typeof response.exp === 'number') {
          entry.ttl = Math.max(1, Math.min(this.#cacheTtlMs, response.exp * 1000 - Date.now()));
        }
        return response;
      },
    });
  }

  async introspect(token: string): Promise<IntrospectionResponse> {
    if (this.#cacheTtlMs <= 0) return this.#ask(token);
    const key = createHash('sha256').update(token).digest('base64url');
    return (await this.#cache.fetch(key, { context: token }))!;
  }

  async #ask(token: string): Promise<IntrospectionResponse> {
    const endpoint = this.#options.endpoint ?? (await this.#discovery.endpoint('introspection_endpoint'));
    const answer = await fetchJson(
      endpoint,
      {
        method: 'POST',
        headers: {
          authorization: basicAuthorization(this.#options.clientId, this.#options.clientSecret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        // RFC 7662 §2.1: the token, with a hint of what kind it is.
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      },
      this.#http,
      'introspection',
    );
    if (!isIntrospectionResponse(answer)) {
      throw upstreamUnavailable(
        'The authorization server answered introspection without an active field.',
        new Error('introspection response lacks a boolean "active"'),
      );
    }
    return answer;
  }
}
