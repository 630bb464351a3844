// The upstream provider of the vault scenario (6): an OpenID Connect provider as small as the vault
// needs (discovery, an /authorize that sends the browser straight back with a code, a /token that
// exchanges it with PKCE), and a bearer-protected API, `GET /api/hello`, that answers a small JSON
// document after checking the Authorization header; `GET /api/slow` answers the same after
// UPSTREAM_SLOW_MS, and `GET /api/varied` after anything from half to one and a half times that
// (UPSTREAM_SLOW_MS on average), as APIs across a network do. Plain node:http in a process of its
// own, so that "proxied through Latchkey" against "called directly" measures the proxy, not the
// upstream.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from './loopback.js';

export const UPSTREAM_CLIENT = { clientId: 'latchkey-vault-bench', clientSecret: 'bench-upstream-secret' };
export const UPSTREAM_API_PATH = '/api/hello';
export const UPSTREAM_SLOW_API_PATH = '/api/slow';
export const UPSTREAM_VARIED_API_PATH = '/api/varied';
/** How long /api/slow takes to answer (and /api/varied on average): a remote API's time to first byte. */
export const UPSTREAM_SLOW_MS = 20;

/** Milliseconds before the API at `path` answers. */
function apiDelay(path: string): number {
  if (path === UPSTREAM_SLOW_API_PATH) return UPSTREAM_SLOW_MS;
  if (path === UPSTREAM_VARIED_API_PATH) return UPSTREAM_SLOW_MS * (0.5 + Math.random());
  return 0;
}
/** Long enough that no bench run ever needs a refresh (the vault refreshes 5 minutes before expiry). */
const ACCESS_TOKEN_TTL = 24 * 3600;
const CODE_TTL_MS = 60_000;
/** Bounds the maps below whatever a run does. */
const MAX_ISSUED = 10_000;

export interface UpstreamBenchServer {
  url: string;
  close(): Promise<void>;
}

export async function startUpstreamBench(): Promise<UpstreamBenchServer> {
  const codes = new Map<string, { redirectUri: string; challenge: string | undefined; expiresAt: number }>();
  const accessTokens = new Set<string>();
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: String(error) });
    });
  });
  const url = await listenOnLoopback(server);
  const hello = Buffer.from(JSON.stringify({ hello: 'world' }));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The hot path first, without parsing the URL.
    if (
      (req.url === UPSTREAM_API_PATH ||
        req.url === UPSTREAM_SLOW_API_PATH ||
        req.url === UPSTREAM_VARIED_API_PATH) &&
      req.method === 'GET'
    ) {
      const presented = req.headers.authorization;
      if (presented?.startsWith('Bearer ') && accessTokens.has(presented.slice(7))) {
        const answer = () => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': hello.length });
          res.end(hello);
        };
        const delay = apiDelay(req.url);
        if (delay > 0) setTimeout(answer, delay);
        else answer();
      } else {
        // RFC 6750 §3.1.
        res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
        json(res, 401, { error: 'invalid_token' });
      }
      return;
    }
    const requestUrl = new URL(req.url ?? '/', url);
    const body = await readBody(req);
    switch (requestUrl.pathname) {
      case '/.well-known/openid-configuration':
        return json(res, 200, {
          issuer: url,
          authorization_endpoint: `${url}/authorize`,
          token_endpoint: `${url}/token`,
          response_types_supported: ['code'],
          grant_types_supported: ['authorization_code'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic'],
        });
      case '/authorize':
        return authorize(requestUrl.searchParams, res);
      case '/token':
        return req.method === 'POST' ? token(req, new URLSearchParams(body), res) : json(res, 405, {});
      default:
        return json(res, 404, { error: 'not_found' });
    }
  }

  function authorize(query: URLSearchParams, res: ServerResponse): void {
    const redirectUri = query.get('redirect_uri');
    if (query.get('client_id') !== UPSTREAM_CLIENT.clientId || !redirectUri || !URL.canParse(redirectUri)) {
      return json(res, 400, {
        error: 'invalid_request',
        error_description: 'unknown client or redirect_uri',
      });
    }
    if (codes.size >= MAX_ISSUED) codes.clear();
    const code = randomBytes(18).toString('base64url');
    codes.set(code, {
      redirectUri,
      challenge: query.get('code_challenge') ?? undefined,
      expiresAt: Date.now() + CODE_TTL_MS,
    });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    const state = query.get('state');
    if (state !== null) back.searchParams.set('state', state);
    res.writeHead(302, { location: back.href }).end();
  }

  function token(req: IncomingMessage, params: URLSearchParams, res: ServerResponse): void {
    if (!basicCredentialsMatch(req.headers.authorization)) {
      res.setHeader('www-authenticate', 'Basic realm="bench-upstream"');
      return json(res, 401, { error: 'invalid_client' });
    }
    const code = params.get('code') ?? '';
    const issued = codes.get(code);
    codes.delete(code);
    const verifier = params.get('code_verifier') ?? '';
    if (
      params.get('grant_type') !== 'authorization_code' ||
      !issued ||
      issued.expiresAt < Date.now() ||
      issued.redirectUri !== params.get('redirect_uri') ||
      (issued.challenge !== undefined &&
        createHash('sha256').update(verifier).digest('base64url') !== issued.challenge)
    ) {
      return json(res, 400, { error: 'invalid_grant' });
    }
    if (accessTokens.size >= MAX_ISSUED) accessTokens.clear();
    const accessToken = randomBytes(24).toString('base64url');
    accessTokens.add(accessToken);
    json(
      res,
      200,
      {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: ACCESS_TOKEN_TTL,
        refresh_token: randomBytes(24).toString('base64url'),
        scope: 'openid offline_access hello',
      },
      { 'cache-control': 'no-store' },
    );
  }

  return {
    url,
    async close() {
      await closeServer(server);
    },
  };
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded (openid-client encodes even "-"), then base64'd. */
function basicCredentialsMatch(header: string | undefined): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  if (separator === -1) return false;
  const decode = (value: string) => {
    try {
      return decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      return undefined;
    }
  };
  return (
    decode(decoded.slice(0, separator)) === UPSTREAM_CLIENT.clientId &&
    decode(decoded.slice(separator + 1)) === UPSTREAM_CLIENT.clientSecret
  );
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
