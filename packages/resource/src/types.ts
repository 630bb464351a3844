// The shapes a resource check works with: what comes in (a request), what a token turns out to be
// (a VerifiedToken), what an opaque-token checker answers (RFC 7662), and what the caller gets
// back (a ResourceAuthorization).

/** The result of a successful check, handed to the route (as ctx.state.auth in Koa). */
export interface ResourceAuthorization {
  readonly valid: true;
  /** The end user the token acts for; absent for client_credentials tokens. */
  readonly accountId?: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** The APIs the token is for (RFC 8707); empty for tokens without an audience. */
  readonly audience: readonly string[];
  readonly expiresAt: Date;
  readonly format: 'jwt' | 'opaque';
  /** `DPoP` when the token is bound to a key and a valid proof came with it (RFC 9449). */
  readonly tokenType: 'Bearer' | 'DPoP';
  /** The JWT payload, or the introspection response, as the issuer stated it. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * The parts of an HTTP request a check reads. Node's IncomingMessage fits as it is; so do a
 * WHATWG Request's method, url and headers.
 */
export interface ResourceRequest {
  method?: string | undefined;
  /** Absolute, or a path (then resolved against `publicOrigin` or the Host header). */
  url?: string | undefined;
  headers: Headers | Record<string, string | string[] | undefined>;
  /** A parsed form body, when there is one: only looked at for a stray `access_token`. */
  body?: unknown;
}

export interface AuthenticateOptions {
  /** Scopes this request needs on top of the provider's `requiredScopes`; all must be present. */
  scopes?: readonly string[];
}

/**
 * What an opaque token is, in the words of an RFC 7662 §2.2 introspection response. Checkers
 * answer in this shape whether they ask over HTTP or look in-process.
 */
export interface IntrospectionResponse {
  active: boolean;
  client_id?: string;
  sub?: string;
  scope?: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  iss?: string;
  token_type?: string;
  cnf?: { jkt?: string; 'x5t#S256'?: string; [member: string]: unknown };
  [claim: string]: unknown;
}

/** Turns an opaque access token into what the issuer knows about it. */
export interface OpaqueTokenChecker {
  /** Never throws for an unknown token: answers `{ active: false }`. */
  introspect(token: string): Promise<IntrospectionResponse>;
}

/** A token that passed its format's checks (signature or introspection), before audience, binding and scope. */
export interface VerifiedToken {
  format: 'jwt' | 'opaque';
  clientId: string;
  accountId: string | undefined;
  scopes: string[];
  audience: string[];
  expiresAt: Date;
  /** RFC 9449 §6: the SHA-256 JWK thumbprint the token is bound to. */
  jkt: string | undefined;
  claims: Record<string, unknown>;
}
