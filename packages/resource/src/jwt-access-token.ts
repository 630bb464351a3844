// Local verification of RFC 9068 JWT access tokens: the issuer's published keys (fetched, cached,
// refetched on an unknown kid no more than once per cooldown), a fixed algorithm list, and the
// claims §4 requires a resource server to check.
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { IssuerDiscovery, FetchFunction } from './discovery.js';
import { invalidToken, upstreamUnavailable, ResourceError } from './errors.js';
import type { VerifiedToken } from './types.js';

/** RFC 9068 §4: asymmetric algorithms only; `none` and HMAC never verify an access token here. */
export const DEFAULT_JWT_ALGORITHMS = ['RS256', 'ES256'] as const;

/** RFC 9068 §2.2: claims every JWT access token carries. */
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];

export interface JwtVerifierOptions {
  issuer: string;
  algorithms: readonly string[];
  /** Seconds of clock skew allowed on exp, nbf and iat. */
  clockTolerance: number;
  /** Where the keys are; found by discovery when absent. */
  jwksUri?: string;
  /** Milliseconds after a key set fetch before an unknown kid may trigger another (jose's cooldown). */
  cooldownDuration: number;
  /** Milliseconds a fetched key set is used before it is fetched again. */
  cacheMaxAge: number;
  timeoutMs: number;
  fetch: FetchFunction;
  discovery: IssuerDiscovery;
}

/**
 * Verified tokens are remembered (by hash) for up to a minute and never past their expiry: a JWT
 * that verified once verifies again, and the signature check is most of a request's cost.
 */
const VERIFIED_CACHE_MS = 60_000;

/** The key set failed to load: an outage of the issuer, not a fault of the token. */
class KeySetUnavailable extends Error {
  constructor(cause: unknown) {
    super('the issuer key set could not be loaded', { cause });
    this.name = 'KeySetUnavailable';
  }
}

/** jose's errors that mean "this token is not good", mapped to a public description. */
function describeJoseError(error: errors.JOSEError): string {
  if (error instanceof errors.JWTExpired) return 'The access token has expired.';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'typ':
        return 'The token is not an access token (typ must be at+jwt).';
      case 'iss':
        return 'The access token was not issued by this issuer.';
      case 'nbf':
        return 'The access token is not valid yet.';
      case 'iat':
        return 'The access token was issued in the future.';
      default:
        return `The access token has a missing or invalid ${error.claim} claim.`;
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'The access token is signed with an algorithm this server does not accept.';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'The access token signature is invalid.';
  if (error instanceof errors.JWKSNoMatchingKey)
    return 'The access token is signed with a key the issuer does not publish.';
  return 'The access token is malformed.';
}

function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((entry) => typeof entry === 'string')) return value as string[];
  return undefined;
}

/** The RFC 9068 claims, type-checked: a well-signed token with odd claims is still refused. */
export function verifiedJwt(payload: JWTPayload): VerifiedToken {
  const audience = stringList(payload.aud);
  if (!audience) throw invalidToken('The access token has an invalid aud claim.');
  if (typeof payload.client_id !== 'string' || typeof payload.sub !== 'string') {
    throw invalidToken('The access token has an invalid sub or client_id claim.');
  }
  if (payload.scope !== undefined && typeof payload.scope !== 'string') {
    throw invalidToken('The access token has an invalid scope claim.');
  }
  const cnf = payload.cnf as Record<string, unknown> | undefined;
  if (cnf !== undefined && (typeof cnf !== 'object' || cnf === null)) {
    throw invalidToken('The access token has an invalid cnf claim.');
  }
  if (cnf && cnf.jkt !== undefined && typeof cnf.jkt !== 'string') {
    throw invalidToken('The access token has an invalid cnf claim.');
  }
  // RFC 8705 §3: a certificate-bound token needs mutual TLS, which this checker cannot see.
  if (cnf && cnf['x5t#S256'] !== undefined) {
    throw invalidToken(
      'The access token is bound to a client certificate, which this server does not check.',
    );
  }
  return {
    format: 'jwt',
    clientId: payload.client_id,
    // RFC 9068 §2.2: without a resource owner (client_credentials), sub names the client itself.
    accountId: payload.sub === payload.client_id ? undefined : payload.sub,
    scopes: (payload.scope ?? '').split(' ').filter(Boolean),
    audience,
    expiresAt: new Date(payload.exp! * 1000),
    jkt: cnf?.jkt as string | undefined,
    claims: { ...payload },
  };
}

export class JwtAccessTokenVerifier {
  readonly #options: JwtVerifierOptions;
  #remote: Promise<JWTVerifyGetKey> | undefined;
  readonly #verified = new LRUCache<string, VerifiedToken>({ max: 10_000 });

  constructor(options: JwtVerifierOptions) {
    this.#options = options;
  }

  /** Loads the key set on first use (after discovery, unless jwksUri is given). */
  readonly #keys: JWTVerifyGetKey = async (...args) => {
    this.#remote ??= this.#createRemoteKeySet().catch((error: unknown) => {
      this.#remote = undefined;
      throw error;
    });
    const keys = await this.#remote;
    try {
      return await keys(...args);
    } catch (error) {
      // Which key to use is the token's business; whether the key set loads is the issuer's.
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys ||
        error instanceof errors.JOSENotSupported
      ) {
        throw error;
      }
      throw new KeySetUnavailable(error);
    }
  };

  async #createRemoteKeySet(): Promise<JWTVerifyGetKey> {
    const { jwksUri, discovery, cooldownDuration, cacheMaxAge, timeoutMs, fetch } = this.#options;
    const uri = jwksUri ?? (await discovery.endpoint('jwks_uri'));
    return createRemoteJWKSet(new URL(uri), {
      cooldownDuration,
      cacheMaxAge,
      timeoutDuration: timeoutMs,
      [customFetch]: fetch,
    });
  }

  async verify(token: string): Promise<VerifiedToken> {
    const cacheKey = createHash('sha256').update(token).digest('base64url');
    const remembered = this.#verified.get(cacheKey);
    if (remembered) return remembered;
    const verified = await this.#verifyNow(token);
    const lifetime = Math.min(VERIFIED_CACHE_MS, verified.expiresAt.getTime() - Date.now());
    if (lifetime > 0) this.#verified.set(cacheKey, verified, { ttl: lifetime });
    return verified;
  }

  async #verifyNow(token: string): Promise<VerifiedToken> {
    const { issuer, algorithms, clockTolerance } = this.#options;
    // A token from another issuer is refused before its kid can make us refetch our key set.
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw invalidToken('The access token is malformed.');
    }
    if (unverified.iss !== issuer) throw invalidToken('The access token was not issued by this issuer.');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keys, {
        issuer,
        typ: 'at+jwt',
        algorithms: [...algorithms],
        clockTolerance,
        requiredClaims: REQUIRED_CLAIMS,
      }));
    } catch (error) {
      if (error instanceof ResourceError) throw error;
      if (error instanceof KeySetUnavailable) {
        throw upstreamUnavailable(
          "The authorization server's signing keys could not be loaded.",
          error.cause,
        );
      }
      if (error instanceof errors.JOSEError) throw invalidToken(describeJoseError(error), { cause: error });
      // Key set failures are wrapped above, so anything else is a bug of ours: a 500.
      throw error;
    }
    return verifiedJwt(payload);
  }
}
