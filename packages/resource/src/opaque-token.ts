// Opaque access tokens: whatever checker looked the token up answers in RFC 7662 §2.2 terms, and
// this file decides, the same way for every checker, whether that answer is a usable access token.
import { invalidToken } from './errors.js';
import type { IntrospectionResponse, VerifiedToken } from './types.js';

function audienceOf(aud: unknown): string[] | undefined {
  if (aud === undefined) return [];
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((entry) => typeof entry === 'string')) return aud as string[];
  return undefined;
}

export function verifiedOpaqueToken(
  response: IntrospectionResponse,
  expected: { issuer: string; clockTolerance: number; now?: number },
): VerifiedToken {
  // RFC 7662 §2.2: anything but `active: true` means the token is not to be used.
  if (response.active !== true)
    throw invalidToken('The access token is not active (expired, revoked or unknown).');
  // RFC 7662 §2.2 token_type; an issuer that omits it may be describing a refresh token
  // (oidc-provider does exactly that), which is no access token.
  const tokenType = typeof response.token_type === 'string' ? response.token_type.toLowerCase() : undefined;
  if (tokenType !== 'bearer' && tokenType !== 'dpop') throw invalidToken('The token is not an access token.');
  if (response.iss !== undefined && response.iss !== expected.issuer) {
    throw invalidToken('The access token was not issued by this issuer.');
  }
  if (typeof response.client_id !== 'string') throw invalidToken('The access token names no client.');
  if (response.sub !== undefined && typeof response.sub !== 'string')
    throw invalidToken('The access token has an invalid sub.');
  if (response.scope !== undefined && typeof response.scope !== 'string') {
    throw invalidToken('The access token has an invalid scope.');
  }
  const audience = audienceOf(response.aud);
  if (!audience) throw invalidToken('The access token has an invalid audience.');
  // Every token this checker accepts expires: a cached answer must never outlive the token.
  const now = expected.now ?? Date.now() / 1000;
  if (typeof response.exp !== 'number' || !Number.isFinite(response.exp)) {
    throw invalidToken('The access token has no expiry.');
  }
  if (response.exp + expected.clockTolerance <= now) throw invalidToken('The access token has expired.');
  const cnf = response.cnf;
  if (
    cnf !== undefined &&
    (typeof cnf !== 'object' || cnf === null || (cnf.jkt !== undefined && typeof cnf.jkt !== 'string'))
  ) {
    throw invalidToken('The access token has an invalid cnf.');
  }
  // RFC 8705 §3: a certificate-bound token needs mutual TLS, which this checker cannot see.
  if (cnf?.['x5t#S256'] !== undefined) {
    throw invalidToken(
      'The access token is bound to a client certificate, which this server does not check.',
    );
  }
  return {
    format: 'opaque',
    clientId: response.client_id,
    // RFC 7662 §2.2: sub is the resource owner. Without one, an issuer leaves it out (Latchkey)
    // or, as RFC 9068 §2.2 suggests for JWTs, names the client there.
    accountId: response.sub === response.client_id ? undefined : response.sub,
    scopes: (response.scope ?? '').split(' ').filter(Boolean),
    audience,
    expiresAt: new Date(response.exp * 1000),
    jkt: cnf?.jkt,
    claims: { ...response },
  };
}
