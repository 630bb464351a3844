// Remembered consent: a user who allowed an app is not asked again in a later browser session,
// unless the app asks for more, or prompt=consent, or the user revoked the app meanwhile.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'openid-client';
import { Browser, formAction, hiddenInput, type Page } from './support/browser.js';
import { CALLBACK, discover, PASSWORD, seed, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

let server: TestServer;
let fixtures: Fixtures;

beforeAll(async () => {
  server = await startLatchkey();
  fixtures = await seed(server);
});
afterAll(() => server.close());

/** Signs in with a new browser (a new session) and reports whether the consent page came up. */
async function signIn(scope: string, extra: Record<string, string> = {}) {
  const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope,
    code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    ...extra,
  });
  const browser = new Browser(server.url);
  const login = (await browser.navigate(url.href)) as Page;
  let result = await browser.submit(formAction(login.html, '/login'), {
    email: 'ada@example.com',
    password: PASSWORD,
    _csrf: hiddenInput(login.html, '_csrf'),
  });
  let consented = false;
  if ('html' in result && result.html.includes('/confirm"')) {
    consented = true;
    result = await browser.submit(formAction(result.html, '/confirm'), {
      _csrf: hiddenInput(result.html, '_csrf'),
    });
  }
  if (!('redirect' in result)) throw new Error('expected a redirect back to the app');
  expect(new URL(result.redirect).searchParams.get('code')).toBeTruthy();
  return { consented };
}

describe('remembered consent', () => {
  it('asks once, not again in a new session; again for more scopes, for prompt=consent, and after a revoke', async () => {
    expect(await signIn('openid email')).toEqual({ consented: true });
    expect(await signIn('openid email')).toEqual({ consented: false });
    expect(await signIn('openid email profile')).toEqual({ consented: true });
    expect(await signIn('openid email', { prompt: 'consent' })).toEqual({ consented: true });

    // The user revokes the app (what the account page does): the next sign-in asks again.
    const account = (await server.latchkey.services.accounts.list()).find(
      (entry) => entry.email === 'ada@example.com',
    )!;
    for (const record of await server.latchkey.store.oidc.findByAccountId('Grant', account.id))
      await server.latchkey.store.oidc.revokeByGrantId(record.grantId!);
    expect(await signIn('openid email')).toEqual({ consented: true });
  });
});
