import { afterAll, beforeAll, test } from '@jest/globals';
import { decodeJwt } from 'jose';
import * as oauth from 'openid-client';
import { CALLBACK, codeFlow, discover, seed, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

let server: TestServer;
let fixtures: Fixtures;
beforeAll(async () => {
  server = await startLatchkey();
  fixtures = await seed(server);
  await server.latchkey.services.apis.add({
    identifier: `${server.url}/v1`,
    scope: 'profile email',
    format: 'jwt',
  });
});
afterAll(async () => server.close());

test('explore', async () => {
  const provider = server.latchkey.provider();
  const web = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
  const { tokens } = await codeFlow(server, web, CALLBACK, 'openid email');
  const at = await provider.AccessToken.find(tokens.access_token);
  console.log('opaque', tokens.access_token, JSON.stringify(at), at?.isValid, at?.grantId);
  const svc = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
  const cc = await oauth.clientCredentialsGrant(svc, { resource: `${server.url}/v1` }).catch((e) => e);
  console.log('cc no scope', cc.access_token ? decodeJwt(cc.access_token) : cc);
  const cc2 = await oauth
    .clientCredentialsGrant(svc, { resource: `${server.url}/v1`, scope: 'email' })
    .catch((e) => e);
  console.log('cc email', cc2.access_token ? decodeJwt(cc2.access_token) : cc2);
  const intro = await oauth.tokenIntrospection(svc, tokens.access_token);
  console.log('introspect other', intro);
  const cco = await oauth.clientCredentialsGrant(svc, { resource: fixtures.opaqueApi, scope: 'read' });
  console.log(
    'introspect cc',
    await oauth.tokenIntrospection(svc, cco.access_token),
    JSON.stringify(await provider.ClientCredentials.find(cco.access_token)),
  );
  // code flow with resource=/v1
  const verifier = oauth.randomPKCECodeVerifier();
  for (const scope of ['openid profile email', 'openid']) {
    const url = oauth.buildAuthorizationUrl(web, {
      redirect_uri: CALLBACK,
      scope,
      resource: `${server.url}/v1`,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const { signInAndAllow } = await import('./support/flows.js');
    const cb = await signInAndAllow(server, url);
    const t = await oauth
      .authorizationCodeGrant(web, cb, { pkceCodeVerifier: verifier }, { resource: `${server.url}/v1` })
      .catch((e) => e);
    console.log('code+resource', scope, t.access_token ? decodeJwt(t.access_token) : t);
  }
});
