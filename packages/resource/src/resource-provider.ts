// ResourceProvider: checks the access token of a request to an API and produces a
// ResourceAuthorization, or throws a ResourceError that says, in RFC 6750 / RFC 9449 terms, why.
// The pipeline: find the token → verify it (JWT locally, opaque through a checker) → audience →
// sender constraint (DPoP) → scopes.
import { extractCredentials, headerValue, type Credentials } from './credentials.js';
import { IssuerDiscovery, type FetchFunction, type HttpOptions } from './discovery.js';
import { DpopVerifier, type DpopOptions } from './dpop.js';
import {
  errorResponse,
  insufficientScope,
  invalidToken,
  ResourceError,
  type ErrorResponse,
} from './errors.js';
import { IntrospectionChecker, type IntrospectionOptions } from './introspection.js';
import { DEFAULT_JWT_ALGORITHMS, JwtAccessTokenVerifier } from './jwt-access-token.js';
import { verifiedOpaqueToken } from './opaque-token.js';
import type {
  AuthenticateOptions,
  OpaqueTokenChecker,
  ResourceAuthorization,
  ResourceRequest,
  VerifiedToken,
} from './types.js';

export interface ResourceProviderOptions {
  /** The issuer, exactly as it appears in its tokens' `iss` and its discovery document. */
  issuer: string;
  /**
   * This API's identifier(s) (RFC 8707 resource indicators): a token must name one in `aud`.
   * Leave it unset only if every token of the issuer may be used here.
   */
  audience?: string | readonly string[];
  /**
   * Also accept tokens without any audience (oidc-provider issues them, opaque, when the client
   * asked for no resource: they are meant for the issuer's own user-info APIs). Default false.
   */
  acceptTokensWithoutAudience?: boolean;
  /** Scopes every request needs. */
  requiredScopes?: readonly string[];
  /** Seconds of clock skew allowed when checking exp, nbf and iat; default 5. */
  clockTolerance?: number;
  /** JWT signing algorithms accepted; default RS256 and ES256 (never `none` nor HMAC). */
  algorithms?: readonly string[];
  /** The issuer's JWKS URL; found by discovery when absent. */
  jwksUri?: string;
  /** Milliseconds after a key set fetch before an unknown `kid` may fetch it again; default 30 s. */
  cooldownDuration?: number;
  /** Milliseconds a fetched key set is trusted before it is fetched again; default 10 min. */
  cacheMaxAge?: number;
  /** Check opaque tokens through the issuer's RFC 7662 introspection endpoint. */
  introspection?: IntrospectionOptions;
  /** Or with another checker (Latchkey itself looks its own tokens up in-process). */
  opaqueTokens?: OpaqueTokenChecker;
  dpop?: DpopOptions;
  /**
   * This API's external origin (`https://api.example.com`), used to rebuild the URL a DPoP proof
   * must name (RFC 9449 §4.3). Set it in production: without it the Host header is trusted.
   */
  publicOrigin?: string;
  /** The realm of WWW-Authenticate challenges (RFC 6750 §3); default "latchkey". */
  realm?: string;
  /** fetch for discovery, keys and introspection; default the global fetch (undici). */
  fetch?: FetchFunction;
  /** Deadline for each call to the issuer, in ms; default 5 s. */
  timeoutMs?: number;
}

function assertUrl(value: unknown, name: string): void {
  if (typeof value !== 'string' || !URL.canParse(value))
    throw new TypeError(`${name} must be an absolute URL`);
}

function assertDuration(value: unknown, name: string): void {
  if (value !== undefined && (typeof value !== 'number' || !(value >= 0) || value === Infinity)) {
    throw new TypeError(`${name} must be a non-negative number`);
  }
}

function assertStrings(value: unknown, name: string): void {
  if (
    value !== undefined &&
    (!Array.isArray(value) || value.some((entry) => typeof entry !== 'string' || !entry))
  ) {
    throw new TypeError(`${name} must be an array of non-empty strings`);
  }
}

/** A developer's mistake in the options is a TypeError at start-up, not a failure per request. */
function validate(options: ResourceProviderOptions): void {
  assertUrl(options.issuer, 'issuer');
  const audience = typeof options.audience === 'string' ? [options.audience] : options.audience;
  assertStrings(audience, 'audience');
  assertStrings(options.requiredScopes, 'requiredScopes');
  assertStrings(options.algorithms, 'algorithms');
  if (options.algorithms?.some((alg) => alg === 'none' || alg.startsWith('HS'))) {
    throw new TypeError('algorithms must be asymmetric (RFC 9068 §4): not none, not HS*');
  }
  if (options.jwksUri !== undefined) assertUrl(options.jwksUri, 'jwksUri');
  if (options.publicOrigin !== undefined) assertUrl(options.publicOrigin, 'publicOrigin');
  assertDuration(options.clockTolerance, 'clockTolerance');
  assertDuration(options.cooldownDuration, 'cooldownDuration');
  assertDuration(options.timeoutMs, 'timeoutMs');
  if (options.introspection) {
    const { clientId, clientSecret, cacheTtlMs, endpoint } = options.introspection;
    if (typeof clientId !== 'string' || !clientId) throw new TypeError('introspection.clientId is required');
    if (typeof clientSecret !== 'string' || !clientSecret)
      throw new TypeError('introspection.clientSecret is required');
    assertDuration(cacheTtlMs, 'introspection.cacheTtlMs');
    if (endpoint !== undefined) assertUrl(endpoint, 'introspection.endpoint');
  }
  if (options.introspection && options.opaqueTokens) {
    throw new TypeError('give either introspection or opaqueTokens, not both');
  }
}

export class ResourceProvider {
  readonly issuer: string;
  readonly realm: string;
  readonly #audience: readonly string[] | undefined;
  readonly #acceptTokensWithoutAudience: boolean;
  readonly #requiredScopes: readonly string[];
  readonly #clockTolerance: number;
  readonly #publicOrigin: string | undefined;
  readonly #jwt: JwtAccessTokenVerifier;
  readonly #opaque: OpaqueTokenChecker | undefined;
  readonly #dpop: DpopVerifier;

  constructor(options: ResourceProviderOptions) {
    validate(options);
    this.issuer = options.issuer;
    this.realm = options.realm ?? 'latchkey';
    this.#audience = typeof options.audience === 'string' ? [options.audience] : options.audience;
    this.#acceptTokensWithoutAudience = options.acceptTokensWithoutAudience ?? false;
    this.#requiredScopes = options.requiredScopes ?? [];
    this.#clockTolerance = options.clockTolerance ?? 5;
    this.#publicOrigin =
      options.publicOrigin === undefined ? undefined : new URL(options.publicOrigin).origin;
    const http: HttpOptions = {
      fetch: options.fetch ?? globalThis.fetch,
      timeoutMs: options.timeoutMs ?? 5000,
    };
    const discovery = new IssuerDiscovery(options.issuer, http);
    this.#jwt = new JwtAccessTokenVerifier({
      issuer: options.issuer,
      algorithms: options.algorithms ?? DEFAULT_JWT_ALGORITHMS,
      clockTolerance: this.#clockTolerance,
      jwksUri: options.jwksUri,
      cooldownDuration: options.cooldownDuration ?? 30_000,
      cacheMaxAge: options.cacheMaxAge ?? 600_000,
      timeoutMs: http.timeoutMs,
      fetch: http.fetch,
      discovery,
    });
    this.#opaque =
      options.opaqueTokens ??
      (options.introspection ? new IntrospectionChecker(options.introspection, http, discovery) : undefined);
    this.#dpop = new DpopVerifier(options.dpop ?? {}, this.#clockTolerance);
  }

  /** Checks the request's access token; throws a ResourceError when it may not proceed. */
  async authenticate(
    request: ResourceRequest,
    options: AuthenticateOptions = {},
  ): Promise<ResourceAuthorization> {
    const credentials = extractCredentials(request);
    try {
      const token = await this.#verifyToken(credentials.token);
      this.#checkAudience(token);
      const tokenType = await this.#checkSenderConstraint(token, credentials, request);
      this.#checkScopes(token, options.scopes ?? []);
      return {
        valid: true,
        ...(token.accountId === undefined ? {} : { accountId: token.accountId }),
        clientId: token.clientId,
        scopes: token.scopes,
        audience: token.audience,
        expiresAt: token.expiresAt,
        format: token.format,
        tokenType,
        claims: token.claims,
      };
    } catch (error) {
      // RFC 9449 §7.1: answer in the scheme the client used unless a check chose otherwise.
      if (error instanceof ResourceError) error.scheme ??= credentials.scheme;
      throw error;
    }
  }

  /** Status, headers (with the WWW-Authenticate challenge) and JSON body for a failed check. */
  errorResponse(error: unknown, scheme?: 'Bearer' | 'DPoP'): ErrorResponse {
    if (error instanceof ResourceError && scheme) error.scheme ??= scheme;
    return errorResponse(error, { realm: this.realm, dpopAlgorithms: this.#dpop.algorithms });
  }

  async #verifyToken(token: string): Promise<VerifiedToken> {
    const dots = token.split('.', 6).length - 1;
    // RFC 7515 §7.1: a JWS in compact form has exactly three parts; a JWE (five) is not accepted.
    if (dots === 2) return this.#jwt.verify(token);
    if (dots !== 0) throw invalidToken('The access token is malformed.');
    if (!this.#opaque) throw invalidToken('This API accepts only JWT access tokens.');
    const response = await this.#opaque.introspect(token);
    return verifiedOpaqueToken(response, { issuer: this.issuer, clockTolerance: this.#clockTolerance });
  }

  /** RFC 9068 §4 and RFC 8707: a token for another API must not be usable here. */
  #checkAudience(token: VerifiedToken): void {
    const expected = this.#audience;
    if (!expected) return;
    if (token.audience.length === 0) {
      if (this.#acceptTokensWithoutAudience) return;
      throw invalidToken('The access token has no audience; ask for one with the resource parameter.');
    }
    if (!token.audience.some((audience) => expected.includes(audience))) {
      throw invalidToken('The access token is meant for another API (audience).');
    }
  }

  /** RFC 9449 §7: a DPoP-bound token needs the DPoP scheme and a proof; a bearer token needs neither. */
  async #checkSenderConstraint(
    token: VerifiedToken,
    credentials: Credentials,
    request: ResourceRequest,
  ): Promise<'Bearer' | 'DPoP'> {
    if (!token.jkt) {
      if (credentials.scheme === 'DPoP') {
        throw invalidToken('The access token is not DPoP-bound: send it with the Bearer scheme.', {
          scheme: 'Bearer',
        });
      }
      return 'Bearer';
    }
    // §7.2: a bound token presented as a bearer token is refused, whatever else came with it.
    if (credentials.scheme !== 'DPoP') {
      throw invalidToken('The access token is DPoP-bound: send it with the DPoP scheme and a proof.', {
        scheme: 'DPoP',
      });
    }
    await this.#dpop.verify({
      proof: headerValue(request.headers, 'dpop'),
      method: request.method ?? 'GET',
      url: () => this.#requestUrl(request),
      accessToken: credentials.token,
      jkt: token.jkt,
    });
    return 'DPoP';
  }

  #checkScopes(token: VerifiedToken, scopes: readonly string[]): void {
    const required = [...new Set([...this.#requiredScopes, ...scopes])];
    if (required.some((scope) => !token.scopes.includes(scope))) throw insufficientScope(required.join(' '));
  }

  /**
   * The request's absolute URL for the DPoP htu check. The path is appended to the origin as a
   * string, so a request target such as `//elsewhere/x` cannot change the host compared.
   */
  #requestUrl(request: ResourceRequest): string {
    const raw = request.url ?? '/';
    let origin: string | undefined;
    let path = raw;
    if (URL.canParse(raw)) {
      const url = new URL(raw);
      origin = url.origin;
      path = url.pathname + url.search;
    }
    origin = this.#publicOrigin ?? origin ?? `http://${headerValue(request.headers, 'host') ?? 'localhost'}`;
    return origin + (path.startsWith('/') ? path : `/${path}`);
  }
}

export function createResourceProvider(options: ResourceProviderOptions): ResourceProvider {
  return new ResourceProvider(options);
}
