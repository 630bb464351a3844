// Three Latchkey processes on one store, behind one front door (test/support/cluster.ts), on one
// SQLite file and again on one PostgreSQL database (skipped, with the reason, where no server
// answers): a flow may hop between instances, a rotated refresh token is refused as reused
// wherever it comes back, a client changed through one instance is seen by the others within a
// second, wrong passwords and DPoP proofs count once for the whole cluster, the vault refreshes an
// upstream token once, and a `kill -9` of one instance under load costs neither the others'
// answers nor a refresh token a caller was given.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPair } from 'jose';
import * as oauth from 'openid-client';
import { ADMIN_API_IDENTIFIER } from '../src/admin/admin-api.js';
import { Browser, formAction, hiddenInput } from './support/browser.js';
import {
  clusterSkipReason,
  FRONT_ERROR_HEADER,
  INSTANCE_HEADER,
  startCluster,
  type Cluster,
  type ClusterStoreKind,
} from './support/cluster.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { CALLBACK, PASSWORD, seed, type Fixtures } from './support/flows.js';
import { dpopProof } from './support/resource-api.js';
import { vaultApp } from './support/vault.js';

const NATIVE_CALLBACK = 'http://127.0.0.1:9/native';

interface Answer {
  status: number;
  body: any;
  /** The instance that answered, or undefined when the front answered for one that did not. */
  instance: number | undefined;
  /** The front's reason when the chosen instance did not answer. */
  frontError: string | undefined;
}

/** A form POST through the front, to a chosen instance (or the next in turn). */
async function post(
  cluster: Cluster,
  path: string,
  form: Record<string, string>,
  options: { instance?: number; basic?: [string, string]; dpop?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (options.dpop) headers.dpop = options.dpop;
  if (options.instance !== undefined) headers[INSTANCE_HEADER] = String(options.instance);
  if (options.basic) {
    const [id, secret] = options.basic.map(encodeURIComponent);
    headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  }
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${cluster.issuer}${path}`, {
      method: 'POST',
      headers,
      body: new URLSearchParams(form).toString(),
    });
    text = await response.text();
  } catch {
    // The front ends the connection when an instance dies in the middle of its answer.
    return { status: 0, body: undefined, instance: undefined, frontError: 'connection ended' };
  }
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  const served = response.headers.get(INSTANCE_HEADER);
  const frontError = response.headers.get(FRONT_ERROR_HEADER) ?? undefined;
  return {
    status: response.status,
    body,
    instance: frontError === undefined && served !== null ? Number(served) : undefined,
    frontError,
  };
}

/** A refresh token grant for the public (native) client: RFC 6749 §6. */
function refresh(cluster: Cluster, fixtures: Fixtures, token: string, instance?: number) {
  return post(
    cluster,
    '/token',
    { grant_type: 'refresh_token', refresh_token: token, client_id: fixtures.native.client_id },
    instance === undefined ? {} : { instance },
  );
}

/** A client_credentials grant (RFC 6749 §4.4) for an API the client holds a grant for. */
function clientCredentials(
  cluster: Cluster,
  client: { client_id: string; client_secret: string },
  resource: string,
  instance?: number,
) {
  return post(
    cluster,
    '/token',
    { grant_type: 'client_credentials', resource, scope: 'read' },
    { basic: [client.client_id, client.client_secret], ...(instance === undefined ? {} : { instance }) },
  );
}

/**
 * A whole sign-in of the public client (authorization request, login, consent, code exchange),
 * each step on the instance `steps` names ('round-robin' lets the front choose). Resolves with
 * the token answer, or with the step's failure when an instance was down (under load).
 */
async function signIn(
  cluster: Cluster,
  fixtures: Fixtures,
  steps: { authorize: number; login: number; consent: number; exchange: number } | 'round-robin',
  /** A DPoP proof for the code exchange: the tokens are then bound to its key (RFC 9449 §5). */
  dpop?: string,
): Promise<{ ok: true; refreshToken: string; accessToken: string } | { ok: false; reason: string }> {
  const pick = (step: 'authorize' | 'login' | 'consent' | 'exchange') =>
    steps === 'round-robin' ? undefined : steps[step];
  const pin = (step: 'authorize' | 'login' | 'consent' | 'exchange') => {
    if (steps !== 'round-robin') cluster.route(steps[step]);
  };
  const browser = new Browser(cluster.issuer);
  const verifier = oauth.randomPKCECodeVerifier();
  const authorization = new URL(`${cluster.issuer}/auth`);
  authorization.search = new URLSearchParams({
    client_id: fixtures.native.client_id,
    response_type: 'code',
    redirect_uri: NATIVE_CALLBACK,
    scope: 'openid email offline_access',
    prompt: 'consent',
    state: oauth.randomState(),
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();

  pin('authorize');
  let page = await browser.navigate(authorization.href);
  for (const step of ['login', 'consent'] as const) {
    if ('redirect' in page) return { ok: false, reason: `sent to ${page.redirect} before ${step}` };
    if (page.status !== 200) return { ok: false, reason: `${step} page answered ${page.status}` };
    pin(step);
    page =
      step === 'login'
        ? await browser.submit(formAction(page.html, '/login'), {
            email: fixtures.user.email,
            password: PASSWORD,
            _csrf: hiddenInput(page.html, '_csrf'),
          })
        : await browser.submit(formAction(page.html, '/confirm'), {
            _csrf: hiddenInput(page.html, '_csrf'),
          });
  }
  if (!('redirect' in page)) return { ok: false, reason: `no redirect after consent (${page.status})` };
  const callback = new URL(page.redirect);
  const code = callback.searchParams.get('code');
  if (!code) return { ok: false, reason: `callback without a code: ${callback.search}` };
  const exchange = pick('exchange');
  const tokens = await post(
    cluster,
    '/token',
    {
      grant_type: 'authorization_code',
      code,
      redirect_uri: NATIVE_CALLBACK,
      client_id: fixtures.native.client_id,
      code_verifier: verifier,
    },
    { ...(exchange === undefined ? {} : { instance: exchange }), ...(dpop ? { dpop } : {}) },
  );
  if (tokens.status !== 200) return { ok: false, reason: `code exchange answered ${tokens.status}` };
  return { ok: true, refreshToken: tokens.body.refresh_token, accessToken: tokens.body.access_token };
}

interface LoginForm {
  action: string;
  csrf: string;
  cookie: string;
}

/** An authorization request of the web client on one instance, up to its login form. */
async function openLoginForm(cluster: Cluster, fixtures: Fixtures, instance: number): Promise<LoginForm> {
  const authorization = new URL(`${cluster.issuer}/auth`);
  authorization.search = new URLSearchParams({
    client_id: fixtures.web.client_id,
    response_type: 'code',
    redirect_uri: CALLBACK,
    scope: 'openid',
    prompt: 'login',
  }).toString();
  const browser = new Browser(cluster.issuer);
  cluster.route(instance);
  const page = await browser.page(authorization.href);
  cluster.route('round-robin');
  const action = new URL(formAction(page.html, '/login'), cluster.issuer).href;
  return { action, csrf: hiddenInput(page.html, '_csrf'), cookie: await browser.jar.getCookieString(action) };
}

/** Posts the login form, as its browser would, to one instance. */
function tryLogin(cluster: Cluster, form: LoginForm, email: string, password: string, instance: number) {
  return fetch(form.action, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: form.cookie,
      [INSTANCE_HEADER]: String(instance),
    },
    body: new URLSearchParams({ email, password, _csrf: form.csrf }).toString(),
  });
}

/** GET /me (the OIDC userinfo endpoint) with a bearer token, on one instance. */
async function userinfo(cluster: Cluster, accessToken: string, instance: number) {
  const response = await fetch(`${cluster.issuer}/me`, {
    headers: { authorization: `Bearer ${accessToken}`, [INSTANCE_HEADER]: String(instance) },
  });
  return { status: response.status, body: response.ok ? await response.json() : undefined };
}

const kinds: ClusterStoreKind[] = ['sqlite', 'postgres'];

describe.each(kinds)('three Latchkey processes on one %s store', (kind) => {
  let skipReason: string | undefined;
  let cluster: Cluster;
  let fixtures: Fixtures;
  const providers: FakeProvider[] = [];

  beforeAll(async () => {
    skipReason = await clusterSkipReason(kind);
    if (skipReason !== undefined) {
      console.warn(`multi-instance tests on ${kind} skipped: ${skipReason}`);
      return;
    }
    cluster = await startCluster({ kind, size: 3 });
    fixtures = await seed(cluster.front);
  }, 60_000);

  afterAll(async () => {
    for (const provider of providers.splice(0)) await provider.close();
    await cluster?.stop();
  }, 30_000);

  /** A test that skips (passing, with the reason already printed) where its store is missing. */
  const test = (name: string, body: () => Promise<void>, timeout?: number) =>
    it(
      name,
      async () => {
        if (skipReason !== undefined) return;
        cluster.route('round-robin');
        await body();
      },
      timeout,
    );

  test('a login started on one instance completes on the others', async () => {
    cluster.clearAnswers();
    const result = await signIn(cluster, fixtures, { authorize: 0, login: 1, consent: 2, exchange: 0 });
    cluster.route('round-robin');
    if (!result.ok) throw new Error(result.reason);
    const served = (method: string, prefix: string) =>
      new Set(
        cluster.answers
          .filter((answer) => answer.method === method && answer.path.startsWith(prefix))
          .map((answer) => answer.instance),
      );
    // The authorization request and the login page on 0, the login POST on 1, consent on 2.
    expect(served('GET', '/auth')).toEqual(new Set([0, 1, 2]));
    expect(served('POST', '/interaction/')).toEqual(new Set([1, 2]));
    expect(served('POST', '/token')).toEqual(new Set([0]));
    expect(cluster.answers.filter((answer) => answer.status >= 500)).toEqual([]);
    // The tokens work everywhere: userinfo on 1, a refresh on 2.
    expect(await userinfo(cluster, result.accessToken, 1)).toMatchObject({
      status: 200,
      body: { sub: fixtures.user.id, email: fixtures.user.email },
    });
    expect((await refresh(cluster, fixtures, result.refreshToken, 2)).status).toBe(200);
  });

  test('a rotated refresh token used again on another instance is refused and revokes the grant', async () => {
    const result = await signIn(cluster, fixtures, 'round-robin');
    if (!result.ok) throw new Error(result.reason);
    const first = result.refreshToken;
    const rotated = await refresh(cluster, fixtures, first, 0);
    expect(rotated.status).toBe(200);
    const second = rotated.body.refresh_token as string;
    // A public client gets a new refresh token on every use (RFC 9700 §4.14.2).
    expect(second).not.toBe(first);

    const reused = await refresh(cluster, fixtures, first, 1);
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    // The whole grant went with it: the token the thief or the client holds now is refused
    // everywhere, and so is the access token that came with it.
    for (const instance of [0, 1, 2]) {
      const later = await refresh(cluster, fixtures, second, instance);
      expect(later.status).toBe(400);
      expect(later.body.error).toBe('invalid_grant');
      expect((await userinfo(cluster, rotated.body.access_token, instance)).status).toBe(401);
    }
  });

  test('a client changed through one instance’s admin API is seen by the others within one second', async () => {
    const { clients, grants } = cluster.front.latchkey.services;
    const adminConsole = await clients.add({ name: 'Admin console', grantTypes: ['client_credentials'] });
    const adminApi = ADMIN_API_IDENTIFIER(cluster.issuer);
    await grants.grant(adminConsole.client_id, adminApi, 'admin:write');
    const adminToken = await post(
      cluster,
      '/token',
      { grant_type: 'client_credentials', resource: adminApi, scope: 'admin:write' },
      { basic: [adminConsole.client_id, adminConsole.client_secret!], instance: 0 },
    );
    expect(adminToken.status).toBe(200);
    const service = fixtures.service;
    // Every instance has read (and may cache) the client as it was.
    for (const instance of [0, 1, 2]) {
      expect((await clientCredentials(cluster, service, fixtures.opaqueApi, instance)).status).toBe(200);
    }

    const rotation = await fetch(`${cluster.issuer}/admin/v1/clients/${service.client_id}/rotate-secret`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken.body.access_token}`, [INSTANCE_HEADER]: '0' },
    });
    const changedAt = Date.now();
    expect(rotation.status).toBe(200);
    const rotated = { ...service, client_secret: ((await rotation.json()) as any).client_secret as string };
    expect(rotated.client_secret).not.toBe(service.client_secret);

    const seenAfter: Record<number, number> = {};
    while (Date.now() - changedAt < 3000 && Object.keys(seenAfter).length < 2) {
      for (const instance of [1, 2]) {
        if (seenAfter[instance] !== undefined) continue;
        const [withNew, withOld] = await Promise.all([
          clientCredentials(cluster, rotated, fixtures.opaqueApi, instance),
          clientCredentials(cluster, service, fixtures.opaqueApi, instance),
        ]);
        if (withNew.status === 200 && withOld.status === 401) seenAfter[instance] = Date.now() - changedAt;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(Object.keys(seenAfter).sort()).toEqual(['1', '2']);
    expect(Math.max(...Object.values(seenAfter))).toBeLessThanOrEqual(1000);
    fixtures.service = rotated;
  });

  test('200 concurrent vault token calls on an expired connection, over three instances, refresh once', async () => {
    const app = await vaultApp(cluster.front);
    // The provider holds its answer 300 ms, so that every call arrives while the refresh is in flight.
    const fake = await startFakeProvider({ delayMs: 300 });
    providers.push(fake);
    const created = await app.call('POST', '/vault/integrations', {
      key: 'fake',
      provider: 'oidc',
      issuer: fake.url,
      client_id: fake.clientId,
      client_secret: fake.clientSecret,
      scopes: ['files.read'],
    });
    expect(created.status).toBe(201);
    const session = await app.call('POST', '/vault/connect-sessions', {
      integration: 'fake',
      end_user_id: 'end-user-1',
      return_url: 'http://127.0.0.1:9/back',
    });
    expect(session.status).toBe(201);
    const connect = await new Browser(cluster.issuer, fake.url).navigate(session.body.url);
    if (!('redirect' in connect)) throw new Error(`connect flow stopped at a page: ${connect.status}`);
    expect(new URL(connect.redirect).searchParams.get('status')).toBe('connected');

    // Expired, as time would make it.
    const { vaultConnections } = cluster.front.latchkey.store;
    const record = (await vaultConnections.get(app.clientId, 'fake', 'end-user-1'))!;
    expect(
      await vaultConnections.replaceIfVersion(
        { ...record, expiresAt: Date.now() - 1000, version: record.version + 1 },
        record.version,
      ),
    ).toBe(true);
    const refreshesBefore = fake.stats.refreshes;

    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, index) => {
        const response = await fetch(`${cluster.issuer}/vault/connections/fake/end-user-1/token`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${app.token}`,
            'content-type': 'application/json',
            [INSTANCE_HEADER]: String(index % 3),
          },
          body: '{}',
        });
        return { status: response.status, body: (await response.json()) as { access_token?: string } };
      }),
    );
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(new Set(answers.map((answer) => answer.body.access_token)).size).toBe(1);
    expect(fake.stats.refreshes - refreshesBefore).toBe(1);
  }, 30_000);

  test('kill -9 of one instance under load: the others keep answering, no refresh token is lost', async () => {
    const LOAD_MS = 3000;
    const KILL_AFTER_MS = 1000;
    const VICTIM = 1;
    // Refresh chains: each held by one worker, which always holds the last token it was given.
    const chains: { token: string; inDoubt: boolean }[] = [];
    for (let index = 0; index < 4; index++) {
      const result = await signIn(cluster, fixtures, 'round-robin');
      if (!result.ok) throw new Error(result.reason);
      chains.push({ token: result.refreshToken, inDoubt: false });
    }
    cluster.clearAnswers();
    const started = Date.now();
    const deadline = started + LOAD_MS;
    const outcomes = { logins: 0, refreshes: 0, clientCredentials: 0, refusedByFront: 0 };
    const unexpected: string[] = [];

    const refresher = async (chain: { token: string; inDoubt: boolean }) => {
      while (Date.now() < deadline && !chain.inDoubt) {
        const answer = await refresh(cluster, fixtures, chain.token);
        if (answer.status === 200) {
          chain.token = answer.body.refresh_token;
          outcomes.refreshes++;
        } else if (answer.frontError === 'down') {
          outcomes.refusedByFront++;
        } else if (answer.frontError !== undefined) {
          // The instance died with this refresh in it: the token may have been used, and its
          // successor never reached the caller. Reusing it would (rightly) revoke the grant.
          chain.inDoubt = true;
          outcomes.refusedByFront++;
        } else {
          unexpected.push(`refresh on ${answer.instance}: ${answer.status} ${JSON.stringify(answer.body)}`);
          return;
        }
      }
    };
    const loginWorker = async () => {
      while (Date.now() < deadline) {
        try {
          const result = await signIn(cluster, fixtures, 'round-robin');
          if (result.ok) {
            chains.push({ token: result.refreshToken, inDoubt: false });
            outcomes.logins++;
          } else if (!/502/.test(result.reason)) {
            unexpected.push(`login: ${result.reason}`);
          }
        } catch (error) {
          // A page cut short by the kill: the front's 502 has no form on it, or the connection
          // ended mid-answer.
          if (!/no form|no input|fetch failed/.test((error as Error).message))
            unexpected.push(`login: ${error}`);
        }
      }
    };
    const clientCredentialsWorker = async () => {
      while (Date.now() < deadline) {
        const answer = await clientCredentials(cluster, fixtures.service, fixtures.opaqueApi);
        if (answer.status === 200) outcomes.clientCredentials++;
        else if (answer.frontError !== undefined) outcomes.refusedByFront++;
        else unexpected.push(`client_credentials on ${answer.instance}: ${answer.status}`);
      }
    };

    // Killed, then started again at once, as an orchestrator would: the load goes on meanwhile.
    let killedAt = 0;
    let restartedAt = 0;
    const killer = (async () => {
      await new Promise((resolve) => setTimeout(resolve, KILL_AFTER_MS));
      await cluster.kill(VICTIM);
      killedAt = Date.now();
      await cluster.restart(VICTIM);
      restartedAt = Date.now();
    })();
    await Promise.all([
      killer,
      ...chains.map((chain) => refresher(chain)),
      loginWorker(),
      clientCredentialsWorker(),
      clientCredentialsWorker(),
    ]);

    expect(unexpected).toEqual([]);
    // No instance answered with a server error, before the kill or after it.
    expect(cluster.answers.filter((answer) => !answer.fromFront && answer.status >= 500)).toEqual([]);
    // The two others kept answering while the victim was down.
    const whileDown = cluster.answers.filter(
      (answer) => answer.at > killedAt && answer.at < restartedAt && !answer.fromFront,
    );
    for (const survivor of [0, 2]) {
      expect(whileDown.filter((answer) => answer.instance === survivor).length).toBeGreaterThan(10);
    }
    expect(whileDown.filter((answer) => answer.instance === VICTIM)).toEqual([]);
    expect(outcomes.refreshes).toBeGreaterThan(10);
    expect(outcomes.clientCredentials).toBeGreaterThan(10);
    expect(outcomes.logins).toBeGreaterThan(0);

    // After the restart, every refresh token a caller holds works once, on any instance, the
    // restarted one too. A token whose refresh died with the instance either still works or was
    // used by that very refresh (the caller's own rotation), never anything else.
    const checks = await Promise.all(
      chains.map(async (chain, index) => ({
        chain,
        answer: await refresh(cluster, fixtures, chain.token, index % 3),
      })),
    );
    for (const { chain, answer } of checks) {
      if (chain.inDoubt) expect([200, 400]).toContain(answer.status);
      else expect({ status: answer.status, body: answer.body }).toMatchObject({ status: 200 });
    }
  }, 40_000);

  test('wrong passwords spread over three instances are throttled as the same number on one', async () => {
    const { accounts } = cluster.front.latchkey.services;
    for (const email of ['grace@example.com', 'hedy@example.com']) {
      await accounts.create({ email, name: email, password: PASSWORD });
    }
    // Five tries per account and address in a window (src/authorization/login-throttle.ts), counted
    // in the store: the fifth wrong password, wherever it went, uses up the address's tries on all.
    const form = await openLoginForm(cluster, fixtures, 0);
    for (const [index, instance] of [0, 1, 2, 0, 1].entries()) {
      const answer = await tryLogin(cluster, form, 'grace@example.com', `wrong-${index}`, instance);
      expect(answer.status).toBe(401);
    }
    for (const instance of [2, 0, 1]) {
      const answer = await tryLogin(cluster, form, 'grace@example.com', PASSWORD, instance);
      expect(answer.status).toBe(429);
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(60);
    }

    // A burst over the three at once: still at most five passwords checked (a 401 each).
    const burst = await Promise.all(
      Array.from({ length: 60 }, (_, index) =>
        tryLogin(cluster, form, 'hedy@example.com', `wrong-${index}`, index % 3),
      ),
    );
    const statuses = burst.map((answer) => answer.status);
    expect(statuses.filter((status) => status !== 401 && status !== 429)).toEqual([]);
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(5);
  });

  test('a DPoP proof used at one instance is refused at the others', async () => {
    const keyPair = await generateKeyPair('ES256');
    const tokenUrl = `${cluster.issuer}/token`;
    // At the authorization server: a client_credentials request with a proof (RFC 9449 §5).
    const service = fixtures.service;
    const withProof = (proof: string, instance: number) =>
      post(
        cluster,
        '/token',
        { grant_type: 'client_credentials', resource: fixtures.opaqueApi, scope: 'read' },
        { basic: [service.client_id, service.client_secret], instance, dpop: proof },
      );
    const proof = await dpopProof(keyPair, { method: 'POST', url: tokenUrl });
    const accepted = await withProof(proof, 0);
    expect(accepted.status).toBe(200);
    expect(accepted.body.token_type).toBe('DPoP');
    for (const instance of [1, 2]) {
      const replayed = await withProof(proof, instance);
      expect(replayed.status).toBe(400);
      expect(replayed.body.error).toBe('invalid_grant');
    }
    const fresh = await dpopProof(keyPair, { method: 'POST', url: tokenUrl });
    expect((await withProof(fresh, 1)).status).toBe(200);

    // At the resource checks (/v1): a user's DPoP-bound access token, one proof per request.
    const signedIn = await signIn(
      cluster,
      fixtures,
      'round-robin',
      await dpopProof(keyPair, { method: 'POST', url: tokenUrl }),
    );
    if (!signedIn.ok) throw new Error(signedIn.reason);
    const me = `${cluster.issuer}/v1/users/me`;
    const callMe = (dpop: string, instance: number) =>
      fetch(me, {
        headers: {
          authorization: `DPoP ${signedIn.accessToken}`,
          dpop,
          [INSTANCE_HEADER]: String(instance),
        },
      });
    const used = await dpopProof(keyPair, { method: 'GET', url: me, accessToken: signedIn.accessToken });
    expect((await callMe(used, 2)).status).toBe(200);
    for (const instance of [0, 1]) {
      const replayed = await callMe(used, instance);
      expect(replayed.status).toBe(401);
      expect(await replayed.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    }
  });
});
