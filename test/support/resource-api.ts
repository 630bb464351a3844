// Shared steps of the resource suites: small APIs on their own ports (Koa, plain node:http) that
// use the resource checker, plain HTTP calls to them, and tokens and DPoP proofs made by hand.
import { randomUUID, createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, importJWK, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import Koa from 'koa';
import type Router from '@koa/router';
import type { ResourceProvider } from '@latchkey/resource';
import type { TestServer } from './latchkey.js';

export interface TestApi {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<TestApi> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A Koa app on its own port around a router that needs to know its own URL first. */
export async function startKoaApi(router: (url: string) => Router): Promise<TestApi> {
  const server = createServer();
  const api = await listen(server);
  const app = new Koa();
  app.silent = true;
  app.use(router(api.url).routes());
  server.on('request', app.callback());
  return api;
}

/**
 * A plain node:http API, written as the README shows: `GET /things` needs scope `read`,
 * `POST /things` needs `write`; both answer with the ResourceAuthorization.
 */
export async function startNodeApi(resource: () => ResourceProvider): Promise<TestApi> {
  const server = createServer(async (req, res) => {
    const scopes = req.method === 'POST' ? ['write'] : ['read'];
    try {
      const auth = await resource().authenticate(req, { scopes });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(auth));
    } catch (error) {
      const { status, headers, body } = resource().errorResponse(error);
      res.writeHead(status, headers).end(JSON.stringify(body));
    }
  });
  return listen(server);
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<ApiResponse> {
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Signs an at+jwt with the issuer's own active key: for tokens the server would never mint. */
export async function signWithIssuerKey(
  server: TestServer,
  claims: JWTPayload,
  options: { alg?: 'RS256' | 'ES256'; typ?: string } = {},
): Promise<string> {
  const alg = options.alg ?? 'RS256';
  const { keys } = await server.latchkey.services.keys.privateJwks();
  const jwk = keys.find((key) => key.alg === alg)!;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: now, exp: now + 600, jti: randomUUID(), ...claims })
    .setProtectedHeader({ alg, kid: jwk.kid!, typ: options.typ ?? 'at+jwt' })
    .sign(await importJWK(jwk, alg));
}

/** An `alg: none` JWT (RFC 7519 §6.1): header and payload, empty signature. */
export function unsignedJwt(claims: JWTPayload): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'at+jwt' })}.${encode(claims)}.`;
}

/** A DPoP proof (RFC 9449 §4.2) for one request, with every field open to tampering. */
export async function dpopProof(
  keyPair: { privateKey: CryptoKey; publicKey: CryptoKey },
  request: { method: string; url: string; accessToken?: string },
  overrides: { iat?: number; jti?: string; jwk?: JWK; typ?: string } = {},
): Promise<string> {
  const jwk = overrides.jwk ?? (await exportJWK(keyPair.publicKey));
  const payload: JWTPayload = {
    htm: request.method,
    htu: request.url,
    jti: overrides.jti ?? randomUUID(),
    ...(request.accessToken
      ? { ath: createHash('sha256').update(request.accessToken).digest('base64url') }
      : {}),
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ: overrides.typ ?? 'dpop+jwt', jwk })
    .setIssuedAt(overrides.iat ?? Math.floor(Date.now() / 1000))
    .sign(keyPair.privateKey);
}

/** The attributes of a WWW-Authenticate challenge, with its scheme. */
export function parseChallenge(header: string | null): { scheme: string; [attribute: string]: string } {
  if (!header) throw new Error('no WWW-Authenticate header');
  const [scheme, rest = ''] = header.split(/ (.*)/s);
  const attributes: { scheme: string; [attribute: string]: string } = { scheme: scheme! };
  for (const match of rest.matchAll(/(\w+)="([^"]*)"/g)) attributes[match[1]!] = match[2]!;
  return attributes;
}
