// `@latchkey/resource` as an API author gets it: the package is built, packed with `npm pack`,
// installed from the tarball into an empty project, and a script there checks a real Latchkey's
// JWT and opaque access tokens through the node:http, Express and Koa helpers, under the system
// Node 20 and under the project's Node 24.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLatchkey, type TestServer } from './support/latchkey.js';

const run = promisify(execFile);
const SYSTEM_NODE = '/usr/bin/node';
const PACKAGE_DIR = join(process.cwd(), 'packages/resource');
const JWT_API = 'https://orders.example.test';
const OPAQUE_API = 'https://ledger.example.test';

/** Children get a plain environment: jest's --experimental-vm-modules is not theirs. */
const childEnv = { ...process.env, NODE_OPTIONS: '', npm_config_fund: 'false', npm_config_audit: 'false' };

/**
 * What the scratch project runs: one node:http server whose paths each use one helper, called
 * with each token. Its output is one JSON document: the Node version and every answer.
 */
const CHECK_SCRIPT = `
import { createServer } from 'node:http';
import {
  createResourceProvider,
  expressErrorHandler,
  expressRequireToken,
  requireToken,
  sendResourceError,
} from '@latchkey/resource';

const input = JSON.parse(process.env.CHECK_INPUT);
const jwtResource = createResourceProvider({ issuer: input.issuer, audience: input.jwtApi });
const opaqueResource = createResourceProvider({
  issuer: input.issuer,
  audience: input.opaqueApi,
  introspection: { clientId: input.apiClient.id, clientSecret: input.apiClient.secret },
});

const json = (res, status, body) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

// node:http: authenticate(req), and sendResourceError for whatever it throws.
async function nodeRoute(req, res, resource, scopes) {
  try {
    json(res, 200, await resource.authenticate(req, { scopes }));
  } catch (error) {
    sendResourceError(res, resource, error);
  }
}

// Express: the middleware sets req.auth; the error handler answers what the route throws.
function expressRoute(req, res, resource, scopes) {
  const onError = expressErrorHandler(resource);
  expressRequireToken(resource, { scopes })(req, res, (error) => {
    if (error) return onError(error, req, res, () => json(res, 500, { error: 'unexpected' }));
    json(res, 200, req.auth);
  });
}

// Koa's context, reduced to what requireToken reads and writes: no Koa is installed here.
async function koaRoute(req, res, resource, scopes) {
  const headers = {};
  const ctx = {
    method: req.method, href: 'http://' + req.headers.host + req.url, headers: req.headers,
    request: {}, state: {}, status: 404, body: undefined,
    set: (name, value) => { headers[name] = value; },
  };
  await requireToken(resource, { scopes })(ctx, async () => {
    ctx.status = 200;
    ctx.body = ctx.state.auth;
  });
  res.writeHead(ctx.status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(ctx.body));
}

const routes = {
  '/node/read': (req, res) => nodeRoute(req, res, jwtResource, ['read']),
  '/node/write': (req, res) => nodeRoute(req, res, jwtResource, ['write']),
  '/express/read': (req, res) => expressRoute(req, res, opaqueResource, ['read']),
  '/koa/read': (req, res) => koaRoute(req, res, jwtResource, ['read']),
};
const server = createServer((req, res) => routes[req.url](req, res));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = 'http://127.0.0.1:' + server.address().port;

const answers = {};
for (const [name, path, token] of [
  ['jwt', '/node/read', input.jwt],
  ['jwtWithoutScope', '/node/write', input.jwt],
  ['noToken', '/node/read', undefined],
  ['opaqueAtJwtApi', '/node/read', input.opaque],
  ['opaque', '/express/read', input.opaque],
  ['jwtAtOpaqueApi', '/express/read', input.jwt],
  ['koaJwt', '/koa/read', input.jwt],
]) {
  const response = await fetch(base + path, { headers: token ? { authorization: 'Bearer ' + token } : {} });
  answers[name] = {
    status: response.status,
    challenge: response.headers.get('www-authenticate'),
    body: await response.json(),
  };
}
server.close();
console.log(JSON.stringify({ node: process.version, answers }));
`;

interface Answer {
  status: number;
  challenge: string | null;
  body: Record<string, unknown>;
}

interface CheckOutput {
  node: string;
  answers: Record<string, Answer>;
}

let server: TestServer;
let dir: string;
let scratch: string;
let checkInput: string;
let caller: { client_id: string };

/** A client_credentials token for one API, asked for at the token endpoint as any client would. */
async function clientCredentials(client: { client_id: string; client_secret?: string }, resource: string) {
  const { token_endpoint } = (await (
    await fetch(`${server.url}/.well-known/openid-configuration`)
  ).json()) as { token_endpoint: string };
  const response = await fetch(token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token for ${resource}: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Builds the package, packs it and installs the tarball into an empty project; returns that project. */
async function installPackedPackage(): Promise<string> {
  const tsc = join(process.cwd(), 'node_modules/typescript/bin/tsc');
  await run(process.execPath, [tsc, '-p', join(PACKAGE_DIR, 'tsconfig.json')], { env: childEnv });
  const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: PACKAGE_DIR,
    env: childEnv,
  });
  const [{ filename, size, files }] = JSON.parse(packed.stdout) as Array<{
    filename: string;
    size: number;
    files: Array<{ path: string }>;
  }>;
  const project = join(dir, 'api');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'scratch-api', version: '1.0.0', private: true, type: 'module' }),
  );
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(dir, filename)],
    { cwd: project, env: childEnv },
  );
  const { stdout: du } = await run('du', ['-sk', 'node_modules'], { cwd: project });
  const installed = Object.keys(
    (
      JSON.parse(readFileSync(join(project, 'node_modules/.package-lock.json'), 'utf8')) as {
        packages: Record<string, unknown>;
      }
    ).packages,
  )
    .map((path) => path.replace(/^.*node_modules\//, ''))
    .filter((name) => name !== '@latchkey/resource');
  console.log(
    `@latchkey/resource: tarball ${(size / 1024).toFixed(1)} kB (${files.length} files); installed ` +
      `${du.split('\t')[0]} kB in node_modules, ${installed.length} dependencies (${installed.join(', ')})`,
  );
  return project;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-resource-package-'));
  const [project, started] = await Promise.all([installPackedPackage(), startLatchkey()]);
  scratch = project;
  server = started;
  writeFileSync(join(scratch, 'check.mjs'), CHECK_SCRIPT);

  const { apis, clients } = server.latchkey.services;
  await apis.add({ identifier: JWT_API, scope: 'read write', format: 'jwt', ttl: 600 });
  await apis.add({ identifier: OPAQUE_API, scope: 'read', format: 'opaque', ttl: 600 });
  const apiClient = (await clients.add({
    name: 'Ledger API',
    grantTypes: ['client_credentials'],
    resourceServers: [OPAQUE_API],
  })) as { client_id: string; client_secret: string };
  const callerClient = (await clients.add({
    name: 'Reporting job',
    grantTypes: ['client_credentials'],
  })) as { client_id: string; client_secret: string };
  caller = callerClient;
  // Where clients get tokens for an API only through an admin's grant, grant these two.
  const { grants } = server.latchkey.services as {
    grants?: { grant(clientId: string, api: string, scope: string): Promise<unknown> };
  };
  await grants?.grant(callerClient.client_id, JWT_API, 'read');
  await grants?.grant(callerClient.client_id, OPAQUE_API, 'read');

  checkInput = JSON.stringify({
    issuer: server.url,
    jwtApi: JWT_API,
    opaqueApi: OPAQUE_API,
    apiClient: { id: apiClient.client_id, secret: apiClient.client_secret },
    jwt: await clientCredentials(callerClient, JWT_API),
    opaque: await clientCredentials(callerClient, OPAQUE_API),
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function check(node: string): Promise<CheckOutput> {
  const { stdout } = await run(node, ['check.mjs'], {
    cwd: scratch,
    env: { ...childEnv, CHECK_INPUT: checkInput },
    timeout: 30_000,
  });
  return JSON.parse(stdout) as CheckOutput;
}

function expectAnswers({ answers }: CheckOutput): void {
  expect(answers.jwt).toMatchObject({
    status: 200,
    body: { valid: true, clientId: caller.client_id, format: 'jwt', scopes: ['read'], audience: [JWT_API] },
  });
  expect(answers.jwt!.body.accountId).toBeUndefined();
  expect(answers.jwtWithoutScope).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
  expect(answers.jwtWithoutScope!.challenge).toContain('scope="write"');
  expect(answers.noToken).toMatchObject({ status: 401, challenge: 'Bearer realm="latchkey"' });
  // The JWT API's checker has no introspection credentials: an opaque token is refused, not a 500.
  expect(answers.opaqueAtJwtApi).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
  expect(answers.opaque).toMatchObject({
    status: 200,
    body: {
      valid: true,
      clientId: caller.client_id,
      format: 'opaque',
      scopes: ['read'],
      audience: [OPAQUE_API],
    },
  });
  expect(answers.jwtAtOpaqueApi).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
  expect(answers.jwtAtOpaqueApi!.challenge).toMatch(/^Bearer realm="latchkey", error="invalid_token"/);
  expect(answers.koaJwt).toMatchObject({ status: 200, body: { format: 'jwt', clientId: caller.client_id } });
}

describe('@latchkey/resource installed from its npm pack tarball', () => {
  test('the installed package holds its build, types and README, and depends on jose and lru-cache only', () => {
    const installed = join(scratch, 'node_modules/@latchkey/resource');
    expect(existsSync(join(installed, 'dist/index.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist/index.d.ts'))).toBe(true);
    expect(existsSync(join(installed, 'README.md'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false);
    expect(readdirSync(join(scratch, 'node_modules')).sort()).toEqual([
      '.package-lock.json',
      '@latchkey',
      'jose',
      'lru-cache',
    ]);
  });

  test("checks a Latchkey JWT and an opaque token under the project's Node", async () => {
    const output = await check(process.execPath);
    expect(output.node).toBe(process.version);
    expectAnswers(output);
  });

  const noSystemNode = existsSync(SYSTEM_NODE) ? undefined : `${SYSTEM_NODE} is missing`;
  if (noSystemNode) console.log(`@latchkey/resource under Node 20: skipped (${noSystemNode})`);
  (noSystemNode ? test.skip : test)(
    `checks a Latchkey JWT and an opaque token under the system Node (${SYSTEM_NODE})${noSystemNode ? `: skipped, ${noSystemNode}` : ''}`,
    async () => {
      const output = await check(SYSTEM_NODE);
      console.log(`@latchkey/resource under the system Node: ${output.node}`);
      // The package's engines field promises Node 20 and later.
      expect(Number(/^v(\d+)\./.exec(output.node)![1])).toBeGreaterThanOrEqual(20);
      expectAnswers(output);
    },
  );
});
