// Shared steps of the LOGIN_URL suites: a client of the operator's app holding `admin:login`, its
// admin API calls, a code flow's authorization URL, and the example app in a process of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as oauth from 'openid-client';
import { ADMIN_API_IDENTIFIER } from '../../src/admin/admin-api.js';
import { ADMIN_BASE_PATH } from '../../src/admin/middleware.js';
import type { TestServer } from './latchkey.js';
import { CALLBACK } from './flows.js';

export interface AdminClient {
  client_id: string;
  client_secret: string;
  token: string;
}

/** A client_credentials client granted these admin scopes, and a token carrying them. */
export async function adminClient(server: TestServer, scope: string): Promise<AdminClient> {
  const { clients, grants } = server.latchkey.services;
  const client = await clients.add({ name: `App with ${scope}`, grantTypes: ['client_credentials'] });
  await grants.grant(client.client_id, ADMIN_API_IDENTIFIER(server.url), scope);
  const response = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      resource: ADMIN_API_IDENTIFIER(server.url),
    }).toString(),
  });
  const body = (await response.json()) as { access_token: string };
  return { client_id: client.client_id, client_secret: client.client_secret!, token: body.access_token };
}

export interface AdminAnswer {
  status: number;
  body: any;
  headers: Headers;
}

/** One admin API call: GET, or POST/PUT with a JSON body (a string is sent as it is). */
export async function adminCall(
  server: TestServer,
  token: string,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
): Promise<AdminAnswer> {
  const response = await fetch(`${server.url}${ADMIN_BASE_PATH}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

export interface Flow {
  url: URL;
  verifier: string;
  state: string;
}

/** A code flow with PKCE, as openid-client builds it. */
export async function authorizationUrl(
  config: oauth.Configuration,
  extra: Record<string, string> = {},
): Promise<Flow> {
  const verifier = oauth.randomPKCECodeVerifier();
  const state = oauth.randomState();
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: 'openid profile email',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url, verifier, state };
}

/** A port nothing listens on now (for LOGIN_URL, before the app there starts). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export interface ExampleProcess {
  url: string;
  stop(): Promise<void>;
}

/** examples/login-url-app in a process of its own, as an operator runs it (`node app.js`). */
export async function startLoginUrlApp(env: Record<string, string>): Promise<ExampleProcess> {
  const script = fileURLToPath(new URL('../../examples/login-url-app/app.js', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [script], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the example app exited (${code})`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
