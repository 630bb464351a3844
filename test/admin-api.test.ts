// The admin HTTP API (/admin/v1) against a real server: tokens for the built-in admin API, got
// through a client grant like any other API's; clients, grants, APIs, users, keys and vault
// integrations over HTTP; malformed input answered with a 4xx naming the field and the store left
// as it was; and an OpenAPI 3.1 document that validates and lists every route the router has.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import request from 'supertest';
import { ADMIN_API_IDENTIFIER } from '../src/admin/admin-api.js';
import {
  ADMIN_BASE_PATH,
  adminResourceProvider,
  adminRoutes,
  createAdminApi,
} from '../src/admin/middleware.js';
import type { AdminDeps } from '../src/admin/types.js';
import { CALLBACK, codeFlow, discover, PASSWORD } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

const ORDERS = 'https://api.example.com/orders';

let server: TestServer;
let admin: string;
let writer: { id: string; secret: string };
let reader: string;

/** A client_credentials token request as a client would send it (RFC 6749 §4.4, RFC 8707). */
function tokenRequest(clientId: string, secret: string, resource: string, scope: string) {
  return request(server.url)
    .post('/token')
    .auth(clientId, secret)
    .type('form')
    .send({ grant_type: 'client_credentials', resource, scope });
}

async function tokenFor(clientId: string, secret: string, resource: string, scope: string): Promise<string> {
  const response = await tokenRequest(clientId, secret, resource, scope);
  expect(response.status).toBe(200);
  return response.body.access_token as string;
}

/** A client granted these admin scopes, and a token carrying them. */
async function adminClient(name: string, scope: string) {
  const { clients, grants } = server.latchkey.services;
  const client = await clients.add({ name, grantTypes: ['client_credentials'] });
  await grants.grant(client.client_id, ADMIN_API_IDENTIFIER(server.url), scope);
  const token = await tokenFor(
    client.client_id,
    client.client_secret!,
    ADMIN_API_IDENTIFIER(server.url),
    scope,
  );
  return { id: client.client_id, secret: client.client_secret!, token };
}

/** A call to the admin API with a token (or none). */
function call(
  method: 'get' | 'post' | 'put' | 'patch' | 'delete',
  path: string,
  token: string | null = admin,
) {
  const pending = request(server.url)[method](`${ADMIN_BASE_PATH}${path}`);
  return token ? pending.set('Authorization', `Bearer ${token}`) : pending;
}

/** What the store holds, in numbers: malformed requests must leave it exactly so. */
async function storeSnapshot() {
  const { clients, apis, accounts, grants } = server.latchkey.services;
  const clientList = await clients.list();
  const grantCounts = await Promise.all(
    clientList.map(async (client) => (await grants.list(client.client_id)).length),
  );
  return {
    clients: clientList.map((client) => JSON.stringify(client)).sort(),
    apis: (await apis.list()).map((api) => JSON.stringify(api)).sort(),
    users: (await accounts.list()).map((account) => JSON.stringify(account)).sort(),
    grants: grantCounts.reduce((sum, count) => sum + count, 0),
  };
}

beforeAll(async () => {
  server = await startLatchkey();
  const full = await adminClient('Admin console', 'admin:read admin:write');
  admin = full.token;
  writer = { id: full.id, secret: full.secret };
  reader = (await adminClient('Admin dashboard', 'admin:read')).token;
});

afterAll(async () => {
  await server?.close();
});

describe('tokens for the admin API', () => {
  test('no token: 401 with an RFC 6750 WWW-Authenticate challenge', async () => {
    const response = await call('get', '/clients', null);
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(response.headers['content-type']).toMatch(/json/);
  });

  test('a token that is not one: 401 invalid_token', async () => {
    const response = await call('get', '/clients', 'not-a-token');
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  });

  test('admin:read alone cannot write: 403 insufficient_scope naming admin:write, nothing stored', async () => {
    const before = await storeSnapshot();
    const response = await call('post', '/clients', reader).send({ client_name: 'Sneaky' });
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('insufficient_scope');
    expect(response.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
    expect(response.headers['www-authenticate']).toMatch(/scope="admin:write"/);
    expect(await storeSnapshot()).toEqual(before);
    // ... but it reads.
    expect((await call('get', '/clients', reader)).status).toBe(200);
  });

  test('a client without an admin grant gets invalid_target at the token endpoint', async () => {
    const { clients } = server.latchkey.services;
    const plain = await clients.add({ name: 'Plain app', grantTypes: ['client_credentials'] });
    const response = await tokenRequest(
      plain.client_id,
      plain.client_secret!,
      ADMIN_API_IDENTIFIER(server.url),
      'admin:read',
    );
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('invalid_target');
  });

  test('every route but the document needs its scope: 401 without a token, 403 with admin:read alone where it needs more', async () => {
    const deps: AdminDeps = {
      issuer: server.url,
      services: server.latchkey.services,
      vault: server.latchkey.vault,
      provider: server.latchkey.provider,
      validateClient: async () => undefined,
    };
    const routes = adminRoutes(deps);
    expect(routes.length).toBeGreaterThan(25);
    const before = await storeSnapshot();
    const answers = [];
    for (const route of routes) {
      // Any value in the path: the token is checked before the path, query and body are.
      const path = route.path.replace(/\{\w+\}/g, 'x');
      const where = `${route.method} ${route.path}`;
      const anonymous = await call(route.method, path, null).send({});
      answers.push([where, anonymous.status, /^Bearer /.test(anonymous.headers['www-authenticate'] ?? '')]);
      if (route.scope !== 'admin:read') {
        const readOnly = await call(route.method, path, reader).send({});
        answers.push([where, readOnly.status, readOnly.body.error]);
      }
    }
    expect(answers).toEqual(
      answers.map(([where, , third]) =>
        typeof third === 'boolean' ? [where, 401, true] : [where, 403, 'insufficient_scope'],
      ),
    );
    expect(await storeSnapshot()).toEqual(before);
  });

  test('a removed client’s admin token stops working at once, though it is a JWT', async () => {
    const doomed = await adminClient('Doomed console', 'admin:read');
    expect((await call('get', '/clients', doomed.token)).status).toBe(200);
    expect((await call('delete', `/clients/${doomed.id}`)).status).toBe(200);
    // The client cache of this process lives 0.5 s.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const refused = await call('get', '/clients', doomed.token);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  });

  test('answers are never cached', async () => {
    expect((await call('get', '/clients')).headers['cache-control']).toBe('no-store');
  });
});

describe('clients and grants', () => {
  test('creates a client, grants it an API, rotates its secret: the old one stops working', async () => {
    expect(
      (await call('post', '/apis').send({ identifier: ORDERS, scope: 'orders:read orders:write' })).status,
    ).toBe(201);
    const created = await call('post', '/clients').send({
      client_name: 'Orders app',
      grant_types: ['client_credentials'],
    });
    expect(created.status).toBe(201);
    const { client_id: clientId, client_secret: firstSecret } = created.body;
    expect(typeof firstSecret).toBe('string');

    const granted = await call('put', `/clients/${clientId}/grants`).send({
      api: ORDERS,
      scope: 'orders:read',
    });
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ client_id: clientId, api: ORDERS, scope: 'orders:read' });

    const shown = await call('get', `/clients/${clientId}`, reader);
    expect(shown.status).toBe(200);
    expect(shown.body.client_secret).toBeUndefined();
    expect(shown.body.grants).toEqual([expect.objectContaining({ api: ORDERS, scope: 'orders:read' })]);
    expect((await call('get', `/clients/${clientId}/grants`, reader)).body.data).toHaveLength(1);

    await tokenFor(clientId, firstSecret, ORDERS, 'orders:read');
    const rotated = await call('post', `/clients/${clientId}/rotate-secret`);
    expect(rotated.status).toBe(200);
    const secondSecret = rotated.body.client_secret as string;
    expect(secondSecret).toEqual(expect.any(String));
    expect(secondSecret).not.toBe(firstSecret);
    const refused = await tokenRequest(clientId, firstSecret, ORDERS, 'orders:read');
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
    await tokenFor(clientId, secondSecret, ORDERS, 'orders:read');
    // A scope outside the grant is still refused.
    expect((await tokenRequest(clientId, secondSecret, ORDERS, 'orders:write')).body.error).toBe(
      'invalid_scope',
    );

    const updated = await call('patch', `/clients/${clientId}`).send({ client_name: 'Orders backend' });
    expect(updated.status).toBe(200);
    expect(updated.body.client_name).toBe('Orders backend');
    expect(updated.body.client_secret).toBeUndefined();

    const ungranted = await call('delete', `/clients/${clientId}/grants?api=${encodeURIComponent(ORDERS)}`);
    expect(ungranted.status).toBe(200);
    expect(ungranted.body).toEqual({ client_id: clientId, api: ORDERS, removed: true });
    expect((await tokenRequest(clientId, secondSecret, ORDERS, 'orders:read')).body.error).toBe(
      'invalid_target',
    );

    const removed = await call('delete', `/clients/${clientId}`);
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ client_id: clientId, removed: true });
    expect((await call('get', `/clients/${clientId}`)).status).toBe(404);
    expect((await tokenRequest(clientId, secondSecret, ORDERS, 'orders:read')).status).toBe(401);
  });

  test('lists clients page by page: limit 2 over five more clients, following next_cursor', async () => {
    for (let index = 0; index < 5; index++)
      expect((await call('post', '/clients').send({ client_name: `Paged ${index}` })).status).toBe(201);
    const everyId = (await server.latchkey.services.clients.list()).map((client) => client.client_id);
    expect(everyId.length).toBeGreaterThanOrEqual(7);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const page = await call('get', `/clients${query}`, reader);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      for (const client of page.body.data) expect(client.client_secret).toBeUndefined();
      seen.push(...page.body.data.map((client: { client_id: string }) => client.client_id));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor && pages < 20);
    expect(pages).toBe(Math.ceil(everyId.length / 2));
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual([...everyId].sort());
    // Creation order: the five made last come last.
    expect(seen.slice(-5).length).toBe(5);

    const bad = await call('get', '/clients?limit=2&cursor=nonsense', reader);
    expect(bad.status).toBe(400);
    expect(bad.body.error_description).toMatch(/query\.cursor/);
  });
});

describe('malformed input', () => {
  const uri = encodeURIComponent;
  let otherUser = '';
  const cases: Array<[string, 'post' | 'put' | 'patch' | 'get', () => string, unknown, number, RegExp]> = [
    ['a name of the wrong type', 'post', () => '/clients', { client_name: 5 }, 400, /body\.client_name: /],
    [
      'an unknown field',
      'post',
      () => '/clients',
      { client_name: 'X', colour: 'red' },
      400,
      /body\.colour: unknown field/,
    ],
    [
      'an invalid redirect URI',
      'post',
      () => '/clients',
      { client_name: 'X', redirect_uris: ['https://ok.example/cb', 'not a uri'] },
      400,
      /body\.redirect_uris\[1\]: /,
    ],
    [
      'a scope with a quote',
      'post',
      () => '/clients',
      { client_name: 'X', scope: 'openid "evil"' },
      400,
      /body\.scope: .*RFC 6749/,
    ],
    [
      'a scope no API has',
      'post',
      () => '/clients',
      { client_name: 'X', scope: 'ghost:read' },
      400,
      /ghost:read/,
    ],
    [
      'an unknown grant type',
      'post',
      () => '/clients',
      { client_name: 'X', grant_types: ['password'] },
      400,
      /body\.grant_types\[0\]: /,
    ],
    [
      'a redirect URI with a fragment (oidc-provider refuses it)',
      'post',
      () => '/clients',
      { client_name: 'X', redirect_uris: ['https://app.example/cb#part'] },
      400,
      /fragment/,
    ],
    ['an empty change', 'patch', () => `/clients/${writer.id}`, {}, 400, /nothing to change/],
    [
      'a grant scope with a backslash',
      'put',
      () => `/clients/${writer.id}/grants`,
      { api: ORDERS, scope: 'orders:read\\' },
      400,
      /body\.scope: /,
    ],
    [
      'a grant of a scope the API lacks',
      'put',
      () => `/clients/${writer.id}/grants`,
      { api: ORDERS, scope: 'orders:delete' },
      400,
      /orders:delete/,
    ],
    [
      'an API identifier that is no URI',
      'post',
      () => '/apis',
      { identifier: 'orders', scope: 'read' },
      400,
      /body\.identifier: /,
    ],
    [
      'an API scope with a control character',
      'post',
      () => '/apis',
      { identifier: 'https://api.example.com/x', scope: 'read\u0007' },
      400,
      /body\.scope: /,
    ],
    [
      'an API that exists already',
      'post',
      () => '/apis',
      { identifier: ORDERS, scope: 'orders:read' },
      409,
      /api\.example\.com\/orders|exists/,
    ],
    [
      'an API ttl of the wrong type',
      'patch',
      () => `/apis/${uri(ORDERS)}`,
      { ttl: '60' },
      400,
      /body\.ttl: /,
    ],
    [
      'a short password',
      'post',
      () => '/users',
      { email: 'bob@example.com', name: 'Bob', password: 'short' },
      400,
      /body\.password: /,
    ],
    [
      'a duplicate email',
      'post',
      () => '/users',
      { email: 'Taken@Example.com', name: 'Other', password: 'long enough password' },
      409,
      /email/,
    ],
    ['a body that is not an object', 'post', () => '/users', ['a'], 400, /body: /],
    [
      'a logo URI that is not a web page, at update',
      'patch',
      () => `/clients/${writer.id}`,
      { logo_uri: 'javascript:alert(1)' },
      400,
      /body\.logo_uri: /,
    ],
    [
      'a token lifetime out of range, at update',
      'patch',
      () => `/clients/${writer.id}`,
      { access_token_ttl: 5 },
      400,
      /body\.access_token_ttl: /,
    ],
    [
      'a scope with illegal characters, at update',
      'patch',
      () => `/clients/${writer.id}`,
      { scope: 'openid orders\\read' },
      400,
      /body\.scope: /,
    ],
    [
      'an email another user has, at update',
      'patch',
      () => `/users/${otherUser}`,
      { email: 'TAKEN@example.com' },
      409,
      /email/,
    ],
    [
      'an API description of a scope it lacks',
      'patch',
      () => `/apis/${uri(ORDERS)}`,
      { scope_descriptions: { 'orders:nuke': 'Nuke' } },
      400,
      /orders:nuke/,
    ],
    ['a query parameter out of range', 'get', () => '/clients?limit=0', undefined, 400, /query\.limit: /],
    [
      'a query parameter of the wrong type',
      'get',
      () => '/users?limit=many',
      undefined,
      400,
      /query\.limit: /,
    ],
    [
      'an unknown query parameter',
      'get',
      () => '/apis?sort=name',
      undefined,
      400,
      /query\.sort: unknown field/,
    ],
  ];

  beforeAll(async () => {
    if (!(await server.latchkey.services.apis.show(ORDERS)))
      await server.latchkey.services.apis.add({ identifier: ORDERS, scope: 'orders:read orders:write' });
    await server.latchkey.services.accounts.create({
      email: 'taken@example.com',
      name: 'Taken',
      password: PASSWORD,
    });
    otherUser = (
      await server.latchkey.services.accounts.create({
        email: 'other@example.com',
        name: 'Other',
        password: PASSWORD,
      })
    ).id;
  });

  test.each(cases)(
    '%s: %s answers the status and names the field; the store is unchanged',
    async (_name, method, path, body, status, description) => {
      const before = await storeSnapshot();
      const pending = call(method, path());
      const response = body === undefined ? await pending : await pending.send(body as object);
      expect(response.status).toBe(status);
      expect(response.headers['content-type']).toMatch(/application\/json/);
      expect(response.body.error).toEqual(expect.any(String));
      expect(response.body.error_description).toMatch(description);
      expect(await storeSnapshot()).toEqual(before);
    },
  );

  test('JSON that does not parse, and a body over the size limit, are 4xx too', async () => {
    const before = await storeSnapshot();
    const broken = await call('post', '/clients')
      .set('content-type', 'application/json')
      .send('{"client_name":');
    expect(broken.status).toBe(400);
    expect(broken.body.error).toBe('invalid_request');
    const huge = await call('post', '/clients').send({ client_name: 'x'.repeat(70 * 1024) });
    expect(huge.status).toBe(413);
    expect(await storeSnapshot()).toEqual(before);
  });

  test('unknown ids: 404 not_found on every route that names one', async () => {
    const nobody = 'no-such-id';
    const api = uri('https://nowhere.example/api');
    const attempts = [
      call('get', `/clients/${nobody}`),
      call('patch', `/clients/${nobody}`).send({ client_name: 'X' }),
      call('delete', `/clients/${nobody}`),
      call('post', `/clients/${nobody}/rotate-secret`),
      call('get', `/clients/${nobody}/grants`),
      call('put', `/clients/${nobody}/grants`).send({ api: ORDERS, scope: 'orders:read' }),
      call('put', `/clients/${writer.id}/grants`).send({ api: 'https://nowhere.example/api', scope: 'read' }),
      call('delete', `/clients/${writer.id}/grants?api=${api}`),
      call('get', `/clients/${nobody}/vault/integrations`),
      call('post', `/clients/${nobody}/vault/integrations`).send({
        key: 'gh',
        provider: 'github',
        client_id: 'x',
        client_secret: 'y',
      }),
      call('delete', `/clients/${writer.id}/vault/integrations/none`),
      call('get', `/apis/${api}`),
      call('patch', `/apis/${api}`).send({ ttl: 60 }),
      call('delete', `/apis/${api}`),
      call('get', `/users/${nobody}`),
      call('patch', `/users/${nobody}`).send({ name: 'X' }),
      call('delete', `/users/${nobody}`),
      call('post', `/users/${nobody}/disable`),
      call('post', `/users/${nobody}/enable`),
      call('post', `/users/${nobody}/set-password`).send({ password: 'long enough password' }),
      call('get', '/no-such-route'),
    ];
    const answers = await Promise.all(attempts);
    // Each answer with its place in the list, so that a failure says which request it was.
    expect(answers.map((response, index) => [index, response.status, response.body.error])).toEqual(
      answers.map((_response, index) => [index, 404, 'not_found']),
    );
    const wrongMethod = await call('put', '/keys');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body.error).toBe('method_not_allowed');
  });
});

describe('APIs', () => {
  test('create, update, show, remove refused while granted (409), then forced', async () => {
    const identifier = 'https://api.example.com/billing';
    const path = `/apis/${encodeURIComponent(identifier)}`;
    const created = await call('post', '/apis').send({
      identifier,
      scope: 'billing:read billing:write',
      name: 'Billing',
      scope_descriptions: { 'billing:read': 'See your invoices' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      identifier,
      scope: 'billing:read billing:write',
      format: 'jwt',
      ttl: 3600,
    });

    const updated = await call('patch', path).send({ ttl: 300, format: 'opaque' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ ttl: 300, format: 'opaque' });

    expect(
      (await call('put', `/clients/${writer.id}/grants`).send({ api: identifier, scope: 'billing:read' }))
        .status,
    ).toBe(200);
    const shown = await call('get', path, reader);
    expect(shown.body.grants).toEqual([{ client_id: writer.id, scope: 'billing:read' }]);

    const refused = await call('delete', path);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('conflict');
    expect(refused.body.error_description).toContain(writer.id);
    expect((await call('get', path)).status).toBe(200);

    const forced = await call('delete', `${path}?force=true`);
    expect(forced.status).toBe(200);
    expect(forced.body).toEqual({ identifier, removed: true });
    expect((await call('get', path)).status).toBe(404);
    expect(await server.latchkey.services.grants.list(writer.id)).toEqual([
      expect.objectContaining({ api: ADMIN_API_IDENTIFIER(server.url) }),
    ]);
  });

  test('lists APIs page by page, the built-in ones included', async () => {
    const first = await call('get', '/apis?limit=1', reader);
    expect(first.body.data).toHaveLength(1);
    const all = await call('get', '/apis?limit=200', reader);
    expect(all.body.next_cursor).toBeNull();
    expect(all.body.data.map((api: { identifier: string }) => api.identifier)).toContain(
      ADMIN_API_IDENTIFIER(server.url),
    );
  });
});

describe('users', () => {
  test('create, disable (its tokens revoked), enable, set a password, remove', async () => {
    const created = await call('post', '/users').send({
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      password: PASSWORD,
      email_verified: true,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'ada@example.com', disabled: false, email_verified: true });
    expect(JSON.stringify(created.body)).not.toMatch(/password|argon2/i);
    const userId = created.body.id as string;

    const web = await call('post', '/clients').send({
      client_name: 'Web app',
      redirect_uris: [CALLBACK],
      scope: 'openid offline_access',
    });
    expect(web.status).toBe(201);
    const config = await discover(server, web.body.client_id, web.body.client_secret);
    const { tokens } = await codeFlow(server, config, CALLBACK, 'openid offline_access');
    const me = () =>
      request(server.url).get('/v1/users/me').set('Authorization', `Bearer ${tokens.access_token}`);
    expect((await me()).status).toBe(200);

    const disabled = await call('post', `/users/${userId}/disable`);
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabled).toBe(true);
    expect((await me()).status).toBe(401);
    const refresh = await request(server.url)
      .post('/token')
      .auth(web.body.client_id, web.body.client_secret)
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refresh.body.error).toBe('invalid_grant');

    const enabled = await call('post', `/users/${userId}/enable`);
    expect(enabled.body.disabled).toBe(false);
    const renamed = await call('patch', `/users/${userId}`).send({ name: 'Ada King' });
    expect(renamed.body.name).toBe('Ada King');
    expect(
      (await call('post', `/users/${userId}/set-password`).send({ password: 'another long password' })).body,
    ).toEqual({
      id: userId,
      updated: true,
    });
    expect(
      await server.latchkey.services.accounts.authenticate('ada@example.com', 'another long password'),
    ).toBeDefined();

    const listed = await call('get', '/users?limit=200', reader);
    expect(listed.body.data.map((user: { id: string }) => user.id)).toContain(userId);

    expect((await call('delete', `/users/${userId}`)).body).toEqual({ id: userId, removed: true });
    expect((await call('get', `/users/${userId}`)).status).toBe(404);
  });
});

describe('keys and vault integrations', () => {
  test('keys: public facts only; rotate makes the next key active', async () => {
    const listed = await call('get', '/keys', reader);
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toMatch(/"d"|private|sealed/i);
    const next = listed.body.data.filter((key: { status: string }) => key.status === 'next');
    const rotated = await call('post', '/keys/rotate');
    expect(rotated.status).toBe(200);
    const active = rotated.body.data.filter((key: { status: string }) => key.status === 'active');
    expect(active.map((key: { kid: string }) => key.kid).sort()).toEqual(
      next.map((key: { kid: string }) => key.kid).sort(),
    );
    // The admin API still takes a token after the switch (this process reloaded its keys).
    const fresh = await tokenFor(writer.id, writer.secret, ADMIN_API_IDENTIFIER(server.url), 'admin:read');
    expect((await call('get', '/keys', fresh)).status).toBe(200);
  });

  test('an app’s vault integrations: add (the secret never comes back), list, remove', async () => {
    const app = (await call('post', '/clients').send({ client_name: 'Vault app' })).body.client_id as string;
    const base = `/clients/${app}/vault/integrations`;
    const created = await call('post', base).send({
      key: 'github',
      provider: 'github',
      client_id: 'gh-client',
      client_secret: 'gh-secret-value',
      scopes: ['read:user'],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      key: 'github',
      has_client_secret: true,
      redirect_uri: `${server.url}/vault/callback`,
    });
    expect(JSON.stringify(created.body)).not.toContain('gh-secret-value');
    expect(
      (
        await call('post', base).send({
          key: 'github',
          provider: 'github',
          client_id: 'x',
          client_secret: 'y',
        })
      ).status,
    ).toBe(409);
    expect(
      (await call('post', base).send({ key: 'Bad Key', provider: 'github', client_id: 'x' })).body
        .error_description,
    ).toMatch(/body\.key: /);
    const listed = await call('get', base, reader);
    expect(listed.body.data).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain('gh-secret-value');
    expect((await call('delete', `${base}/github`)).body).toEqual({
      client_id: app,
      key: 'github',
      removed: true,
    });
    expect((await call('get', base, reader)).body.data).toEqual([]);
  });
});

describe('the OpenAPI document', () => {
  let document: any;

  beforeAll(async () => {
    const response = await request(server.url).get(`${ADMIN_BASE_PATH}/openapi.json`);
    expect(response.status).toBe(200);
    document = response.body;
  });

  test('is served without a token and is valid OpenAPI 3.1', async () => {
    expect(document.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // Every $ref resolves.
    expect(() => validator.resolveRefs()).not.toThrow();
  });

  test('its schemas are JSON Schema 2020-12 that the answers really fit', async () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema({ $id: 'admin.json', components: document.components });
    const fits = (component: string, value: unknown) => {
      const validate = ajv.getSchema(`admin.json#/components/schemas/${component}`)!;
      return validate(value) ? [] : validate.errors;
    };
    expect(fits('ClientPage', (await call('get', '/clients?limit=3', reader)).body)).toEqual([]);
    expect(fits('ApiPage', (await call('get', '/apis', reader)).body)).toEqual([]);
    expect(fits('SigningKeyList', (await call('get', '/keys', reader)).body)).toEqual([]);
    expect(fits('Error', (await call('get', '/users/nobody', reader)).body)).toEqual([]);
    expect(fits('ClientCreate', { client_name: 'X', bogus: true })).not.toEqual([]);
  });

  test('has the security scheme, and every route the router has (and no other)', () => {
    const scheme = document.components.securitySchemes.oauth2;
    expect(scheme.flows.clientCredentials.tokenUrl).toBe(`${server.url}/token`);
    expect(Object.keys(scheme.flows.clientCredentials.scopes)).toEqual([
      'admin:read',
      'admin:write',
      'admin:login',
    ]);
    expect(document.servers).toEqual([{ url: `${server.url}${ADMIN_BASE_PATH}` }]);

    const { latchkey } = server;
    const deps: AdminDeps = {
      issuer: server.url,
      services: latchkey.services,
      vault: latchkey.vault,
      provider: latchkey.provider,
      validateClient: async () => undefined,
    };
    const { router } = createAdminApi(deps, adminResourceProvider(deps));
    const routed = router.stack.flatMap((layer) =>
      layer.methods
        .filter((method) => method !== 'HEAD')
        .map((method) => {
          const path = String(layer.path)
            .slice(ADMIN_BASE_PATH.length)
            .replace(/:(\w+)/g, '{$1}');
          return `${method.toLowerCase()} ${path}`;
        }),
    );
    const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`),
    );
    expect(routed.length).toBeGreaterThan(25);
    expect([...documented].sort()).toEqual([...routed].sort());

    for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        const where = `${method} ${path}`;
        expect([where, operation.responses['400']]).toEqual([where, expect.anything()]);
        if (path === '/openapi.json') continue;
        // Answering login and consent challenges (LOGIN_URL) has a scope of its own.
        const handOff = /^\/(login-requests|consent-requests|subjects)\//.test(path);
        const scope = handOff ? 'admin:login' : method === 'get' ? 'admin:read' : 'admin:write';
        expect([where, operation.security]).toEqual([where, [{ oauth2: [scope] }]]);
        expect([where, operation.responses['401'], operation.responses['403']]).toEqual([
          where,
          expect.anything(),
          expect.anything(),
        ]);
        if (['post', 'put', 'patch'].includes(method) && operation.requestBody)
          expect(operation.requestBody.content['application/json'].schema).toEqual(expect.anything());
      }
    }
  });
});
