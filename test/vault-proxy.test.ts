// The vault proxy against a real upstream: an echo server on 127.0.0.1 stands in for the provider,
// and a bare node:http "app" in front plays the vault route (URL from upstreamUrl, then forward()).
// Checks what crosses each way: methods, query, body, the token, headers kept and dropped, limits,
// refused paths (the upstream must see nothing), redirects not followed, timeouts, dead providers.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Agent } from 'undici';
import { upstreamUrl } from '../src/vault/proxy-path.js';
import { asVaultError, createProxy, type ProxyResponse, type VaultProxy } from '../src/vault/proxy.js';
import { VaultError } from '../src/vault/types.js';

const MIB = 1024 * 1024;
const VAULT_TOKEN = 'provider-access-token-123';
const ROUTE = '/vault/proxy/github/user-1';
const GZIPPED = gzipSync(JSON.stringify({ hello: 'world', padding: 'x'.repeat(2000) }));

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  bodyBytes: number;
  bodySha256: string;
  body: string;
}

interface Listening {
  server: Server;
  url: string;
  /** Requests received since the start. */
  requests: number;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const listening = { requests: 0 } as Listening;
  listening.server = createServer((req, res) => {
    listening.requests++;
    handler(req, res);
  });
  listening.server.listen(0, '127.0.0.1');
  await once(listening.server, 'listening');
  listening.url = `http://127.0.0.1:${(listening.server.address() as AddressInfo).port}`;
  return listening;
}

async function stop(listening: Listening): Promise<void> {
  listening.server.closeAllConnections();
  await new Promise((resolve) => listening.server.close(resolve));
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes `bytes` bytes in 64 KiB chunks, waiting for drain. */
async function writeBytes(res: ServerResponse, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (res.destroyed) return;
    if (!res.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) await once(res, 'drain');
  }
  res.end();
}

/** The provider: special endpoints by path, an echo of the request otherwise. */
function provider(evil: () => Listening) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const [path, query = ''] = (req.url ?? '').split('?');
    const params = new URLSearchParams(query);
    switch (path) {
      case '/big': {
        const bytes = Number(params.get('bytes'));
        res.writeHead(200, params.has('declared') ? { 'content-length': bytes } : {});
        void writeBytes(res, bytes);
        return;
      }
      case '/redirect':
        res.writeHead(302, { location: `${evil().url}/steal` }).end();
        return;
      case '/headers':
        res.writeHead(201, {
          'content-type': 'text/plain',
          etag: '"v1"',
          'cache-control': 'private, max-age=60',
          'x-provider': 'yes',
          'set-cookie': ['session=provider; Path=/', 'other=1'],
          connection: 'x-hop',
          'x-hop': 'only for this connection',
          'keep-alive': 'timeout=5',
          'proxy-authenticate': 'Basic realm="proxy"',
        });
        res.end('ok');
        return;
      case '/gzip':
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(GZIPPED);
        return;
      case '/unauthorized':
        res
          .writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' })
          .end('{"message":"Bad credentials"}');
        return;
      case '/slow':
        return; // never answers; the socket is closed at the end
      case '/slow-body':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first chunk');
        return; // never finishes
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const echo: Echo = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bodyBytes: body.length,
        bodySha256: sha256(body),
        body: body.length <= 1024 ? body.toString('utf8') : '',
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(echo));
    });
  };
}

let upstream: Listening;
let evil: Listening;
let app: Listening;
let proxy: VaultProxy;
/** The API base URL the app proxies to (a test may give it a path prefix). */
let apiBase: string;
const client = new Agent();

/** The vault route, as a route would write it: resolve the URL, forward, stream the answer back. */
async function proxyRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = req.url ?? '';
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  if (!path.startsWith(ROUTE)) {
    res.writeHead(404).end();
    return;
  }
  try {
    const url = upstreamUrl(
      apiBase,
      path.slice(ROUTE.length),
      queryAt === -1 ? '' : target.slice(queryAt + 1),
    );
    const answer = await proxy.forward({
      method: req.method ?? 'GET',
      url,
      headers: req.headers,
      body: req,
      accessToken: VAULT_TOKEN,
      tokenType: 'bearer',
    });
    res.writeHead(answer.status, answer.headers);
    pipeline(answer.body, res, () => {});
  } catch (error) {
    const known = error instanceof VaultError;
    res.writeHead(known ? error.status : 500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: known ? error.code : 'server_error' }));
  }
}

beforeAll(async () => {
  evil = await listen((_req, res) => res.end('stolen'));
  upstream = await listen(provider(() => evil));
  // The echo server listens on loopback: the outbound rules are lifted (OUTBOUND_ALLOW_PRIVATE).
  proxy = createProxy({ allowPrivate: true });
  app = await listen((req, res) => void proxyRoute(req, res));
});

beforeEach(() => {
  apiBase = upstream.url;
});

afterAll(async () => {
  await proxy.close();
  await client.close();
  await Promise.all([app, upstream, evil].map(stop));
});

/** A call to the app, its path sent exactly as written (no URL parsing to resolve `..` or drop `#`). */
function callApp(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | Readable } = {},
) {
  return client.request({
    origin: app.url,
    path: ROUTE + path,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
  });
}

async function echoOf(path: string, options: Parameters<typeof callApp>[1] = {}): Promise<Echo> {
  const response = await callApp(path, options);
  expect(response.statusCode).toBe(200);
  return (await response.body.json()) as Echo;
}

/** A body's failure as the vault classifies it (bodies fail with undici's own errors). */
function rethrowAsVaultError(error: unknown): never {
  throw asVaultError(error as Error);
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A body of `bytes` bytes in 64 KiB chunks, counting what was read from it. */
function countedBody(bytes: number): { body: Readable; read: () => number } {
  let produced = 0;
  const chunk = Buffer.alloc(64 * 1024, 'b');
  const body = Readable.from(
    (function* () {
      while (produced < bytes) {
        produced += chunk.length;
        yield chunk;
      }
    })(),
  );
  return { body, read: () => produced };
}

describe('forwarding', () => {
  test.each(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])('%s with its query and body', async (method) => {
    const body = method === 'GET' ? undefined : Buffer.from(JSON.stringify({ title: 'Bug', n: 1 }));
    const echo = await echoOf('/repos/o/r/issues?state=open&labels=a,b&q=two%20words&empty=', {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      ...(body ? { body } : {}),
    });
    expect(echo.method).toBe(method);
    expect(echo.url).toBe('/repos/o/r/issues?state=open&labels=a,b&q=two%20words&empty=');
    expect(echo.body).toBe(body?.toString() ?? '');
    if (body) expect(echo.headers['content-type']).toBe('application/json');
  });

  test("sends the vault's token, never the app's credentials, cookies or client details", async () => {
    const echo = await echoOf('/user', {
      headers: {
        authorization: 'Bearer latchkey-app-token',
        cookie: 'latchkey.session=secret',
        dpop: 'app-dpop-proof',
        'proxy-authorization': 'Basic cHJveHk6cHc=',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-real-ip': '203.0.113.7',
        forwarded: 'for=203.0.113.7',
        accept: 'application/vnd.github+json',
        'user-agent': 'app/1.0',
        'x-github-api-version': '2022-11-28',
        'x-request-id': 'req-1',
      },
    });
    expect(echo.headers.authorization).toBe(`Bearer ${VAULT_TOKEN}`);
    for (const dropped of [
      'cookie',
      'dpop',
      'proxy-authorization',
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-real-ip',
      'forwarded',
    ]) {
      expect(echo.headers[dropped]).toBeUndefined();
    }
    expect(echo.headers.host).toBe(new URL(upstream.url).host);
    expect(echo.headers).toMatchObject({
      accept: 'application/vnd.github+json',
      'user-agent': 'app/1.0',
      'x-github-api-version': '2022-11-28',
      'x-request-id': 'req-1',
    });
  });

  test('drops the headers that Connection names, and sends the token type as given', async () => {
    const answer = await proxy.forward({
      method: 'GET',
      url: upstreamUrl(upstream.url, '/user', ''),
      headers: { connection: 'keep-alive, X-Secret', 'x-secret': 'hop', 'x-kept': 'yes' },
      accessToken: 'mac-token',
      tokenType: 'MAC',
    });
    const echo = JSON.parse((await readAll(answer.body)).toString()) as Echo;
    expect(echo.headers['x-secret']).toBeUndefined();
    expect(echo.headers['x-kept']).toBe('yes');
    expect(echo.headers.authorization).toBe('MAC mac-token');
  });

  test('keeps the path prefix of the API base', async () => {
    apiBase = `${upstream.url}/v2`;
    expect((await echoOf('/users/me?fields=id')).url).toBe('/v2/users/me?fields=id');
    expect((await echoOf('')).url).toBe('/v2');
  });
});

describe('the answer', () => {
  test('keeps status, headers and body; drops hop-by-hop headers and Set-Cookie', async () => {
    const answer = await proxy.forward({
      method: 'GET',
      url: upstreamUrl(upstream.url, '/headers', ''),
      headers: {},
      accessToken: VAULT_TOKEN,
    });
    expect(answer.status).toBe(201);
    expect(answer.headers).toMatchObject({
      'content-type': 'text/plain',
      etag: '"v1"',
      'cache-control': 'private, max-age=60',
      'x-provider': 'yes',
    });
    for (const dropped of [
      'set-cookie',
      'connection',
      'keep-alive',
      'x-hop',
      'proxy-authenticate',
      'transfer-encoding',
    ]) {
      expect(answer.headers[dropped]).toBeUndefined();
    }
    expect((await readAll(answer.body)).toString()).toBe('ok');
  });

  test('passes a gzip body through byte for byte, still encoded', async () => {
    const response = await callApp('/gzip', { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(Buffer.from(await response.body.arrayBuffer()).equals(GZIPPED)).toBe(true);
  });

  test('returns a 401 as the provider sent it', async () => {
    const response = await callApp('/unauthorized');
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(await response.body.text()).toBe('{"message":"Bad credentials"}');
  });

  test('returns a redirect as is and never follows it', async () => {
    const response = await callApp('/redirect');
    await response.body.dump();
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe(`${evil.url}/steal`);
    expect(evil.requests).toBe(0);
  });

  test('streams a large body back whole', async () => {
    const response = await callApp(`/big?bytes=${3 * MIB}`);
    const body = Buffer.from(await response.body.arrayBuffer());
    expect(body.length).toBe(3 * MIB);
    expect(body.equals(Buffer.alloc(3 * MIB, 'a'))).toBe(true);
  });

  test('cuts off a response body past the limit', async () => {
    const small = createProxy({ maxResponseBytes: 256 * 1024, allowPrivate: true });
    try {
      const streamed = await small.forward({
        method: 'GET',
        url: upstreamUrl(upstream.url, '/big', `bytes=${2 * MIB}`),
        headers: {},
        accessToken: VAULT_TOKEN,
      });
      await expect(readAll(streamed.body).catch(rethrowAsVaultError)).rejects.toMatchObject({
        code: 'body_too_large',
        status: 502,
      });
      const declared = small.forward({
        method: 'GET',
        url: upstreamUrl(upstream.url, '/big', `bytes=${2 * MIB}&declared`),
        headers: {},
        accessToken: VAULT_TOKEN,
      });
      await expect(declared).rejects.toMatchObject({ code: 'body_too_large', status: 502 });
      // A HEAD answer's Content-Length describes the GET body it has none of: passed on, not refused.
      const head = await small.forward({
        method: 'HEAD',
        url: upstreamUrl(upstream.url, '/big', `bytes=${2 * MIB}&declared`),
        headers: {},
        accessToken: VAULT_TOKEN,
      });
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(2 * MIB));
      expect((await readAll(head.body)).length).toBe(0);
    } finally {
      await small.close();
    }
  });
});

describe('request bodies', () => {
  test('a 5 MiB upload streams through whole, with or without a declared length', async () => {
    const upload = Buffer.alloc(5 * MIB);
    for (let i = 0; i < upload.length; i++) upload[i] = i % 251;
    const declared = await echoOf('/upload', { method: 'PUT', body: upload });
    expect(declared.bodyBytes).toBe(upload.length);
    expect(declared.bodySha256).toBe(sha256(upload));
    expect(declared.headers['content-length']).toBe(String(upload.length));

    const chunked = await echoOf('/upload', {
      method: 'PUT',
      body: Readable.from([upload.subarray(0, MIB), upload.subarray(MIB)]),
    });
    expect(chunked.bodyBytes).toBe(upload.length);
    expect(chunked.bodySha256).toBe(sha256(upload));
  });

  test('a declared body over the limit is refused with 413 before connecting', async () => {
    const before = upstream.requests;
    const response = await callApp('/upload', { method: 'POST', body: Buffer.alloc(10 * MIB + 1) });
    expect(response.statusCode).toBe(413);
    expect(await response.body.json()).toEqual({ error: 'body_too_large' });

    const { body, read } = countedBody(20 * MIB);
    const refused = proxy.forward({
      method: 'POST',
      url: upstreamUrl(upstream.url, '/upload', ''),
      headers: { 'content-length': String(20 * MIB) },
      body,
      accessToken: VAULT_TOKEN,
    });
    await expect(refused).rejects.toMatchObject({ code: 'body_too_large', status: 413 });
    expect(read()).toBe(0);
    expect(upstream.requests).toBe(before);
  });

  test('an undeclared body over the limit is refused with 413 while streaming', async () => {
    const { body, read } = countedBody(40 * MIB);
    const refused = proxy.forward({
      method: 'POST',
      url: upstreamUrl(upstream.url, '/upload', ''),
      headers: { 'transfer-encoding': 'chunked' },
      body,
      accessToken: VAULT_TOKEN,
    });
    await expect(refused).rejects.toMatchObject({ code: 'body_too_large', status: 413 });
    expect(read()).toBeLessThan(12 * MIB);
  });
});

describe('paths that leave the API base', () => {
  const refused = [
    '//evil.example/x',
    '/../x',
    '/a/../../x',
    '/%2e%2e/x',
    '/%2E%2e/x',
    '/.%2e/x',
    '/a%2fb',
    '/%5c%5cevil',
    '/@evil.example',
    '/%40evil',
    'http://evil.example/',
    'https:evil',
    '/a/./b',
    '/a/%2e/b',
    '/a/..;/b',
    '/\\evil',
    '/x%00',
    '/x%0d%0aHost:%20evil',
    '/%252e%252e/x',
    '/%zz',
    '/x#frag',
  ];

  /** Requests that earlier tests left in flight (slow, aborted) land late: wait until none arrive. */
  async function settled(listening: Listening): Promise<void> {
    for (let seen = -1; seen !== listening.requests;) {
      seen = listening.requests;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  test.each(refused)('%s is refused and the upstream hears nothing', async (path) => {
    await settled(upstream);
    const before = upstream.requests;
    const response = await callApp(path);
    expect(response.statusCode).toBe(400);
    expect(await response.body.json()).toEqual({ error: 'path_not_allowed' });
    expect(upstream.requests).toBe(before);
    expect(evil.requests).toBe(0);
  });

  test.each(['/x\r\nHost: evil', '/x\u0000', 'evil.example/x', '/x?y'])('%j is refused', (path) => {
    expect(() => upstreamUrl(upstream.url, path, '')).toThrow(
      expect.objectContaining({ code: 'path_not_allowed' }),
    );
  });

  test('a query cannot carry a fragment or change the host', () => {
    expect(() => upstreamUrl('https://api.example', '/x', 'a=1#@evil.example')).toThrow(VaultError);
    const url = upstreamUrl('https://api.example/v2/', '/x', '?next=//evil.example/@a&u=http://evil.example');
    expect(url.href).toBe('https://api.example/v2/x?next=//evil.example/@a&u=http://evil.example');
  });

  test.each([
    ['https://api.example', '', 'https://api.example/'],
    ['https://api.example/v2', '', 'https://api.example/v2'],
    ['https://api.example/v2/', '/', 'https://api.example/v2/'],
    ['https://api.example/v2', '/projects/p:batchGet', 'https://api.example/v2/projects/p:batchGet'],
    ['https://api.example', '/.well-known/x/...', 'https://api.example/.well-known/x/...'],
    ['https://api.example', '/files/a%20b%3F%23...', 'https://api.example/files/a%20b%3F%23...'],
  ])('%s + %s stays under the base', (base, path, expected) => {
    expect(upstreamUrl(base, path, '').href).toBe(expected);
  });
});

describe('provider failures', () => {
  test('a provider that does not answer in time is provider_timeout', async () => {
    const quick = createProxy({ timeoutMs: 300, allowPrivate: true });
    try {
      const call = quick.forward({
        method: 'GET',
        url: upstreamUrl(upstream.url, '/slow', ''),
        headers: {},
        accessToken: VAULT_TOKEN,
      });
      await expect(call).rejects.toMatchObject({ code: 'provider_timeout', status: 504 });

      // The body streams as it comes (the first chunk arrives while the provider still writes),
      // and a body that stalls fails the same way.
      const answer: ProxyResponse = await quick.forward({
        method: 'GET',
        url: upstreamUrl(upstream.url, '/slow-body', ''),
        headers: {},
        accessToken: VAULT_TOKEN,
      });
      const [first] = (await once(answer.body, 'data')) as [Buffer];
      expect(first.toString()).toBe('first chunk');
      await expect(readAll(answer.body).catch(rethrowAsVaultError)).rejects.toMatchObject({
        code: 'provider_timeout',
      });
    } finally {
      await quick.close();
    }
  });

  test('a provider that refuses connections is provider_unavailable', async () => {
    const closed = await listen(() => {});
    await stop(closed);
    const call = proxy.forward({
      method: 'GET',
      url: upstreamUrl(closed.url, '/x', ''),
      headers: {},
      accessToken: VAULT_TOKEN,
    });
    await expect(call).rejects.toMatchObject({ code: 'provider_unavailable', status: 502 });
  });

  test('TRACE is refused: it would echo the token back', async () => {
    const call = proxy.forward({
      method: 'TRACE',
      url: upstreamUrl(upstream.url, '/x', ''),
      headers: {},
      accessToken: VAULT_TOKEN,
    });
    await expect(call).rejects.toMatchObject({ code: 'invalid_request', status: 405 });
  });
});
