// The connected-apps page: a user sees what they granted and revoking an app kills its tokens.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oauth from 'openid-client';
import { Browser, formAction, hiddenInput } from './support/browser.js';
import { CALLBACK, PASSWORD, codeFlow, discover, seed, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

let server: TestServer;
let fixtures: Fixtures;

beforeAll(async () => {
  server = await startLatchkey();
  fixtures = await seed(server);
});

afterAll(async () => {
  await server.close();
});

test('the account page lists granted apps; revoking one makes its access and refresh tokens fail', async () => {
  const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
  const { tokens } = await codeFlow(server, config, CALLBACK);

  // A fresh browser signs in on the account page itself.
  const browser = new Browser(server.url);
  const login = await browser.page(`${server.url}/account`);
  expect(login.html).toContain('action="/account/login"');
  const signedIn = await browser.submit('/account/login', {
    email: 'ada@example.com',
    password: PASSWORD,
    _csrf: hiddenInput(login.html, '_csrf'),
  });
  if ('redirect' in signedIn) throw new Error('unexpected redirect');
  expect(signedIn.html).toContain('Example Web App');
  expect(signedIn.html).toContain('offline_access');

  const revoke = formAction(signedIn.html, `/account/apps/${fixtures.web.client_id}/revoke`);
  const after = await browser.submit(revoke, { _csrf: hiddenInput(signedIn.html, '_csrf') });
  if ('redirect' in after) throw new Error('unexpected redirect');
  expect(after.html).toContain('Access revoked');
  expect(after.html).not.toContain('Example Web App');

  expect((await oauth.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
  await expect(oauth.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({
    error: 'invalid_grant',
  });
  const userinfo = await fetch(`${server.url}/me`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  expect(userinfo.status).toBe(401);
});

test('revoking needs the form token and a signed-in user', async () => {
  const anonymous = await fetch(`${server.url}/account/apps/${fixtures.web.client_id}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '_csrf=forged',
  });
  expect(anonymous.status).toBe(403);
});
