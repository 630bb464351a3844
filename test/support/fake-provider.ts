// A small upstream OAuth 2.0 provider for vault tests, on 127.0.0.1 and a random port: it issues
// codes and tokens, refreshes and revokes them, serves a bearer-protected echo API, and can be
// switched at runtime into the failure modes the vault must survive (rotation, 429, 500, hangs...).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProviderDefinition } from '../../src/vault/types.js';

export type FakeProviderMode =
  /** Refresh answers carry the same refresh token again. */
  | 'normal'
  /** Every refresh issues a new refresh token; the old one then gets invalid_grant. */
  | 'rotate'
  /** Token answers carry no refresh_token. */
  | 'omit-refresh-token'
  /** Token answers carry no expires_in. */
  | 'omit-expires-in'
  /** The token endpoint answers 400 invalid_grant. */
  | 'invalid-grant'
  /** Token, revocation and API endpoints answer 500. */
  | 'server-error'
  /** Token, revocation and API endpoints never answer (until the server closes). */
  | 'hang'
  /** Token, revocation and API endpoints answer 429 with Retry-After: 7. */
  | 'rate-limited'
  /** The authorization endpoint sends the user back with error=access_denied. */
  | 'deny';

export interface FakeProviderOptions {
  clientId?: string;
  clientSecret?: string;
  /** How the client must authenticate at /token and /revoke. Default: basic or post both accepted. */
  authMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  mode?: FakeProviderMode;
  /** Access token lifetime, seconds. Default 3600. */
  accessTokenTtl?: number;
  /** Delay before the token endpoint answers, ms (to hold a refresh in flight). Default 0. */
  delayMs?: number;
  /** Refuse authorization requests without an S256 code_challenge. Default false. */
  requirePkce?: boolean;
}

export interface FakeProviderStats {
  refreshes: number;
  codeExchanges: number;
  revocations: number;
  apiCalls: number;
  /** API calls whose caller hung up before the answer was sent. */
  apiCallsAbandoned: number;
}

export interface EchoedRequest {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface FakeProvider {
  /** Base URL, also the issuer of its discovery document (`http://127.0.0.1:<port>`). */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Requests seen, per kind; every attempt counts, failed ones too. */
  stats: FakeProviderStats;
  setMode(mode: FakeProviderMode): void;
  setDelay(ms: number): void;
  /** A code as /authorize would issue it, without a browser. */
  issueCode(request: { redirectUri: string; codeChallenge?: string; scope?: string }): string;
  /** The last request to /api/*, as echoed. */
  readonly lastApiRequest: EchoedRequest | undefined;
  /** The query of the last request to /authorize. */
  readonly lastAuthorizationRequest: URLSearchParams | undefined;
  /** The form and headers of the last request to /token. */
  readonly lastTokenRequest: { params: URLSearchParams; headers: IncomingMessage['headers'] } | undefined;
  /** Token and hint of the last request to /revoke. */
  readonly lastRevocation: { token: string; hint: string | undefined } | undefined;
  /** A catalog-style definition pointing at this server (kind oauth2, name `fake`). */
  definition(overrides?: Partial<ProviderDefinition>): ProviderDefinition;
  close(): Promise<void>;
}

interface Grant {
  scope: string;
  refreshToken: string | undefined;
  accessToken: string;
  accessExpiresAt: number;
  revoked: boolean;
}

interface IssuedCode {
  redirectUri: string;
  codeChallenge: string | undefined;
  scope: string;
  expiresAt: number;
}

const CODE_TTL_MS = 60_000;

export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const clientId = options.clientId ?? 'fake-client';
  const clientSecret = options.clientSecret ?? 'fake-client-secret';
  let mode: FakeProviderMode = options.mode ?? 'normal';
  let delayMs = options.delayMs ?? 0;
  const accessTokenTtl = options.accessTokenTtl ?? 3600;
  const stats: FakeProviderStats = {
    refreshes: 0,
    codeExchanges: 0,
    revocations: 0,
    apiCalls: 0,
    apiCallsAbandoned: 0,
  };
  const codes = new Map<string, IssuedCode>();
  const byAccessToken = new Map<string, Grant>();
  const byRefreshToken = new Map<string, Grant>();
  let lastApiRequest: EchoedRequest | undefined;
  let lastAuthorizationRequest: URLSearchParams | undefined;
  let lastTokenRequest: FakeProvider['lastTokenRequest'];
  let lastRevocation: FakeProvider['lastRevocation'];

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: String(error) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function issueCode(request: { redirectUri: string; codeChallenge?: string; scope?: string }): string {
    const code = token('code');
    codes.set(code, {
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      scope: request.scope ?? '',
      expiresAt: Date.now() + CODE_TTL_MS,
    });
    return code;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestUrl = new URL(req.url ?? '/', url);
    const body = await readBody(req);
    const path = requestUrl.pathname;
    if (path === '/.well-known/openid-configuration' || path === '/.well-known/oauth-authorization-server') {
      return json(res, 200, discoveryDocument());
    }
    if (path === '/authorize' && req.method === 'GET') return authorize(requestUrl.searchParams, res);
    if (path === '/token' && req.method === 'POST') return tokenEndpoint(req, new URLSearchParams(body), res);
    if (path === '/revoke' && req.method === 'POST') return revoke(req, new URLSearchParams(body), res);
    if (path.startsWith('/api/') || path === '/api') return api(req, requestUrl, body, res);
    json(res, 404, { error: 'not_found' });
  }

  function discoveryDocument() {
    return {
      issuer: url,
      authorization_endpoint: `${url}/authorize`,
      token_endpoint: `${url}/token`,
      revocation_endpoint: `${url}/revoke`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    };
  }

  function authorize(query: URLSearchParams, res: ServerResponse): void {
    lastAuthorizationRequest = query;
    const redirectUri = query.get('redirect_uri');
    if (query.get('client_id') !== clientId || !redirectUri || !URL.canParse(redirectUri)) {
      // RFC 6749 §4.1.2.1: never redirect to an unverified redirect URI.
      return json(res, 400, {
        error: 'invalid_request',
        error_description: 'unknown client or redirect_uri',
      });
    }
    const back = new URL(redirectUri);
    const state = query.get('state');
    if (state !== null) back.searchParams.set('state', state);
    const challenge = query.get('code_challenge') ?? undefined;
    const method = query.get('code_challenge_method');
    if (mode === 'deny') {
      back.searchParams.set('error', 'access_denied');
    } else if ((options.requirePkce && !challenge) || (challenge && method !== 'S256')) {
      back.searchParams.set('error', 'invalid_request');
      back.searchParams.set('error_description', 'S256 code_challenge required');
    } else {
      const scope = query.get('scope') ?? query.get('user_scope') ?? '';
      back.searchParams.set('code', issueCode({ redirectUri, codeChallenge: challenge, scope }));
    }
    res.writeHead(302, { location: back.href }).end();
  }

  /** RFC 6749 §2.3.1; answers false after writing the error. */
  function authenticateClient(req: IncomingMessage, params: URLSearchParams, res: ServerResponse): boolean {
    const header = req.headers.authorization;
    let id: string | null = params.get('client_id');
    let secret: string | null = params.get('client_secret');
    let used: FakeProviderOptions['authMethod'] = secret !== null ? 'client_secret_post' : 'none';
    if (header?.startsWith('Basic ')) {
      const [user, password] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
      id = decodeURIComponent(user ?? '');
      secret = decodeURIComponent(password ?? '');
      used = 'client_secret_basic';
    }
    const wanted = options.authMethod;
    const secretOk = wanted === 'none' ? used === 'none' : used !== 'none' && secret === clientSecret;
    if (id !== clientId || !secretOk || (wanted !== undefined && used !== wanted)) {
      res.setHeader('www-authenticate', 'Basic realm="fake-provider"');
      json(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
      return false;
    }
    return true;
  }

  async function tokenEndpoint(
    req: IncomingMessage,
    params: URLSearchParams,
    res: ServerResponse,
  ): Promise<void> {
    lastTokenRequest = { params, headers: req.headers };
    const grantType = params.get('grant_type');
    if (grantType === 'refresh_token') stats.refreshes += 1;
    if (grantType === 'authorization_code') stats.codeExchanges += 1;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (failByMode(res)) return;
    if (mode === 'invalid-grant') return oauthError(res, 'invalid_grant', 'the grant was revoked');
    if (!authenticateClient(req, params, res)) return;
    if (grantType === 'authorization_code') return exchangeCode(params, res);
    if (grantType === 'refresh_token') return refresh(params, res);
    oauthError(res, 'unsupported_grant_type', `grant_type ${grantType ?? '(none)'} is not supported`);
  }

  function exchangeCode(params: URLSearchParams, res: ServerResponse): void {
    const code = params.get('code') ?? '';
    const issued = codes.get(code);
    codes.delete(code); // RFC 6749 §4.1.2: single use
    if (!issued || issued.expiresAt < Date.now())
      return oauthError(res, 'invalid_grant', 'unknown or expired code');
    if (params.get('redirect_uri') !== issued.redirectUri) {
      return oauthError(res, 'invalid_grant', 'redirect_uri does not match the authorization request');
    }
    if (issued.codeChallenge !== undefined) {
      // RFC 7636 §4.6.
      const verifier = params.get('code_verifier') ?? '';
      const computed = createHash('sha256').update(verifier).digest('base64url');
      if (computed !== issued.codeChallenge)
        return oauthError(res, 'invalid_grant', 'PKCE verification failed');
    }
    const grant: Grant = {
      scope: issued.scope,
      refreshToken: mode === 'omit-refresh-token' ? undefined : token('rt'),
      accessToken: '',
      accessExpiresAt: 0,
      revoked: false,
    };
    if (grant.refreshToken) byRefreshToken.set(grant.refreshToken, grant);
    issueAccessToken(grant);
    json(res, 200, tokenAnswer(grant, true), { 'cache-control': 'no-store' });
  }

  function refresh(params: URLSearchParams, res: ServerResponse): void {
    const grant = byRefreshToken.get(params.get('refresh_token') ?? '');
    if (!grant || grant.revoked || grant.refreshToken !== params.get('refresh_token')) {
      return oauthError(res, 'invalid_grant', 'unknown, rotated or revoked refresh token');
    }
    if (mode === 'rotate') {
      // RFC 9700 §4.14.2: the old refresh token stops working once a new one is issued.
      byRefreshToken.delete(grant.refreshToken);
      grant.refreshToken = token('rt');
      byRefreshToken.set(grant.refreshToken, grant);
    }
    issueAccessToken(grant);
    json(res, 200, tokenAnswer(grant, mode !== 'omit-refresh-token'), { 'cache-control': 'no-store' });
  }

  function issueAccessToken(grant: Grant): void {
    byAccessToken.delete(grant.accessToken);
    grant.accessToken = token('at');
    grant.accessExpiresAt = Date.now() + accessTokenTtl * 1000;
    byAccessToken.set(grant.accessToken, grant);
  }

  function tokenAnswer(grant: Grant, withRefreshToken: boolean): Record<string, unknown> {
    return {
      access_token: grant.accessToken,
      token_type: 'Bearer',
      ...(mode === 'omit-expires-in' ? {} : { expires_in: accessTokenTtl }),
      ...(withRefreshToken && grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
      ...(grant.scope ? { scope: grant.scope } : {}),
    };
  }

  function revoke(req: IncomingMessage, params: URLSearchParams, res: ServerResponse): void {
    stats.revocations += 1;
    const revoked = params.get('token') ?? '';
    lastRevocation = { token: revoked, hint: params.get('token_type_hint') ?? undefined };
    if (failByMode(res)) return;
    if (!authenticateClient(req, params, res)) return;
    const grant = byRefreshToken.get(revoked) ?? byAccessToken.get(revoked);
    // RFC 7009 §2.1: revoking the refresh token ends the grant (its access tokens with it).
    if (grant && grant.refreshToken === revoked) grant.revoked = true;
    if (grant && grant.accessToken === revoked) grant.accessExpiresAt = 0;
    // RFC 7009 §2.2: 200 whether or not the token was valid.
    res.writeHead(200).end();
  }

  function api(req: IncomingMessage, requestUrl: URL, body: string, res: ServerResponse): void {
    stats.apiCalls += 1;
    res.once('close', () => {
      if (!res.writableFinished) stats.apiCallsAbandoned += 1;
    });
    const query: Record<string, string | string[]> = {};
    for (const name of new Set(requestUrl.searchParams.keys())) {
      const values = requestUrl.searchParams.getAll(name);
      query[name] = values.length === 1 ? values[0]! : values;
    }
    lastApiRequest = {
      method: req.method ?? 'GET',
      path: requestUrl.pathname,
      query,
      headers: { ...req.headers },
      body,
    };
    if (failByMode(res)) return;
    const presented = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const grant = presented ? byAccessToken.get(presented) : undefined;
    if (!grant || grant.revoked || grant.accessToken !== presented || grant.accessExpiresAt <= Date.now()) {
      // RFC 6750 §3.1.
      res.setHeader('www-authenticate', 'Bearer realm="fake-provider", error="invalid_token"');
      return json(res, 401, { error: 'invalid_token' });
    }
    json(res, 200, lastApiRequest);
  }

  /** The modes that break every endpoint alike; true when the answer is taken care of. */
  function failByMode(res: ServerResponse): boolean {
    if (mode === 'hang') return true;
    if (mode === 'server-error') {
      res.writeHead(500, { 'content-type': 'text/html' }).end('<h1>Internal Server Error</h1>');
      return true;
    }
    if (mode === 'rate-limited') {
      json(res, 429, { error: 'rate_limited', error_description: 'slow down' }, { 'retry-after': '7' });
      return true;
    }
    return false;
  }

  return {
    url,
    clientId,
    clientSecret,
    stats,
    setMode(next) {
      mode = next;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    issueCode,
    get lastApiRequest() {
      return lastApiRequest;
    },
    get lastAuthorizationRequest() {
      return lastAuthorizationRequest;
    },
    get lastTokenRequest() {
      return lastTokenRequest;
    },
    get lastRevocation() {
      return lastRevocation;
    },
    definition(overrides = {}) {
      return {
        name: 'fake',
        displayName: 'Fake provider',
        kind: 'oauth2',
        authorizationUrl: `${url}/authorize`,
        tokenUrl: `${url}/token`,
        revocationUrl: `${url}/revoke`,
        apiBaseUrl: `${url}/api`,
        scopeSeparator: ' ',
        pkce: true,
        tokenEndpointAuthMethod: options.authMethod ?? 'client_secret_basic',
        refresh: { supported: true, rotates: mode === 'rotate' },
        ...overrides,
      };
    },
    async close() {
      // Also ends requests held by the 'hang' mode.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function token(kind: 'code' | 'at' | 'rt'): string {
  return `fake-${kind}-${randomBytes(18).toString('base64url')}`;
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function oauthError(res: ServerResponse, error: string, description: string): void {
  // RFC 6749 §5.2.
  json(res, 400, { error, error_description: description }, { 'cache-control': 'no-store' });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
