// Login throttling through the real login form (issue 16): tries are counted in the store before
// the password is checked, so a burst cannot outrun the limit, another address's failures cannot
// lock the owner out, and the counts hold across a restart and across processes on one file.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as oauth from 'openid-client';
import { Browser, formAction, hiddenInput } from './support/browser.js';
import { CALLBACK, discover, PASSWORD, seed, type Fixtures } from './support/flows.js';
import { startLatchkey, startLatchkeyProcess, type TestServer } from './support/latchkey.js';

const ENV = { TRUST_PROXY: 'true' };
const ATTACKER = '203.0.113.7';
const OWNER = '198.51.100.20';

let server: TestServer;
let fixtures: Fixtures;

beforeAll(async () => {
  server = await startLatchkey({ env: ENV });
  fixtures = await seed(server);
  for (const email of ['bob@example.com', 'carol@example.com']) {
    await server.latchkey.services.accounts.create({ email, name: email, password: PASSWORD });
  }
});

afterAll(async () => {
  await server.close();
});

interface LoginForm {
  /** Absolute URL of the form's action. */
  action: string;
  csrf: string;
  cookie: string;
}

/** Starts an authorization request in a fresh browser and returns its login form. */
async function openLoginForm(at: TestServer = server): Promise<LoginForm> {
  const config = await discover(at, fixtures.web.client_id, fixtures.web.client_secret);
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: 'openid email',
    code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    prompt: 'login',
  });
  const browser = new Browser(at.url);
  const page = await browser.page(url.href);
  const action = new URL(formAction(page.html, '/login'), at.url).href;
  return { action, csrf: hiddenInput(page.html, '_csrf'), cookie: await browser.jar.getCookieString(action) };
}

/** Posts the form as the browser would, from `from` (X-Forwarded-For) when given, to `base`. */
async function tryLogin(
  form: LoginForm,
  fields: { email: string; password: string },
  options: { from?: string; base?: string } = {},
): Promise<Response> {
  const action = options.base ? new URL(new URL(form.action).pathname, options.base).href : form.action;
  return fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: form.cookie,
      ...(options.from ? { 'x-forwarded-for': options.from } : {}),
    },
    body: new URLSearchParams({ ...fields, _csrf: form.csrf }).toString(),
  });
}

/**
 * Counts the password checks (one argon2 verification each) that `at` makes until `done()`, which
 * stops counting and returns how many there were.
 */
function countPasswordChecks(at: TestServer) {
  const spy = jest.spyOn(at.latchkey.services.accounts, 'authenticate');
  return {
    done(): number {
      const count = spy.mock.calls.length;
      spy.mockRestore();
      return count;
    },
  };
}

const signedIn = (response: Response) => response.status >= 300 && response.status < 400;

describe('login throttling', () => {
  test('a burst of 200 concurrent wrong passwords for one account makes at most 5 password checks, and no 5xx', async () => {
    const form = await openLoginForm();
    const counting = countPasswordChecks(server);
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        tryLogin(form, { email: 'ada@example.com', password: `wrong-${index}` }, { from: ATTACKER }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    const checks = counting.done();

    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    expect(statuses.every((status) => status === 401 || status === 429)).toBe(true);
    expect(checks).toBeLessThanOrEqual(5);
    expect(statuses.filter((status) => status === 401)).toHaveLength(checks);
    const refused = responses.find((response) => response.status === 429)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.text()).toContain('Too many failed attempts');
  });

  test('the owner signs in from their own address; the attacking address stays refused, right password or not', async () => {
    const attacked = await openLoginForm();
    const counting = countPasswordChecks(server);
    const fromAttacker = await tryLogin(
      attacked,
      { email: 'ada@example.com', password: PASSWORD },
      { from: ATTACKER },
    );
    expect(fromAttacker.status).toBe(429);
    // A 15-minute window, not a delay of a few seconds.
    expect(Number(fromAttacker.headers.get('retry-after'))).toBeGreaterThan(60);

    const fromOwner = await tryLogin(
      await openLoginForm(),
      { email: 'ada@example.com', password: PASSWORD },
      { from: OWNER },
    );
    const checks = counting.done();
    expect(signedIn(fromOwner)).toBe(true);
    expect(checks).toBe(1);
  });

  test('many addresses at once are slowed down per account, and the owner still gets a turn', async () => {
    const form = await openLoginForm();
    const counting = countPasswordChecks(server);
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        tryLogin(
          form,
          { email: 'carol@example.com', password: `wrong-${index}` },
          { from: `192.0.2.${index + 1}` },
        ),
      ),
    );
    const checks = counting.done();
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    // Ten free tries per account, then one at a time.
    expect(checks).toBeLessThanOrEqual(11);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(29);

    // The owner may have to wait for a turn (a few seconds at most here), never for a lock-out.
    const owner = await openLoginForm();
    let response = await tryLogin(owner, { email: 'carol@example.com', password: PASSWORD }, { from: OWNER });
    for (let attempt = 0; response.status === 429 && attempt < 3; attempt++) {
      const wait = Number(response.headers.get('retry-after'));
      expect(wait).toBeLessThanOrEqual(30);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      response = await tryLogin(owner, { email: 'carol@example.com', password: PASSWORD }, { from: OWNER });
    }
    expect(signedIn(response)).toBe(true);
  }, 60_000);

  test('the counts hold across a restart', async () => {
    const port = Number(new URL(server.url).port);
    await server.close({ keep: true });
    server = await startLatchkey({ dir: server.dir, port, env: ENV });

    const counting = countPasswordChecks(server);
    const fromAttacker = await tryLogin(
      await openLoginForm(),
      { email: 'ada@example.com', password: PASSWORD },
      { from: ATTACKER },
    );
    const checks = counting.done();
    expect(fromAttacker.status).toBe(429);
    expect(Number(fromAttacker.headers.get('retry-after'))).toBeGreaterThan(60);
    expect(checks).toBe(0);
  });

  test('two processes on one SQLite file count one account as one', async () => {
    const other = await startLatchkeyProcess(server);
    try {
      // No X-Forwarded-For: both processes see the test's own address.
      const form = await openLoginForm();
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          tryLogin(
            form,
            { email: 'bob@example.com', password: `wrong-${index}` },
            { base: index % 2 === 0 ? server.url : other.url },
          ),
        ),
      );
      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status !== 401 && status !== 429)).toEqual([]);
      // Each 401 is one password check, in whichever process made it.
      expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(5);
      for (const base of [server.url, other.url]) {
        const response = await tryLogin(form, { email: 'bob@example.com', password: PASSWORD }, { base });
        expect(response.status).toBe(429);
      }
    } finally {
      await other.stop();
    }
  }, 60_000);
});

describe('password spraying from one address', () => {
  test('after 50 failed tries across accounts the address is refused; other addresses are not', async () => {
    const SPRAYER = '192.0.2.99';
    await server.latchkey.services.accounts.create({
      email: 'dave@example.com',
      name: 'Dave',
      password: PASSWORD,
    });
    const form = await openLoginForm();
    const statuses: number[] = [];
    for (let index = 0; index < 52; index++) {
      const response = await tryLogin(
        form,
        { email: `user-${index}@example.com`, password: 'Winter2026!' },
        { from: SPRAYER },
      );
      statuses.push(response.status);
    }
    expect(statuses.slice(0, 50).every((status) => status === 401)).toBe(true);
    expect(statuses.slice(50)).toEqual([429, 429]);
    // The sprayer's right password for a real account is refused too: nothing is checked.
    const counting = countPasswordChecks(server);
    const blocked = await tryLogin(
      form,
      { email: 'dave@example.com', password: PASSWORD },
      { from: SPRAYER },
    );
    expect(blocked.status).toBe(429);
    expect(counting.done()).toBe(0);
    const elsewhere = await tryLogin(
      await openLoginForm(),
      { email: 'dave@example.com', password: PASSWORD },
      { from: '198.51.100.77' },
    );
    expect(signedIn(elsewhere)).toBe(true);
  });
});
