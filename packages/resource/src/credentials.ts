// Finds the access token in a request: the Authorization header only (RFC 6750 §2.1, RFC 9449
// §7.1), with every size and syntax check done before anything parses the token.
import { invalidRequest, invalidToken, missingToken, type ChallengeScheme } from './errors.js';
import type { ResourceRequest } from './types.js';

/** Longest access token accepted; Latchkey's JWTs are about 1 KiB, its opaque tokens 43 bytes. */
export const MAX_TOKEN_LENGTH = 8192;

/** RFC 6750 §2.1: `Bearer 1*SP b64token`; RFC 9449 §7.1 uses the same syntax for `DPoP`. */
const AUTHORIZATION = /^([A-Za-z]+) +([A-Za-z0-9\-._~+/]+=*)$/;

export interface Credentials {
  scheme: ChallengeScheme;
  token: string;
}

/** One header's value, from Node's headers object or a WHATWG Headers. */
export function headerValue(headers: ResourceRequest['headers'], name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  // Node joins repeated headers it does not know; a repeated one it keeps as an array is refused.
  if (Array.isArray(value)) return value.length === 1 ? value[0] : value.join(', ');
  return value;
}

function hasQueryToken(url: string | undefined): boolean {
  if (!url?.includes('access_token')) return false;
  const query = url.indexOf('?');
  if (query === -1) return false;
  const end = url.indexOf('#', query);
  return new URLSearchParams(url.slice(query + 1, end === -1 ? undefined : end)).has('access_token');
}

function hasBodyToken(body: unknown): boolean {
  return typeof body === 'object' && body !== null && Object.hasOwn(body, 'access_token');
}

export function extractCredentials(request: ResourceRequest): Credentials {
  const header = headerValue(request.headers, 'authorization');
  // RFC 6750 §2.2 and §2.3 also allow the token in a form body or the query. This server takes
  // only the header (§5.3: "Don't pass bearer tokens in page URLs"), and a request that uses two
  // methods is invalid_request (§3.1).
  const elsewhere = hasQueryToken(request.url) || hasBodyToken(request.body);
  if (header === undefined || header === '') {
    if (elsewhere) {
      throw invalidRequest('Send the access token in the Authorization header, not in the query or body.');
    }
    throw missingToken();
  }
  if (elsewhere) throw invalidRequest('The access token was sent in more than one way.');
  // Bounded before any parsing: a huge header costs one comparison.
  if (header.length > MAX_TOKEN_LENGTH + 16) throw invalidToken('The access token is too long.');

  const match = AUTHORIZATION.exec(header);
  const scheme = (match?.[1] ?? header.split(/[ \t]/, 1)[0]!).toLowerCase();
  // RFC 9110 §11.1: auth-scheme names are case-insensitive.
  if (scheme !== 'bearer' && scheme !== 'dpop') {
    // RFC 6750 §3.1: an unsupported authentication method gets a challenge without an error code.
    throw missingToken('Use the Bearer or DPoP authorization scheme.');
  }
  const challenge: ChallengeScheme = scheme === 'dpop' ? 'DPoP' : 'Bearer';
  if (!match) {
    throw invalidRequest(`The Authorization header is malformed: expected ${challenge} and one token.`, {
      scheme: challenge,
    });
  }
  const token = match[2]!;
  if (token.length > MAX_TOKEN_LENGTH)
    throw invalidToken('The access token is too long.', { scheme: challenge });
  return { scheme: challenge, token };
}
