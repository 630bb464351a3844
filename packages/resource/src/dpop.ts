// DPoP proofs at a resource server (RFC 9449 §4.3 and §7.1): the proof is a JWT signed by the
// key the access token is bound to, made for this one request, and never seen before.
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, errors, jwtVerify, type JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import { invalidDpopProof, invalidToken } from './errors.js';

/** RFC 9449 §4.3 check 5: asymmetric algorithms only. */
export const DEFAULT_DPOP_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const;

export interface DpopOptions {
  /** Proof signing algorithms accepted; default ES256, ES384, EdDSA, Ed25519, PS256, RS256. */
  algorithms?: readonly string[];
  /** How old (seconds, by its iat) a proof may be; default 60. */
  maxAgeSeconds?: number;
  /** Most proof ids remembered for replay detection; default 100,000 (the in-memory store only). */
  replayCacheSize?: number;
  /**
   * Where the ids of accepted proofs are remembered (RFC 9449 §11.1); default in this process's
   * memory. An API that runs several processes or instances passes one store they all share, so
   * that a proof replayed to another of them is refused too.
   */
  replayStore?: DpopReplayStore;
}

/** Remembers keys until they expire. */
export interface DpopReplayStore {
  /**
   * Records `key` until `expiresAt` (epoch ms). True when it was not recorded already; atomic, so
   * that of concurrent calls with one key exactly one gets true.
   */
  insertIfAbsent(key: string, expiresAt: number): Promise<boolean>;
}

/** The default replay store: the most recent `max` keys, in this process's memory. */
export function memoryReplayStore(max = 100_000): DpopReplayStore {
  const seen = new LRUCache<string, true>({ max });
  return {
    async insertIfAbsent(key, expiresAt) {
      if (seen.has(key)) return false;
      seen.set(key, true, { ttl: Math.max(1, expiresAt - Date.now()) });
      return true;
    },
  };
}

export interface DpopRequest {
  proof: string | undefined;
  method: string;
  /** The request's absolute URL; query and fragment are ignored. */
  url: () => string;
  accessToken: string;
  /** The thumbprint the access token is bound to. */
  jkt: string;
}

const MAX_PROOF_LENGTH = 8192;

/** RFC 9449 §4.3 check 9: htu is compared without query and fragment. */
function withoutQuery(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    parsed.search = '';
    parsed.hash = '';
    return parsed.href;
  } catch {
    return undefined;
  }
}

function describeProofError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'The DPoP proof is too old.';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'typ') return 'The DPoP proof must have typ dpop+jwt.';
    if (error.claim === 'iat') return 'The DPoP proof iat is not within the accepted window.';
    return `The DPoP proof has a missing or invalid ${error.claim} claim.`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'The DPoP proof uses an algorithm this server does not accept.';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'The DPoP proof signature is invalid.';
  return 'The DPoP proof is malformed.';
}

export class DpopVerifier {
  readonly algorithms: readonly string[];
  readonly #maxAge: number;
  readonly #clockTolerance: number;
  /** RFC 9449 §11.1: ids of accepted proofs, kept for as long as such a proof could be accepted. */
  readonly #seen: DpopReplayStore;
  /** How long (ms): a proof dated up to the tolerance ahead stays acceptable maxAge plus the tolerance after. */
  readonly #rememberMs: number;

  constructor(options: DpopOptions, clockTolerance: number) {
    this.algorithms = options.algorithms ?? DEFAULT_DPOP_ALGORITHMS;
    this.#maxAge = options.maxAgeSeconds ?? 60;
    this.#clockTolerance = clockTolerance;
    this.#seen = options.replayStore ?? memoryReplayStore(options.replayCacheSize);
    this.#rememberMs = (this.#maxAge + 2 * clockTolerance) * 1000;
  }

  async verify(request: DpopRequest): Promise<void> {
    const { proof } = request;
    // §4.3 checks 1 and 2: exactly one header holding one well-formed JWT. Repeated headers
    // arrive joined with commas, which a JWT never contains.
    if (proof === undefined || proof === '') throw invalidDpopProof('The request has no DPoP proof.');
    if (proof.length > MAX_PROOF_LENGTH) throw invalidDpopProof('The DPoP proof is too long.');
    if (proof.includes(',')) throw invalidDpopProof('The request has more than one DPoP proof.');

    let payload: Record<string, unknown>;
    let jwk: JWK;
    try {
      // §4.3 checks 3 to 7 and 11: typ, an asymmetric allowed alg, a public key in the jwk header
      // that verifies the signature, the required claims, and a recent iat.
      const verified = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [...this.algorithms],
        requiredClaims: ['jti', 'htm', 'htu', 'iat'],
        maxTokenAge: this.#maxAge,
        clockTolerance: this.#clockTolerance,
      });
      payload = verified.payload;
      jwk = verified.protectedHeader.jwk!;
    } catch (error) {
      throw invalidDpopProof(describeProofError(error), error);
    }

    const { jti, htm, htu, ath } = payload;
    if (typeof jti !== 'string' || jti.length > 256)
      throw invalidDpopProof('The DPoP proof has an invalid jti.');
    // §4.3 check 8: the method, exactly (RFC 9110 §9.1: methods are case-sensitive).
    if (htm !== request.method) throw invalidDpopProof('The DPoP proof was made for another HTTP method.');
    // §4.3 check 9.
    const expectedUrl = withoutQuery(request.url());
    if (typeof htu !== 'string' || expectedUrl === undefined || withoutQuery(htu) !== expectedUrl) {
      throw invalidDpopProof('The DPoP proof was made for another URL.');
    }
    // §4.3 check 12 and §4.2: ath is the base64url SHA-256 of the access token.
    const tokenHash = createHash('sha256').update(request.accessToken).digest('base64url');
    if (ath !== tokenHash) throw invalidDpopProof('The DPoP proof was made for another access token.');
    // §4.3 check 12 and §6.1: the proof key is the one the token is bound to.
    const thumbprint = await calculateJwkThumbprint(jwk, 'sha256').catch((error: unknown) => {
      throw invalidDpopProof('The DPoP proof key is malformed.', error);
    });
    if (thumbprint !== request.jkt) {
      throw invalidToken('The access token is bound to another key than the DPoP proof.', { scheme: 'DPoP' });
    }
    // §11.1: a proof is used once. Recorded only now, so a rejected proof cannot block a good one.
    // The key is a hash: fixed length, whatever the jti, for whichever store keeps it.
    const replayKey = createHash('sha256').update(`${thumbprint}:${jti}`).digest('base64url');
    if (!(await this.#seen.insertIfAbsent(replayKey, Date.now() + this.#rememberMs))) {
      throw invalidDpopProof('The DPoP proof has been used before.');
    }
  }
}
