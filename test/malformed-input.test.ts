// Malformed input to every endpoint: each bad request gets a 4xx with a protocol error (a JSON
// `{ error }` from the API endpoints, an error page from the browser-facing ones), never a 500, a
// stack trace, an error log line or a hang. One server on 127.0.0.1; each request has a 5 s
// timeout.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { pino } from 'pino';
import { Browser, hiddenInput } from './support/browser.js';
import { CALLBACK, seed, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

/** Error codes a client may see (RFC 6749 §5.2 and §4.1.2.1, RFC 6750 §3.1, RFC 7009, RFC 8628,
 * RFC 8707, RFC 9101, RFC 9126, RFC 9449, OIDC Core §3.1.2.6). `server_error` is not among them. */
const PROTOCOL_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_token',
  'insufficient_scope',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'unsupported_response_type',
  'unsupported_response_mode',
  'unsupported_token_type',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_request_object',
  'invalid_request_uri',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
  'invalid_authorization_details',
  'access_denied',
  'login_required',
  'consent_required',
  'interaction_required',
  'expired_token',
  'authorization_pending',
  'slow_down',
]);

/** What a stack trace or an internal path looks like in a body. */
const STACK_TRACE = /at .*\.(js|ts):\d+/;
const TIMEOUT_MS = 5000;
const MiB = 1024 * 1024;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface Reply {
  status: number;
  contentType: string;
  location: string | undefined;
  body: string;
}

type Status = number | number[];

/**
 * What a case must get back. Every kind also means: no stack trace, no `node_modules`, no error
 * logged by the server.
 * - `json`: a 4xx (or `status`) with `{ "error": <protocol code> }`.
 * - `page`: a 4xx (or `status`) HTML page showing a protocol error code or an error message.
 * - `redirect`: RFC 6749 §4.1.2.1: once client and redirect_uri are verified, the error goes back
 *   to the client's registered redirect_uri, not to the user.
 * - `refused`: a 4xx refused before any protocol code runs (Node's HTTP parser, unrouted method).
 * - `ignored`: input the endpoint has no use for; it answers as it would without it.
 */
type Expectation =
  | { kind: 'json'; status?: Status; error?: string }
  | { kind: 'page'; status?: Status; error?: string }
  | { kind: 'redirect'; to: string; error?: string }
  | { kind: 'refused'; status?: Status }
  | { kind: 'ignored'; status: Status; contains?: string; absent?: string };

interface Case {
  endpoint: string;
  name: string;
  send: () => Promise<Reply>;
  expect: Expectation;
}

let server: TestServer;
let fixtures: Fixtures;
/** Endpoint paths as discovery names them (set in beforeAll; cases read them when they run). */
const ep = {
  authorization: '',
  token: '',
  userinfo: '',
  jwks: '',
  introspection: '',
  revocation: '',
  deviceAuthorization: '',
  endSession: '',
  par: '',
  device: '/device',
};
/** A live interaction: a browser stopped at the login page (a failed login does not end it). */
const live = { uid: '', interactionCookies: '', csrf: '' };
/** Lines at level error (or worse) the server logged: a 500 or an unhandled error shows up here. */
const serverErrors: string[] = [];

beforeAll(async () => {
  const logStream = {
    write(line: string) {
      if (JSON.parse(line).level >= 50) serverErrors.push(line);
      if (process.env.TEST_LOG_LEVEL) process.stdout.write(line);
    },
  };
  const level = process.env.TEST_LOG_LEVEL ?? 'error';
  server = await startLatchkey({ options: { logger: pino({ level }, logStream) } });
  fixtures = await seed(server);

  const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<
    string,
    string
  >;
  const path = (name: string) => new URL(discovery[name]!).pathname;
  Object.assign(ep, {
    authorization: path('authorization_endpoint'),
    token: path('token_endpoint'),
    userinfo: path('userinfo_endpoint'),
    jwks: path('jwks_uri'),
    introspection: path('introspection_endpoint'),
    revocation: path('revocation_endpoint'),
    deviceAuthorization: path('device_authorization_endpoint'),
    endSession: path('end_session_endpoint'),
    par: path('pushed_authorization_request_endpoint'),
  });

  const browser = new Browser(server.url);
  const login = await browser.page(`${server.url}${ep.authorization}?${authQuery()}`);
  live.uid = new URL(login.url).pathname.split('/')[2]!;
  live.interactionCookies = await browser.jar.getCookieString(login.url);
  live.csrf = hiddenInput(login.html, '_csrf');
});

afterAll(async () => {
  await server?.close();
});

// ---------------------------------------------------------------------------------------------
// Requests

interface Init {
  query?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | URLSearchParams;
}

/** One request through fetch: no redirects followed, bounded in time. */
async function send(method: string, path: string, init: Init = {}): Promise<Reply> {
  const url = `${server.url}${path}${init.query === undefined ? '' : `?${init.query}`}`;
  const body = Buffer.isBuffer(init.body) ? new Uint8Array(init.body) : init.body;
  const response = await fetch(url, {
    method,
    headers: init.headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    location: response.headers.get('location') ?? undefined,
    body: await response.text(),
  };
}

/** What a browser asks for: oidc-provider answers JSON to `*\/*` and its HTML error page to this. */
const ACCEPT_HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** A request as a browser makes it (the pages: authorization, logout, device, interaction). */
function browse(method: string, path: string, init: Init = {}): Promise<Reply> {
  return send(method, path, { ...init, headers: { accept: ACCEPT_HTML, ...init.headers } });
}

/** A POST, as a form unless `headers` says otherwise. */
function post(path: string, body: Init['body'], headers: Record<string, string> = FORM): Promise<Reply> {
  return send('POST', path, { headers, body });
}

/** A POST as a browser makes it. */
function postPage(path: string, body: Init['body'], headers: Record<string, string> = FORM): Promise<Reply> {
  return browse('POST', path, { headers, body });
}

/**
 * One request through node:http, for what fetch refuses or fixes up: latin1 bytes in header values,
 * a Content-Length that does not match the body.
 */
function raw(method: string, path: string, headers: OutgoingHttpHeaders, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: after a Content-Length lie the server rightly reads the next
    // request on that connection as the rest of the body.
    const options = {
      method,
      headers: { connection: 'close', ...headers },
      timeout: TIMEOUT_MS,
      agent: false,
    };
    const request = httpRequest(`${server.url}${path}`, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          contentType: response.headers['content-type'] ?? '',
          location: response.headers.location,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

/** Bytes straight onto a socket, for what even node:http refuses to send (a NUL in a header). */
function socket(bytes: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url);
    const connection = connect({ host: url.hostname, port: Number(url.port) });
    const chunks: Buffer[] = [];
    connection.setTimeout(TIMEOUT_MS, () =>
      connection.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)),
    );
    connection.on('data', (chunk: Buffer) => chunks.push(chunk));
    connection.on('error', reject);
    connection.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const contentType = /^content-type: *(.*)$/im.exec(head)?.[1] ?? '';
      resolve({ status, contentType, location: undefined, body: rest.join('\r\n\r\n') });
    });
    connection.end(bytes);
  });
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

const serviceAuth = () => ({
  ...FORM,
  authorization: basic(fixtures.service.client_id, fixtures.service.client_secret),
});
const webAuth = () => ({ ...FORM, authorization: basic(fixtures.web.client_id, fixtures.web.client_secret) });

/**
 * Opens the device page in a fresh browser, then posts the body made from its xsrf token with the
 * session cookie. Fresh each time: every error on this page replaces the token.
 */
async function postDevice(
  body: (xsrf: string) => string | Buffer,
  contentType = FORM['content-type'],
): Promise<Reply> {
  const browser = new Browser(server.url);
  const input = await browser.page(`${server.url}${ep.device}`);
  const cookie = await browser.jar.getCookieString(input.url);
  return postPage(ep.device, body(hiddenInput(input.html, 'xsrf')), { 'content-type': contentType, cookie });
}

/** A valid authorization request for the web client, with some parameters replaced or added. */
function authQuery(overrides: Record<string, string> = {}, extra = ''): string {
  const query = new URLSearchParams({
    client_id: fixtures.web.client_id,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: CALLBACK,
    state: 'malformed-input',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    ...overrides,
  }).toString();
  return extra ? `${query}&${extra}` : query;
}

/** A form body of about `bytes` bytes that starts with `prefix`. */
function oversized(prefix: string, bytes = 2 * MiB): string {
  return `${prefix}&padding=${'a'.repeat(bytes)}`;
}

/** `a[b][c]...=1`, nested `depth` deep. */
function nested(depth: number): string {
  return `a${'[b]'.repeat(depth)}=1`;
}

/** A form body with raw bytes (not valid UTF-8, NUL, ...) spliced in after `prefix`. */
function bytes(prefix: string, value: number[], suffix = ''): Buffer {
  return Buffer.concat([Buffer.from(prefix), Buffer.from(value), Buffer.from(suffix)]);
}

const INVALID_UTF8 = [0xff, 0xfe, 0xfd];
const TRUNCATED_ESCAPE = '%E0%A4%A';
const GARBAGE_JWT = 'eyJhbGciOiJub25lIn0.eyJqdW5rIjp0cnVlfQ.!!!';
const LONG = 'x'.repeat(100 * 1024);
const MULTIPART = {
  headers: { 'content-type': 'multipart/form-data; boundary=zzz' },
  body: '--zzz\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--zz',
};
const FORGED_SESSION = 'latchkey.session=forged-session-id; latchkey.session.sig=AAAAAAAAAAAAAAAAAAAAAAAAAAA';
const FORGED_INTERACTION =
  'latchkey.interaction=forged; latchkey.interaction.sig=forged; latchkey.csrf=x; latchkey.csrf.sig=y';
const JUNK_COOKIES = `=; ;;latchkey.session=${TRUNCATED_ESCAPE}; latchkey.session.sig=; a="unterminated; b=${'%'.repeat(50)}`;

// ---------------------------------------------------------------------------------------------
// The cases, endpoint by endpoint

const json = (error?: string, status?: Status): Expectation => ({ kind: 'json', error, status });
const page = (error?: string, status?: Status): Expectation => ({ kind: 'page', error, status });
const refused = (status?: Status): Expectation => ({ kind: 'refused', status });
const backToClient = (error?: string): Expectation => ({ kind: 'redirect', to: CALLBACK, error });
const ignored = (status: Status, body: { contains?: string; absent?: string } = {}): Expectation => ({
  kind: 'ignored',
  status,
  ...body,
});

const tokenCases: Case[] = [
  { name: 'no body, no content type', send: () => send('POST', ep.token), expect: json('invalid_request') },
  {
    name: 'missing grant_type',
    send: () => post(ep.token, 'scope=read', serviceAuth()),
    expect: json('invalid_request'),
  },
  {
    name: 'grant_type twice',
    send: () => post(ep.token, 'grant_type=client_credentials&grant_type=client_credentials', serviceAuth()),
    expect: json('invalid_request'),
  },
  {
    name: 'client_id twice',
    send: () =>
      post(
        ep.token,
        `grant_type=refresh_token&refresh_token=x&client_id=${fixtures.native.client_id}&client_id=${fixtures.native.client_id}`,
      ),
    expect: json('invalid_request'),
  },
  {
    name: 'JSON body',
    send: () =>
      post(ep.token, JSON.stringify({ grant_type: 'client_credentials' }), {
        ...serviceAuth(),
        'content-type': 'application/json',
      }),
    expect: json('invalid_request'),
  },
  {
    name: 'text/plain body',
    send: () =>
      post(ep.token, 'grant_type=client_credentials', { ...serviceAuth(), 'content-type': 'text/plain' }),
    expect: json('invalid_request'),
  },
  {
    name: 'multipart junk',
    send: () =>
      post(ep.token, MULTIPART.body, { ...MULTIPART.headers, authorization: serviceAuth().authorization }),
    expect: json('invalid_request'),
  },
  {
    name: 'form body without a content type',
    send: () =>
      post(ep.token, Buffer.from('grant_type=client_credentials'), {
        authorization: serviceAuth().authorization,
      }),
    expect: json('invalid_request'),
  },
  {
    name: '2 MiB form',
    send: () => post(ep.token, oversized('grant_type=client_credentials'), serviceAuth()),
    expect: json(undefined, [400, 413]),
  },
  {
    name: 'truncated percent-encoding',
    send: () => post(ep.token, `grant_type=client_credentials&scope=${TRUNCATED_ESCAPE}`, serviceAuth()),
    expect: json('invalid_scope'),
  },
  {
    name: 'invalid UTF-8 bytes in a value',
    send: () => post(ep.token, bytes('grant_type=client_credentials&scope=', INVALID_UTF8), serviceAuth()),
    expect: json('invalid_scope'),
  },
  {
    name: 'invalid UTF-8 bytes in grant_type',
    send: () => post(ep.token, bytes('grant_type=', INVALID_UTF8), serviceAuth()),
    expect: json('unsupported_grant_type'),
  },
  {
    name: 'NUL bytes in values',
    send: () => post(ep.token, 'grant_type=client_credentials%00&scope=read%00', serviceAuth()),
    expect: json('unsupported_grant_type'),
  },
  {
    name: 'NUL byte in client_id',
    send: () => post(ep.token, 'grant_type=refresh_token&refresh_token=x&client_id=abc%00def'),
    expect: json('invalid_client'),
  },
  {
    name: '100 kB single parameter',
    send: () => post(ep.token, `grant_type=client_credentials&scope=${LONG}`, serviceAuth()),
    expect: json(undefined, [400, 413]),
  },
  {
    name: 'deeply nested brackets',
    send: () =>
      post(
        ep.token,
        `grant_type=client_credentials&${nested(500)}&scope${'[x]'.repeat(50)}=read`,
        serviceAuth(),
      ),
    expect: ignored(200, { contains: 'access_token' }),
  },
  {
    name: 'Authorization: Basic !!!notbase64',
    send: () =>
      post(ep.token, 'grant_type=client_credentials', { ...FORM, authorization: 'Basic !!!notbase64' }),
    expect: json(),
  },
  {
    name: 'Authorization: Basic without a colon',
    send: () =>
      post(ep.token, 'grant_type=client_credentials', {
        ...FORM,
        authorization: `Basic ${Buffer.from('no-colon-here').toString('base64')}`,
      }),
    expect: json(),
  },
  {
    name: 'Authorization: Basic with a broken percent-encoding',
    send: () =>
      post(ep.token, 'grant_type=client_credentials', {
        ...FORM,
        authorization: `Basic ${Buffer.from(`${TRUNCATED_ESCAPE}:${TRUNCATED_ESCAPE}`).toString('base64')}`,
      }),
    expect: json(),
  },
  {
    name: 'Authorization: Basic with nothing after it',
    send: () => post(ep.token, 'grant_type=client_credentials', { ...FORM, authorization: 'Basic ' }),
    expect: json(),
  },
  {
    name: 'Authorization header with non-ASCII bytes (node:http)',
    send: () =>
      raw(
        'POST',
        ep.token,
        { ...FORM, authorization: 'Basic \xff\xfe\xfd\xe9' },
        Buffer.from('grant_type=client_credentials'),
      ),
    expect: json(),
  },
  {
    name: 'client authenticated twice (Basic and client_secret_post)',
    send: () =>
      post(
        ep.token,
        `grant_type=client_credentials&client_id=${fixtures.service.client_id}&client_secret=${fixtures.service.client_secret}`,
        serviceAuth(),
      ),
    expect: json('invalid_request'),
  },
  {
    name: 'DPoP: garbage',
    send: () =>
      post(ep.token, `grant_type=client_credentials&resource=${fixtures.opaqueApi}`, {
        ...serviceAuth(),
        dpop: 'garbage',
      }),
    expect: json('invalid_dpop_proof'),
  },
  {
    name: 'DPoP: a JWT of junk',
    send: () =>
      post(ep.token, `grant_type=client_credentials&resource=${fixtures.opaqueApi}`, {
        ...serviceAuth(),
        dpop: GARBAGE_JWT,
      }),
    expect: json('invalid_dpop_proof'),
  },
  {
    name: 'unknown grant_type',
    send: () => post(ep.token, 'grant_type=urn:example:nonsense', serviceAuth()),
    expect: json('unsupported_grant_type'),
  },
  {
    name: 'code=garbage',
    send: () =>
      post(
        ep.token,
        new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'garbage',
          redirect_uri: CALLBACK,
          code_verifier: 'v'.repeat(43),
        }),
        webAuth(),
      ),
    expect: json('invalid_grant'),
  },
  {
    name: 'code with a NUL byte and invalid UTF-8',
    send: () =>
      post(
        ep.token,
        bytes(
          'grant_type=authorization_code&code=a%00',
          INVALID_UTF8,
          `&redirect_uri=${encodeURIComponent(CALLBACK)}`,
        ),
        webAuth(),
      ),
    expect: json(),
  },
  {
    name: 'refresh_token=garbage',
    send: () => post(ep.token, 'grant_type=refresh_token&refresh_token=garbage', webAuth()),
    expect: json('invalid_grant'),
  },
  {
    name: 'refresh_token that looks like a JWT',
    send: () => post(ep.token, `grant_type=refresh_token&refresh_token=${GARBAGE_JWT}`, webAuth()),
    expect: json(),
  },
  {
    name: 'device_code=garbage',
    send: () =>
      post(
        ep.token,
        new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
          device_code: 'garbage',
          client_id: fixtures.device.client_id,
        }),
      ),
    expect: json('invalid_grant'),
  },
  {
    name: 'resource=not a uri',
    send: () =>
      post(
        ep.token,
        new URLSearchParams({ grant_type: 'client_credentials', resource: 'not a uri' }),
        serviceAuth(),
      ),
    expect: json('invalid_target'),
  },
  {
    name: 'resource with a fragment',
    send: () =>
      post(
        ep.token,
        new URLSearchParams({ grant_type: 'client_credentials', resource: `${fixtures.opaqueApi}#fragment` }),
        serviceAuth(),
      ),
    expect: json('invalid_target'),
  },
  {
    name: 'resource with invalid UTF-8',
    send: () =>
      post(ep.token, bytes('grant_type=client_credentials&resource=https://', INVALID_UTF8), serviceAuth()),
    expect: json('invalid_target'),
  },
  {
    name: 'Content-Length larger than allowed (node:http)',
    send: () =>
      raw(
        'POST',
        ep.token,
        { ...serviceAuth(), 'content-length': String(10 * MiB) },
        Buffer.from('grant_type=client_credentials'),
      ),
    expect: json(undefined, [400, 413]),
  },
  {
    // Node's parser reads the rest as a second, malformed request and answers 400 itself. The
    // request in progress then fails with HPE_CLOSED_CONNECTION, which must not be logged as an
    // unhandled server error.
    name: 'Content-Length shorter than the body (node:http)',
    send: () =>
      raw(
        'POST',
        ep.token,
        { ...serviceAuth(), 'content-length': '11' },
        Buffer.from('grant_type=client_credentials'),
      ),
    expect: refused(400),
  },
  {
    name: '2 MiB chunked, without Content-Length (node:http)',
    send: () =>
      raw(
        'POST',
        ep.token,
        { ...serviceAuth(), 'transfer-encoding': 'chunked' },
        Buffer.from(oversized('grant_type=client_credentials')),
      ),
    expect: json(undefined, [400, 413]),
  },
  {
    // oidc-provider reads the body bytes as they are: it ignores the charset parameter and any
    // Content-Encoding. Lenient, and never a 5xx.
    name: 'an unknown charset',
    send: () =>
      post(ep.token, 'grant_type=client_credentials', {
        ...serviceAuth(),
        'content-type': 'application/x-www-form-urlencoded; charset=x-bogus',
      }),
    expect: ignored([200, 400, 415]),
  },
  {
    name: 'Content-Encoding: gzip with a body that is not gzip',
    send: () =>
      post(ep.token, 'grant_type=client_credentials', { ...serviceAuth(), 'content-encoding': 'gzip' }),
    expect: ignored([200, 400, 415]),
  },
  {
    name: 'X-Forwarded-For: junk',
    send: () =>
      post(ep.token, 'grant_type=client_credentials', {
        ...FORM,
        'x-forwarded-for': 'junk, ::ffff:999.1.1.1, <script>',
      }),
    expect: json(),
  },
  {
    name: 'junk cookies',
    send: () => post(ep.token, 'grant_type=client_credentials', { ...FORM, cookie: JUNK_COOKIES }),
    expect: json(),
  },
  {
    name: 'PUT',
    send: () => send('PUT', ep.token, { headers: FORM, body: 'grant_type=client_credentials' }),
    expect: refused([404, 405]),
  },
  {
    name: 'GET',
    send: () => send('GET', ep.token, { query: 'grant_type=client_credentials' }),
    expect: refused([404, 405]),
  },
].map((c) => ({ endpoint: 'token', ...c }));

const userinfoCases: Case[] = [
  { name: 'no access token', send: () => send('GET', ep.userinfo), expect: json('invalid_token', 401) },
  {
    name: 'Authorization: Bearer with 10 kB garbage',
    send: () => send('GET', ep.userinfo, { headers: { authorization: `Bearer ${'g'.repeat(10 * 1024)}` } }),
    expect: json('invalid_token', 401),
  },
  {
    name: 'Authorization: Bearer with no token',
    send: () => send('GET', ep.userinfo, { headers: { authorization: 'Bearer' } }),
    expect: json(),
  },
  {
    name: 'Authorization: Bearer junk JWT',
    send: () => send('GET', ep.userinfo, { headers: { authorization: `Bearer ${GARBAGE_JWT}` } }),
    expect: json('invalid_token'),
  },
  {
    name: 'Authorization: Basic !!!notbase64',
    send: () => send('GET', ep.userinfo, { headers: { authorization: 'Basic !!!notbase64' } }),
    expect: json(),
  },
  {
    name: 'DPoP scheme with a junk proof',
    send: () => send('GET', ep.userinfo, { headers: { authorization: 'DPoP garbage', dpop: 'garbage' } }),
    expect: json(),
  },
  {
    name: 'token in both the header and the query',
    send: () => send('GET', ep.userinfo, { query: 'access_token=a', headers: { authorization: 'Bearer b' } }),
    expect: json('invalid_request'),
  },
  {
    name: 'access_token twice in the query',
    send: () => send('GET', ep.userinfo, { query: 'access_token=a&access_token=b' }),
    expect: json(),
  },
  {
    name: 'non-ASCII bytes in the Authorization header (node:http)',
    send: () => raw('GET', ep.userinfo, { authorization: 'Bearer \xff\xfe\xfd\u00e9\u00e8' }),
    expect: json('invalid_token'),
  },
  {
    name: 'POST with text/plain',
    send: () => post(ep.userinfo, 'access_token=junk', { 'content-type': 'text/plain' }),
    expect: json('invalid_request'),
  },
  {
    name: 'POST with a 2 MiB form',
    send: () => post(ep.userinfo, oversized('access_token=junk')),
    expect: json(undefined, [400, 401, 413]),
  },
  {
    name: 'POST with invalid UTF-8 in access_token',
    send: () => post(ep.userinfo, bytes('access_token=', INVALID_UTF8)),
    expect: json('invalid_token'),
  },
  {
    name: 'junk cookies and X-Forwarded-For',
    send: () => send('GET', ep.userinfo, { headers: { cookie: JUNK_COOKIES, 'x-forwarded-for': 'junk' } }),
    expect: json('invalid_token'),
  },
  { name: 'PUT', send: () => send('PUT', ep.userinfo, { body: 'x' }), expect: refused([404, 405]) },
  { name: 'DELETE', send: () => send('DELETE', ep.userinfo), expect: refused([404, 405]) },
].map((c) => ({ endpoint: 'userinfo', ...c }));

/** Introspection and revocation take the same input; each gets the same table. */
function tokenManagementCases(endpoint: 'introspection' | 'revocation'): Case[] {
  const path = () => ep[endpoint];
  return [
    { name: 'no client authentication', send: () => post(path(), 'token=abc'), expect: json() },
    { name: 'missing token', send: () => post(path(), '', serviceAuth()), expect: json('invalid_request') },
    {
      name: 'token twice',
      send: () => post(path(), 'token=a&token=b', serviceAuth()),
      expect: json('invalid_request'),
    },
    {
      name: 'unknown client_id with invalid UTF-8',
      send: () => post(path(), bytes('token=abc&client_id=', INVALID_UTF8)),
      expect: json('invalid_client'),
    },
    {
      name: 'JSON body',
      send: () =>
        post(path(), JSON.stringify({ token: 'abc' }), {
          ...serviceAuth(),
          'content-type': 'application/json',
        }),
      expect: json('invalid_request'),
    },
    {
      name: 'multipart junk',
      send: () =>
        post(path(), MULTIPART.body, { ...MULTIPART.headers, authorization: serviceAuth().authorization }),
      expect: json('invalid_request'),
    },
    {
      name: '2 MiB form',
      send: () => post(path(), oversized('token=abc'), serviceAuth()),
      expect: json(undefined, [400, 413]),
    },
    {
      name: 'truncated percent-encoding in client_id',
      send: () => post(path(), `token=abc&client_id=${TRUNCATED_ESCAPE}`),
      expect: json('invalid_client'),
    },
    {
      name: 'NUL byte in client_id',
      send: () => post(path(), 'token=abc&client_id=a%00b&client_secret=x'),
      expect: json('invalid_client'),
    },
    {
      name: 'Authorization: Basic !!!notbase64',
      send: () => post(path(), 'token=abc', { ...FORM, authorization: 'Basic !!!notbase64' }),
      expect: json(),
    },
    {
      name: 'Authorization: Basic without a colon',
      send: () =>
        post(path(), 'token=abc', {
          ...FORM,
          authorization: `Basic ${Buffer.from('nocolon').toString('base64')}`,
        }),
      expect: json(),
    },
    {
      name: 'non-ASCII bytes in the Authorization header (node:http)',
      send: () =>
        raw('POST', path(), { ...FORM, authorization: 'Basic \xff\xfe\xe9' }, Buffer.from('token=abc')),
      expect: json(),
    },
    {
      name: 'Content-Length larger than allowed (node:http)',
      send: () =>
        raw(
          'POST',
          path(),
          { ...serviceAuth(), 'content-length': String(10 * MiB) },
          Buffer.from('token=abc'),
        ),
      expect: json(undefined, [400, 413]),
    },
    {
      name: 'PUT',
      send: () => send('PUT', path(), { headers: FORM, body: 'token=abc' }),
      expect: refused([404, 405]),
    },
    { name: 'GET', send: () => send('GET', path(), { query: 'token=abc' }), expect: refused([404, 405]) },
  ].map((c) => ({ endpoint, ...c }));
}

const deviceAuthorizationCases: Case[] = [
  { name: 'missing client_id', send: () => post(ep.deviceAuthorization, 'scope=openid'), expect: json() },
  {
    name: 'unknown client_id',
    send: () => post(ep.deviceAuthorization, 'client_id=nope'),
    expect: json('invalid_client'),
  },
  {
    name: 'client_id twice',
    send: () =>
      post(
        ep.deviceAuthorization,
        `client_id=${fixtures.device.client_id}&client_id=${fixtures.device.client_id}`,
      ),
    expect: json('invalid_request'),
  },
  {
    name: 'scope twice',
    send: () =>
      post(ep.deviceAuthorization, `client_id=${fixtures.device.client_id}&scope=openid&scope=openid`),
    expect: json('invalid_request'),
  },
  {
    name: 'invalid UTF-8 in scope',
    send: () =>
      post(
        ep.deviceAuthorization,
        bytes(`client_id=${fixtures.device.client_id}&scope=openid `, INVALID_UTF8),
      ),
    expect: json('invalid_scope'),
  },
  {
    name: 'NUL in client_id',
    send: () => post(ep.deviceAuthorization, `client_id=${fixtures.device.client_id}%00`),
    expect: json('invalid_client'),
  },
  {
    name: 'JSON body',
    send: () =>
      post(ep.deviceAuthorization, JSON.stringify({ client_id: fixtures.device.client_id }), {
        'content-type': 'application/json',
      }),
    expect: json('invalid_request'),
  },
  {
    name: '2 MiB form',
    send: () => post(ep.deviceAuthorization, oversized(`client_id=${fixtures.device.client_id}`)),
    expect: json(undefined, [400, 413]),
  },
  {
    name: 'resource=not a uri',
    send: () =>
      post(
        ep.deviceAuthorization,
        new URLSearchParams({ client_id: fixtures.device.client_id, resource: 'not a uri' }),
      ),
    expect: json('invalid_target'),
  },
  {
    name: 'request with a junk JWT',
    send: () => post(ep.deviceAuthorization, `client_id=${fixtures.device.client_id}&request=${GARBAGE_JWT}`),
    expect: json(),
  },
  {
    name: 'a client not allowed the device grant',
    send: () => post(ep.deviceAuthorization, `client_id=${fixtures.native.client_id}`),
    expect: json(),
  },
  {
    // oidc-provider routes GET /device/auth to the device resume route, /device/:uid.
    name: 'GET (routed as /device/:uid)',
    send: () => send('GET', ep.deviceAuthorization, { query: 'client_id=x' }),
    expect: refused(),
  },
].map((c) => ({ endpoint: 'device_authorization', ...c }));

const parCases: Case[] = [
  { name: 'no client authentication', send: () => post(ep.par, authQuery()), expect: json() },
  {
    name: 'missing response_type',
    send: () => post(ep.par, authQuery({ response_type: '' }), webAuth()),
    expect: json(),
  },
  {
    name: 'response_type=token',
    send: () => post(ep.par, authQuery({ response_type: 'token' }), webAuth()),
    expect: json('unsupported_response_type'),
  },
  {
    name: 'redirect_uri not registered',
    send: () => post(ep.par, authQuery({ redirect_uri: 'https://evil.example/cb' }), webAuth()),
    // oidc-provider reports invalid_redirect_uri as invalid_request at the PAR endpoint.
    expect: json('invalid_request'),
  },
  {
    name: 'scope twice',
    send: () => post(ep.par, authQuery({}, 'scope=openid'), webAuth()),
    expect: json('invalid_request'),
  },
  {
    name: 'request with a junk JWT',
    send: () => post(ep.par, authQuery({ request: GARBAGE_JWT }), webAuth()),
    expect: json(),
  },
  {
    name: 'code_challenge_method=plain',
    send: () => post(ep.par, authQuery({ code_challenge_method: 'plain' }), webAuth()),
    expect: json('invalid_request'),
  },
  {
    name: 'JSON body',
    send: () =>
      post(ep.par, JSON.stringify({ response_type: 'code' }), {
        ...webAuth(),
        'content-type': 'application/json',
      }),
    expect: json('invalid_request'),
  },
  {
    name: '2 MiB form',
    send: () => post(ep.par, oversized(authQuery()), webAuth()),
    expect: json(undefined, [400, 413]),
  },
  {
    name: 'invalid UTF-8 in redirect_uri',
    send: () =>
      post(
        ep.par,
        bytes(`${authQuery({ redirect_uri: '' })}&redirect_uri=http://127.0.0.1:9/`, INVALID_UTF8),
        webAuth(),
      ),
    expect: json(),
  },
  { name: 'GET', send: () => send('GET', ep.par, { query: authQuery() }), expect: refused([404, 405]) },
].map((c) => ({ endpoint: 'pushed_authorization_request', ...c }));

const authorizationCases: Case[] = [
  {
    name: 'no parameters',
    send: () => browse('GET', ep.authorization),
    expect: page('invalid_request', 400),
  },
  {
    name: 'unknown client_id',
    send: () => browse('GET', ep.authorization, { query: authQuery({ client_id: 'nope' }) }),
    expect: page('invalid_client', 400),
  },
  {
    name: 'client_id twice',
    send: () =>
      browse('GET', ep.authorization, { query: authQuery({}, `client_id=${fixtures.web.client_id}`) }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'scope twice',
    send: () => browse('GET', ep.authorization, { query: authQuery({}, 'scope=openid') }),
    expect: backToClient('invalid_request'),
  },
  {
    name: 'response_type=token',
    send: () => browse('GET', ep.authorization, { query: authQuery({ response_type: 'token' }) }),
    expect: backToClient('unsupported_response_type'),
  },
  {
    name: 'redirect_uri not registered',
    send: () =>
      browse('GET', ep.authorization, { query: authQuery({ redirect_uri: 'https://evil.example/cb' }) }),
    expect: page('invalid_redirect_uri', 400),
  },
  {
    name: 'request with a junk JWT',
    send: () => browse('GET', ep.authorization, { query: authQuery({ request: GARBAGE_JWT }) }),
    expect: backToClient(),
  },
  {
    name: 'code_challenge_method=plain',
    send: () => browse('GET', ep.authorization, { query: authQuery({ code_challenge_method: 'plain' }) }),
    expect: backToClient('invalid_request'),
  },
  // The claims parameter (OIDC Core §5.5) is not enabled, so it is not even parsed.
  {
    name: 'claims that is not JSON is ignored',
    send: () => browse('GET', ep.authorization, { query: authQuery({ claims: '{"userinfo":' }) }),
    expect: ignored(303),
  },
  {
    name: 'max_age that is not a number',
    send: () => browse('GET', ep.authorization, { query: authQuery({ max_age: '-1e999' }) }),
    expect: backToClient('invalid_request'),
  },
  {
    name: 'unknown prompt',
    send: () => browse('GET', ep.authorization, { query: authQuery({ prompt: 'junk' }) }),
    expect: backToClient('invalid_request'),
  },
  {
    name: 'unknown response_mode',
    send: () => browse('GET', ep.authorization, { query: authQuery({ response_mode: 'junk' }) }),
    expect: backToClient('unsupported_response_mode'),
  },
  {
    name: 'junk id_token_hint',
    send: () => browse('GET', ep.authorization, { query: authQuery({ id_token_hint: GARBAGE_JWT }) }),
    expect: backToClient(),
  },
  {
    name: 'resource=not a uri',
    send: () => browse('GET', ep.authorization, { query: authQuery({ resource: 'not a uri' }) }),
    expect: backToClient('invalid_target'),
  },
  {
    name: 'request_uri that was never pushed',
    send: () =>
      browse('GET', ep.authorization, {
        query: `client_id=${fixtures.web.client_id}&request_uri=urn:ietf:params:oauth:request_uri:nope`,
      }),
    expect: backToClient('invalid_request_uri'),
  },
  {
    name: 'truncated percent-encoding in client_id',
    send: () =>
      browse('GET', ep.authorization, { query: `client_id=${TRUNCATED_ESCAPE}&response_type=code` }),
    expect: page('invalid_client', 400),
  },
  {
    name: 'NUL in client_id',
    send: () => browse('GET', ep.authorization, { query: 'client_id=a%00b&response_type=code' }),
    expect: page('invalid_client', 400),
  },
  {
    name: 'invalid UTF-8 in client_id',
    send: () => browse('GET', ep.authorization, { query: 'client_id=%ff%fe%fd&response_type=code' }),
    expect: page('invalid_client', 400),
  },
  {
    name: 'invalid UTF-8 in redirect_uri',
    send: () =>
      browse('GET', ep.authorization, {
        query: authQuery({ redirect_uri: '' }).replace(
          'redirect_uri=',
          'redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2F%ff%fe',
        ),
      }),
    expect: page('invalid_redirect_uri', 400),
  },
  {
    name: 'deeply nested brackets',
    send: () =>
      browse('GET', ep.authorization, {
        query: authQuery({ redirect_uri: 'https://evil.example/cb' }, nested(300)),
      }),
    expect: page('invalid_redirect_uri', 400),
  },
  {
    name: '8 kB state',
    send: () =>
      browse('GET', ep.authorization, {
        query: authQuery({ client_id: 'nope', state: 's'.repeat(8 * 1024) }),
      }),
    expect: page('invalid_client', 400),
  },
  // Node refuses a request line beyond its header limit (16 KiB) before the app sees it.
  {
    name: '100 kB single parameter',
    send: () => browse('GET', ep.authorization, { query: authQuery({ state: LONG }) }),
    expect: refused([414, 431]),
  },
  {
    name: 'forged session cookie is ignored: the user is sent to sign in',
    send: () => browse('GET', ep.authorization, { query: authQuery(), headers: { cookie: FORGED_SESSION } }),
    expect: ignored(303),
  },
  {
    name: 'junk cookies and X-Forwarded-For with a bad request',
    send: () =>
      browse('GET', ep.authorization, {
        query: authQuery({ client_id: 'nope' }),
        headers: { cookie: JUNK_COOKIES, 'x-forwarded-for': 'junk' },
      }),
    expect: page('invalid_client', 400),
  },
  {
    name: 'non-ASCII bytes in the Cookie header (node:http)',
    send: () =>
      raw('GET', `${ep.authorization}?${authQuery({ client_id: 'nope' })}`, {
        accept: ACCEPT_HTML,
        cookie: 'latchkey.session=\xff\xfe; latchkey.session.sig=\xe9',
      }),
    expect: page('invalid_client', 400),
  },
  {
    name: 'resume with an unknown uid',
    send: () => browse('GET', `${ep.authorization}/unknown-uid`),
    expect: page(),
  },
  {
    name: 'resume with a broken percent-encoded uid',
    send: () => browse('GET', `${ep.authorization}/${TRUNCATED_ESCAPE}`),
    expect: page(),
  },
  {
    name: 'DELETE',
    send: () => browse('DELETE', ep.authorization, { query: authQuery() }),
    expect: refused([404, 405]),
  },
  { name: 'POST', send: () => postPage(ep.authorization, authQuery()), expect: refused([404, 405]) },
].map((c) => ({ endpoint: 'authorization', ...c }));

const endSessionCases: Case[] = [
  {
    name: 'junk id_token_hint',
    send: () => browse('GET', ep.endSession, { query: `id_token_hint=${GARBAGE_JWT}` }),
    expect: page(undefined, 400),
  },
  {
    name: 'id_token_hint that is not a JWT',
    send: () => browse('GET', ep.endSession, { query: `id_token_hint=${'%ff'.repeat(20)}` }),
    expect: page(undefined, 400),
  },
  {
    name: 'unregistered post_logout_redirect_uri',
    send: () =>
      browse('GET', ep.endSession, {
        query: new URLSearchParams({
          client_id: fixtures.web.client_id,
          post_logout_redirect_uri: 'https://evil.example/bye',
        }).toString(),
      }),
    expect: page('invalid_request', 400),
  },
  {
    // Without a client to check it against, oidc-provider drops the URI and signs out locally.
    name: 'post_logout_redirect_uri without a client is dropped',
    send: () => browse('GET', ep.endSession, { query: 'post_logout_redirect_uri=https://evil.example/bye' }),
    expect: ignored(200, { absent: 'evil.example' }),
  },
  {
    name: 'unknown client_id',
    send: () => browse('GET', ep.endSession, { query: 'client_id=nope' }),
    expect: page('invalid_client', 400),
  },
  {
    name: 'client_id twice',
    send: () =>
      browse('GET', ep.endSession, {
        query: `client_id=${fixtures.web.client_id}&client_id=${fixtures.web.client_id}`,
      }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'invalid UTF-8 in client_id',
    send: () => browse('GET', ep.endSession, { query: 'client_id=%ff%fe%00' }),
    expect: page('invalid_client', 400),
  },
  {
    name: 'confirm without xsrf or cookies',
    send: () => postPage(`${ep.endSession}/confirm`, 'logout=yes'),
    expect: page('invalid_request', 400),
  },
  {
    name: 'confirm with a forged session and junk xsrf',
    send: () =>
      postPage(`${ep.endSession}/confirm`, 'xsrf=junk&logout=yes', { ...FORM, cookie: FORGED_SESSION }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'confirm with a 2 MiB form',
    send: () => postPage(`${ep.endSession}/confirm`, oversized('xsrf=junk&logout=yes')),
    expect: page(undefined, [400, 413]),
  },
  {
    name: 'confirm with text/plain',
    send: () => postPage(`${ep.endSession}/confirm`, 'xsrf=junk', { 'content-type': 'text/plain' }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'success with an unknown client_id',
    send: () => browse('GET', `${ep.endSession}/success`, { query: 'client_id=nope' }),
    expect: page(),
  },
  { name: 'DELETE', send: () => browse('DELETE', ep.endSession), expect: refused([404, 405]) },
].map((c) => ({ endpoint: 'end_session', ...c }));

const deviceCases: Case[] = [
  {
    name: 'GET with junk query is the code page, escaped',
    send: () => browse('GET', ep.device, { query: `${nested(100)}&foo=${TRUNCATED_ESCAPE}&bar=%ff%00` }),
    expect: ignored(200, { contains: 'user_code' }),
  },
  {
    name: 'GET with markup in user_code reflects it escaped',
    send: () =>
      browse('GET', ep.device, { query: `user_code=${encodeURIComponent('"><script>alert(1)</script>')}` }),
    expect: ignored(200, { contains: '&lt;script&gt;' }),
  },
  {
    name: 'POST without xsrf or cookies',
    send: () => postPage(ep.device, 'user_code=ABCD-EFGH'),
    expect: page(undefined, 400),
  },
  {
    name: 'POST with a forged session and junk xsrf',
    send: () => postPage(ep.device, 'xsrf=junk&user_code=ABCD-EFGH', { ...FORM, cookie: FORGED_SESSION }),
    expect: page(undefined, 400),
  },
  {
    name: 'POST with a session but junk xsrf',
    send: () => postDevice(() => 'xsrf=junk&user_code=ABCD-EFGH'),
    expect: page(undefined, 400),
  },
  {
    name: 'POST with user_code twice',
    send: () => postDevice((xsrf) => `xsrf=${xsrf}&user_code=A&user_code=B`),
    expect: page(undefined, 400),
  },
  {
    name: 'POST with text/plain',
    send: () => postDevice((xsrf) => `xsrf=${xsrf}&user_code=ABCD-EFGH`, 'text/plain'),
    expect: page(undefined, 400),
  },
  {
    name: 'POST with a 2 MiB form',
    send: () => postDevice((xsrf) => oversized(`xsrf=${xsrf}&user_code=ABCD-EFGH`)),
    expect: page(undefined, [400, 413]),
  },
  {
    name: 'POST with a junk user_code (valid xsrf) shows the form again with an error',
    send: () => postDevice((xsrf) => bytes(`xsrf=${xsrf}&user_code=${TRUNCATED_ESCAPE}`, [0xff, 0x00, 0xfe])),
    // oidc-provider re-renders the input page (200) for a wrong code, as a person typed it.
    expect: ignored(200, { contains: 'alert-error' }),
  },
  {
    name: 'resume with an unknown uid',
    send: () => browse('GET', `${ep.device}/unknown-uid`),
    expect: page(),
  },
  {
    name: 'PUT',
    send: () => browse('PUT', ep.device, { headers: FORM, body: 'user_code=x' }),
    expect: refused([404, 405]),
  },
].map((c) => ({ endpoint: 'device', ...c }));

const interactionCases: Case[] = [
  ...(['login', 'confirm', 'abort'] as const).flatMap((action) => [
    {
      name: `POST ${action} with an unknown uid and no cookies`,
      send: () => postPage(`/interaction/unknown-uid/${action}`, '_csrf=x'),
      expect: page('invalid_request', [400, 403]),
    },
    {
      name: `POST ${action} to the live uid without cookies`,
      send: () => postPage(`/interaction/${live.uid}/${action}`, `_csrf=${live.csrf}`),
      expect: page('invalid_request', 403),
    },
    {
      name: `POST ${action} with an unknown uid and the live interaction's cookies`,
      send: () =>
        postPage(`/interaction/unknown-uid/${action}`, `_csrf=${live.csrf}`, {
          ...FORM,
          cookie: live.interactionCookies,
        }),
      expect: page('invalid_request', 400),
    },
    {
      name: `POST ${action} with forged cookies`,
      send: () =>
        postPage(`/interaction/${live.uid}/${action}`, '_csrf=forged', {
          ...FORM,
          cookie: FORGED_INTERACTION,
        }),
      expect: page('invalid_request', 403),
    },
  ]),
  {
    name: 'GET an unknown uid without cookies',
    send: () => browse('GET', '/interaction/unknown-uid'),
    expect: page('invalid_request', 400),
  },
  {
    name: "GET an unknown uid with the live interaction's cookies",
    send: () => browse('GET', '/interaction/unknown-uid', { headers: { cookie: live.interactionCookies } }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'GET with forged cookies',
    send: () => browse('GET', `/interaction/${live.uid}`, { headers: { cookie: FORGED_INTERACTION } }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'GET with junk cookies',
    send: () => browse('GET', `/interaction/${live.uid}`, { headers: { cookie: JUNK_COOKIES } }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'GET a broken percent-encoded uid',
    send: () => browse('GET', `/interaction/${TRUNCATED_ESCAPE}`),
    expect: page('invalid_request', 400),
  },
  {
    name: 'GET a 10 kB uid',
    send: () => browse('GET', `/interaction/${'u'.repeat(10 * 1024)}`),
    expect: page('invalid_request', 400),
  },
  {
    name: 'GET with non-ASCII bytes in the Cookie header (node:http)',
    send: () =>
      raw('GET', `/interaction/${live.uid}`, {
        accept: ACCEPT_HTML,
        cookie: 'latchkey.interaction=\xff\xfe; latchkey.interaction.sig=\xe9\xe8',
      }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'login with email and password missing',
    send: () =>
      postPage(`/interaction/${live.uid}/login`, `_csrf=${live.csrf}`, {
        ...FORM,
        cookie: live.interactionCookies,
      }),
    expect: page(undefined, 400),
  },
  {
    name: 'login with email twice',
    send: () =>
      postPage(
        `/interaction/${live.uid}/login`,
        `_csrf=${live.csrf}&email=a@example.com&email=b@example.com&password=x`,
        { ...FORM, cookie: live.interactionCookies },
      ),
    expect: page(undefined, 400),
  },
  {
    name: 'login with _csrf twice',
    send: () =>
      postPage(
        `/interaction/${live.uid}/login`,
        `_csrf=${live.csrf}&_csrf=${live.csrf}&email=a@example.com&password=x`,
        { ...FORM, cookie: live.interactionCookies },
      ),
    expect: page('invalid_request', 403),
  },
  {
    name: 'login with a 2 MiB form',
    send: () =>
      postPage(`/interaction/${live.uid}/login`, oversized(`_csrf=${live.csrf}`), {
        ...FORM,
        cookie: live.interactionCookies,
      }),
    expect: page(undefined, [400, 413]),
  },
  {
    name: 'login with a 100 kB email',
    send: () =>
      postPage(`/interaction/${live.uid}/login`, `_csrf=${live.csrf}&email=${LONG}&password=x`, {
        ...FORM,
        cookie: live.interactionCookies,
      }),
    expect: page(undefined, [400, 413]),
  },
  {
    name: 'login with truncated percent-encoding',
    send: () =>
      postPage(
        `/interaction/${live.uid}/login`,
        `_csrf=${live.csrf}&email=${TRUNCATED_ESCAPE}&password=${TRUNCATED_ESCAPE}`,
        { ...FORM, cookie: live.interactionCookies },
      ),
    expect: page(undefined, 401),
  },
  {
    name: 'login with invalid UTF-8 and NUL bytes',
    send: () =>
      postPage(
        `/interaction/${live.uid}/login`,
        bytes(`_csrf=${live.csrf}&email=`, [...INVALID_UTF8, 0x00, 0x40], '%00&password=%00'),
        { ...FORM, cookie: live.interactionCookies },
      ),
    expect: page(undefined, 401),
  },
  {
    name: 'login with deeply nested brackets',
    send: () =>
      postPage(
        `/interaction/${live.uid}/login`,
        `_csrf=${live.csrf}&email${'[a]'.repeat(200)}=x&password[b][c]=y&${nested(500)}`,
        { ...FORM, cookie: live.interactionCookies },
      ),
    expect: page(undefined, 400),
  },
  {
    name: 'login with a JSON body',
    send: () =>
      postPage(
        `/interaction/${live.uid}/login`,
        JSON.stringify({ _csrf: live.csrf, email: 'ada@example.com', password: 'x' }),
        { 'content-type': 'application/json', cookie: live.interactionCookies },
      ),
    expect: page('invalid_request', [403, 415]),
  },
  {
    name: 'login with multipart junk',
    send: () =>
      postPage(`/interaction/${live.uid}/login`, MULTIPART.body, {
        ...MULTIPART.headers,
        cookie: live.interactionCookies,
      }),
    expect: page('invalid_request', [403, 415]),
  },
  {
    name: 'login with no content type',
    send: () =>
      postPage(`/interaction/${live.uid}/login`, Buffer.from(`_csrf=${live.csrf}`), {
        cookie: live.interactionCookies,
      }),
    expect: page('invalid_request', [403, 415]),
  },
  {
    name: 'login with a Content-Length larger than allowed (node:http)',
    send: () =>
      raw(
        'POST',
        `/interaction/${live.uid}/login`,
        { ...FORM, accept: ACCEPT_HTML, cookie: live.interactionCookies, 'content-length': String(10 * MiB) },
        Buffer.from(`_csrf=${live.csrf}`),
      ),
    expect: page(undefined, [400, 413]),
  },
  {
    name: 'login with an unknown charset',
    send: () =>
      postPage(`/interaction/${live.uid}/login`, `_csrf=${live.csrf}&email=a@example.com&password=x`, {
        'content-type': 'application/x-www-form-urlencoded; charset=x-bogus',
        cookie: live.interactionCookies,
      }),
    expect: page(undefined, [401, 415]),
  },
  {
    name: 'login with Content-Encoding: gzip and a body that is not gzip',
    send: () =>
      postPage(`/interaction/${live.uid}/login`, `_csrf=${live.csrf}&email=a@example.com&password=x`, {
        ...FORM,
        'content-encoding': 'gzip',
        cookie: live.interactionCookies,
      }),
    expect: page(undefined, [400, 415]),
  },
  {
    name: 'login with Content-Encoding: x-unknown',
    send: () =>
      postPage(`/interaction/${live.uid}/login`, `_csrf=${live.csrf}&email=a@example.com&password=x`, {
        ...FORM,
        'content-encoding': 'x-unknown',
        cookie: live.interactionCookies,
      }),
    expect: page(undefined, 415),
  },
  {
    name: 'login with 2 MiB chunked, without Content-Length (node:http)',
    send: () =>
      raw(
        'POST',
        `/interaction/${live.uid}/login`,
        { ...FORM, accept: ACCEPT_HTML, cookie: live.interactionCookies, 'transfer-encoding': 'chunked' },
        Buffer.from(oversized(`_csrf=${live.csrf}`)),
      ),
    expect: page(undefined, [400, 413]),
  },
  {
    name: 'confirm while the prompt is login',
    send: () =>
      postPage(`/interaction/${live.uid}/confirm`, `_csrf=${live.csrf}`, {
        ...FORM,
        cookie: live.interactionCookies,
      }),
    expect: page('invalid_request', 400),
  },
  {
    name: 'PUT login',
    send: () => browse('PUT', `/interaction/${live.uid}/login`, { headers: FORM, body: 'x=1' }),
    expect: refused([404, 405]),
  },
  { name: 'DELETE', send: () => browse('DELETE', `/interaction/${live.uid}`), expect: refused([404, 405]) },
].map((c) => ({ endpoint: 'interaction', ...c }));

/** Endpoints without input: junk is ignored, wrong methods refused. */
const metadataCases: Case[] = [
  ...(
    [
      '/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server',
      () => ep.jwks,
      '/healthz',
    ] as const
  ).flatMap((target) => {
    const path = () => (typeof target === 'function' ? target() : target);
    const endpoint = typeof target === 'function' ? 'jwks' : target;
    const cases: Case[] = [
      {
        endpoint,
        name: 'junk query, cookies and headers are ignored',
        send: () =>
          send('GET', path(), {
            query: `${nested(200)}&x=${TRUNCATED_ESCAPE}&y=%ff%00`,
            headers: {
              cookie: JUNK_COOKIES,
              'x-forwarded-for': 'junk',
              authorization: 'Basic !!!notbase64',
              dpop: 'garbage',
            },
          }),
        expect: ignored(200),
      },
      {
        endpoint,
        name: 'non-ASCII header bytes are ignored (node:http)',
        send: () => raw('GET', path(), { 'x-junk': '\xff\xfe\xe9', cookie: '\xff=\xfe' }),
        expect: ignored(200),
      },
    ];
    // /healthz answers any method (a load balancer's probe may use HEAD or POST): not a defect.
    if (endpoint === '/healthz') return cases;
    return [
      ...cases,
      { endpoint, name: 'POST', send: () => post(path(), 'x=1'), expect: refused([404, 405]) },
      { endpoint, name: 'DELETE', send: () => send('DELETE', path()), expect: refused([404, 405]) },
    ];
  }),
];

/** Malformed HTTP that Node's parser refuses before the app runs: still a 4xx, never a 5xx. */
const protocolCases: Case[] = [
  {
    name: 'NUL byte in a header value',
    send: () =>
      socket(
        Buffer.from(
          `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Junk: a\x00b\r\nConnection: close\r\n\r\n`,
          'latin1',
        ),
      ),
    expect: refused(400),
  },
  {
    name: 'both Content-Length and Transfer-Encoding',
    send: () =>
      socket(
        Buffer.from(
          `POST ${ep.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
            'Content-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
          'latin1',
        ),
      ),
    expect: refused(400),
  },
  {
    name: 'no Host header',
    send: () => socket(Buffer.from('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 'latin1')),
    expect: refused(400),
  },
  {
    name: 'a junk Host header with a bad authorization request (node:http)',
    send: () =>
      raw('GET', `${ep.authorization}?client_id=nope`, { host: 'evil.example:\xff', accept: ACCEPT_HTML }),
    expect: refused(),
  },
  {
    name: 'a non-number Content-Length',
    send: () =>
      socket(
        Buffer.from(
          `POST ${ep.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\nConnection: close\r\n\r\ngrant_type=x`,
          'latin1',
        ),
      ),
    expect: refused(400),
  },
].map((c) => ({ endpoint: 'http', ...c }));

const cases: Case[] = [
  ...tokenCases,
  ...userinfoCases,
  ...tokenManagementCases('introspection'),
  ...tokenManagementCases('revocation'),
  ...deviceAuthorizationCases,
  ...parCases,
  ...authorizationCases,
  ...endSessionCases,
  ...deviceCases,
  ...interactionCases,
  ...metadataCases,
  ...protocolCases,
];

// ---------------------------------------------------------------------------------------------
// Checks

function inRange(status: number, expected: Status | undefined): boolean {
  if (expected === undefined) return status >= 400 && status < 500;
  return Array.isArray(expected) ? expected.includes(status) : status === expected;
}

/** The error code an error page shows (views/error.pug), or undefined. */
function pageErrorCode(html: string): string | undefined {
  return /class="error-code"><code>([^<]*)<\/code>/.exec(html)?.[1];
}

/** A summary of the reply that makes a failed assertion readable. */
function summary(reply: Reply) {
  return {
    status: reply.status,
    contentType: reply.contentType,
    location: reply.location,
    body: reply.body.slice(0, 300),
  };
}

function checkReply(reply: Reply, expectation: Expectation): void {
  if (reply.status >= 500) expect(summary(reply)).toEqual({ expected: expectation });
  expect(reply.body).not.toMatch(STACK_TRACE);
  expect(reply.body).not.toContain('node_modules');

  switch (expectation.kind) {
    case 'json': {
      if (!inRange(reply.status, expectation.status) || !reply.contentType.startsWith('application/json')) {
        expect(summary(reply)).toEqual({ expected: expectation });
      }
      const body = JSON.parse(reply.body) as { error?: unknown };
      expect(PROTOCOL_ERRORS).toContain(body.error);
      if (expectation.error) expect(body.error).toBe(expectation.error);
      return;
    }
    case 'page': {
      if (!inRange(reply.status, expectation.status) || !reply.contentType.startsWith('text/html')) {
        expect(summary(reply)).toEqual({ expected: expectation });
      }
      const code = pageErrorCode(reply.body);
      if (code !== undefined) expect(PROTOCOL_ERRORS).toContain(code);
      else expect(reply.body).toContain('alert-error');
      if (expectation.error) expect(code).toBe(expectation.error);
      return;
    }
    case 'redirect': {
      if (reply.status !== 302 && reply.status !== 303)
        expect(summary(reply)).toEqual({ expected: expectation });
      const location = new URL(reply.location ?? '', server.url);
      expect(`${location.origin}${location.pathname}`).toBe(expectation.to);
      // response_mode=fragment (the default for response_type=token) puts the error in the fragment.
      const error =
        location.searchParams.get('error') ?? new URLSearchParams(location.hash.slice(1)).get('error');
      expect(PROTOCOL_ERRORS).toContain(error);
      if (expectation.error) expect(error).toBe(expectation.error);
      return;
    }
    case 'refused': {
      if (!inRange(reply.status, expectation.status))
        expect(summary(reply)).toEqual({ expected: expectation });
      return;
    }
    case 'ignored': {
      if (!inRange(reply.status, expectation.status))
        expect(summary(reply)).toEqual({ expected: expectation });
      if (expectation.contains) expect(reply.body).toContain(expectation.contains);
      if (expectation.absent) expect(`${reply.location} ${reply.body}`).not.toContain(expectation.absent);
      expect(reply.body).not.toMatch(/<script>alert/);
      return;
    }
  }
}

describe('malformed input gets a protocol error, never a 500', () => {
  test.each(cases)('$endpoint: $name', async ({ send: request, expect: expectation }) => {
    const loggedBefore = serverErrors.length;
    const reply = await request();
    checkReply(reply, expectation);
    // A 500 the error handler hid, or an error after the response was sent, shows up in the log
    // (a moment later, for the latter).
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(serverErrors.slice(loggedBefore)).toEqual([]);
  });

  test('device: the form on the error page after a POST without a session can be submitted', async () => {
    // The error page carries a fresh xsrf token: it must be stored in a session the browser gets a
    // cookie for, or the person is stuck on "Something went wrong" until they reload /device.
    const browser = new Browser(server.url);
    const refusedPost = await browser.page(`${server.url}${ep.device}`, {
      method: 'POST',
      headers: { ...FORM, accept: ACCEPT_HTML },
      body: 'user_code=ABCD-EFGH',
    });
    expect(refusedPost.status).toBe(400);
    const retried = await browser.page(`${server.url}${ep.device}`, {
      method: 'POST',
      headers: { ...FORM, accept: ACCEPT_HTML },
      body: new URLSearchParams({
        xsrf: hiddenInput(refusedPost.html, 'xsrf'),
        user_code: 'ABCD-EFGH',
      }).toString(),
    });
    // The xsrf token is accepted; only the (made-up) code is wrong: the form again, with that error.
    expect({ status: retried.status, error: /alert-error[^>]*>([^<]*)/.exec(retried.html)?.[1] }).toEqual({
      status: 200,
      error: 'That code is not valid or has expired. Check the code on your device and try again.',
    });
  });

  test('the server still answers /healthz after all of that', async () => {
    const reply = await send('GET', '/healthz');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ status: 'ok' });
  });
});
