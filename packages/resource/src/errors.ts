// The one error type of resource requests, and how it becomes an HTTP answer: RFC 6750 §3 for
// bearer tokens, RFC 9449 §7.1 for DPoP. Every failure a request can cause is a ResourceError, so
// that no token, however odd, ends in a 500.

/** OAuth error codes a resource server answers with (RFC 6750 §3.1, RFC 9449 §7.1). */
export type ResourceErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'temporarily_unavailable';

/** The authentication scheme a challenge is issued for. */
export type ChallengeScheme = 'Bearer' | 'DPoP';

export interface ResourceErrorOptions {
  /** Send the challenge for this scheme (RFC 9449 §7.1) rather than the request's own. */
  scheme?: ChallengeScheme;
  /** Scopes the resource needs: the `scope` attribute of an insufficient_scope challenge. */
  scope?: string;
  /** No error code in the challenge: the request carried no credentials at all (RFC 6750 §3.1). */
  anonymous?: boolean;
  cause?: unknown;
}

/**
 * A failed resource request. `status`, `expose`, `error` and `error_description` are the fields
 * Koa's ctx.onerror (and error handlers built on it) read; the description is public, so it never
 * holds token material.
 */
export class ResourceError extends Error {
  readonly expose = true;
  /** Set once: by the thrower when the scheme is fixed, else by the checker from the request. */
  scheme: ChallengeScheme | undefined;
  readonly scope: string | undefined;
  readonly anonymous: boolean;

  constructor(
    readonly status: 400 | 401 | 403 | 503,
    readonly error: ResourceErrorCode,
    readonly error_description: string,
    options: ResourceErrorOptions = {},
  ) {
    super(error_description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ResourceError';
    this.scheme = options.scheme;
    this.scope = options.scope;
    this.anonymous = options.anonymous ?? false;
  }
}

/** RFC 6750 §3.1: no credentials, or credentials of a scheme this server does not take. */
export function missingToken(description = 'An access token is required.'): ResourceError {
  return new ResourceError(401, 'invalid_request', description, { anonymous: true });
}

/** RFC 6750 §3.1 invalid_request: the request itself is malformed. */
export function invalidRequest(description: string, options?: ResourceErrorOptions): ResourceError {
  return new ResourceError(400, 'invalid_request', description, options);
}

/** RFC 6750 §3.1 invalid_token: expired, revoked, malformed or otherwise unusable here. */
export function invalidToken(description: string, options?: ResourceErrorOptions): ResourceError {
  return new ResourceError(401, 'invalid_token', description, options);
}

/** RFC 6750 §3.1 insufficient_scope, naming every scope the resource needs. */
export function insufficientScope(scope: string, description?: string): ResourceError {
  return new ResourceError(
    403,
    'insufficient_scope',
    description ?? `The access token lacks the scope this resource requires: ${scope}`,
    { scope },
  );
}

/** RFC 9449 §7.1 invalid_dpop_proof: the DPoP proof failed one of the checks of §4.3. */
export function invalidDpopProof(description: string, cause?: unknown): ResourceError {
  return new ResourceError(401, 'invalid_dpop_proof', description, { scheme: 'DPoP', cause });
}

/** The authorization server (discovery, keys, introspection) could not be reached or understood. */
export function upstreamUnavailable(description: string, cause?: unknown): ResourceError {
  return new ResourceError(503, 'temporarily_unavailable', description, { cause });
}

export interface ChallengeOptions {
  realm: string;
  /** DPoP signing algorithms this server accepts, advertised in DPoP challenges (RFC 9449 §7.1). */
  dpopAlgorithms: readonly string[];
}

/**
 * RFC 6750 §3: attribute values are quoted-strings limited to %x20-21 / %x23-5B / %x5D-7E,
 * so anything else (quotes, backslashes, control and non-ASCII characters) is dropped.
 */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`;
}

/** The WWW-Authenticate value for an error, or undefined when none belongs (503). */
export function challengeFor(error: ResourceError, options: ChallengeOptions): string | undefined {
  if (error.status === 503) return undefined;
  const scheme = error.scheme ?? 'Bearer';
  const attributes = [`realm=${quoted(options.realm)}`];
  if (!error.anonymous) {
    attributes.push(`error=${quoted(error.error)}`, `error_description=${quoted(error.error_description)}`);
    if (error.scope) attributes.push(`scope=${quoted(error.scope)}`);
  }
  if (scheme === 'DPoP') attributes.push(`algs=${quoted(options.dpopAlgorithms.join(' '))}`);
  return `${scheme} ${attributes.join(', ')}`;
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
}

/**
 * The whole HTTP answer for an error: status, headers and a JSON body. Anything that is not a
 * ResourceError is a bug or an outage, answered as a 500 without detail.
 */
export function errorResponse(error: unknown, options: ChallengeOptions): ErrorResponse {
  const headers: Record<string, string> = {
    'cache-control': 'no-store',
    'content-type': 'application/json; charset=utf-8',
  };
  if (!(error instanceof ResourceError)) {
    return {
      status: 500,
      headers,
      body: { error: 'server_error', error_description: 'An unexpected error occurred.' },
    };
  }
  const challenge = challengeFor(error, options);
  if (challenge) headers['www-authenticate'] = challenge;
  if (error.status === 503) headers['retry-after'] = '5';
  return {
    status: error.status,
    headers,
    body: { error: error.error, error_description: error.error_description },
  };
}
