// What survives a restart, and what a copy of the database file gives away (nothing usable).
import { afterAll, describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { CALLBACK, codeFlow, discover, seed } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

const running: TestServer[] = [];
afterAll(async () => {
  for (const server of running) await server.close().catch(() => undefined);
});

async function jwks(server: TestServer) {
  return (await (await fetch(`${server.url}/jwks`)).json()) as { keys: Array<{ kid: string }> };
}

/** Every byte of the SQLite database (main file, WAL and shared memory) as one latin1 string. */
function databaseBytes(dir: string): string {
  return readdirSync(dir)
    .filter((name) => name.startsWith('latchkey.db'))
    .map((name) => readFileSync(join(dir, name)).toString('latin1'))
    .join('\n');
}

describe('restart on the same database', () => {
  test('refresh tokens issued before the restart still work and the JWKS is unchanged', async () => {
    const first = await startLatchkey();
    const fixtures = await seed(first);
    const config = await discover(first, fixtures.web.client_id, fixtures.web.client_secret);
    const { tokens } = await codeFlow(first, config, CALLBACK);
    const keysBefore = await jwks(first);
    const port = Number(new URL(first.url).port);
    await first.close({ keep: true });

    const second = await startLatchkey({ dir: first.dir, port });
    running.push(second);
    expect(await jwks(second)).toEqual(keysBefore);
    const again = await discover(second, fixtures.web.client_id, fixtures.web.client_secret);
    const refreshed = await oauth.refreshTokenGrant(again, tokens.refresh_token!);
    expect((await oauth.fetchUserInfo(again, refreshed.access_token, fixtures.user.id)).email).toBe(
      'ada@example.com',
    );
  });
});

describe('the database file at rest', () => {
  test('holds none of the issued tokens, codes, client secrets or passwords', async () => {
    const server = await startLatchkey();
    running.push(server);
    const fixtures = await seed(server);
    const config = await discover(server, fixtures.web.client_id, fixtures.web.client_secret);
    const { tokens, callback } = await codeFlow(server, config, CALLBACK);
    const refreshed = await oauth.refreshTokenGrant(config, tokens.refresh_token!);
    const service = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
    const opaque = await oauth.clientCredentialsGrant(service, {
      scope: 'read',
      resource: fixtures.opaqueApi,
    });
    const secrets = {
      code: callback.searchParams.get('code')!,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token!,
      rotatedAccessToken: refreshed.access_token,
      clientCredentialsToken: opaque.access_token,
      webClientSecret: fixtures.web.client_secret,
      serviceClientSecret: fixtures.service.client_secret,
      password: 'correct horse battery staple',
    };
    const bytes = databaseBytes(server.dir);
    expect(bytes.length).toBeGreaterThan(10_000);
    for (const [name, value] of Object.entries(secrets)) {
      expect({ name, found: bytes.includes(value) }).toEqual({ name, found: false });
    }
    // Signing keys are sealed too: no private RSA parameter in the clear.
    expect(bytes).not.toMatch(/"d":"[A-Za-z0-9_-]{20,}/);
  });
});

describe('signing key rotation', () => {
  test('the next key is published before it signs; old tokens keep verifying after rotation', async () => {
    const server = await startLatchkey();
    running.push(server);
    const fixtures = await seed(server);
    const service = await discover(server, fixtures.service.client_id, fixtures.service.client_secret);
    const before = await oauth.clientCredentialsGrant(service, { scope: 'read', resource: fixtures.api });
    const published = (await jwks(server)).keys.map((key) => key.kid);
    const nextKid = (await server.latchkey.services.keys.list()).find(
      (key) => key.alg === 'RS256' && key.status === 'next',
    )!.kid;
    expect(published).toContain(nextKid);

    await server.latchkey.services.keys.rotate();
    expect(await server.latchkey.reloadKeys()).toBe(true);
    const after = await oauth.clientCredentialsGrant(service, { scope: 'read', resource: fixtures.api });
    const remote = createRemoteJWKSet(new URL(`${server.url}/jwks`));
    const verifiedAfter = await jwtVerify(after.access_token, remote, {
      issuer: server.url,
      audience: fixtures.api,
    });
    expect(verifiedAfter.protectedHeader.kid).toBe(nextKid);
    const verifiedBefore = await jwtVerify(before.access_token, remote, {
      issuer: server.url,
      audience: fixtures.api,
    });
    expect(verifiedBefore.protectedHeader.kid).not.toBe(nextKid);
  });
});

describe('moving between stores (latchkey db export / import)', () => {
  test('clients, users, keys, grants and refresh tokens survive the move; a refresh token still works', async () => {
    const { copyFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { PassThrough } = await import('node:stream');
    const { exportStore, importStore } = await import('../src/store/transfer.js');
    const { openSqliteStore } = await import('../src/store/sqlite/index.js');

    const first = await startLatchkey();
    const fixtures = await seed(first);
    const config = await discover(first, fixtures.web.client_id, fixtures.web.client_secret);
    const { tokens } = await codeFlow(first, config, CALLBACK);
    const keysBefore = await jwks(first);
    const port = Number(new URL(first.url).port);

    const dump = new PassThrough();
    const chunks: Buffer[] = [];
    dump.on('data', (chunk: Buffer) => chunks.push(chunk));
    const exported = await exportStore(first.latchkey.store, dump);
    dump.end();
    await first.close({ keep: true });

    // The new deployment: an empty database elsewhere, the same master key.
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-moved-'));
    copyFileSync(join(first.dir, 'master.key'), join(dir, 'master.key'));
    const target = openSqliteStore(join(dir, 'latchkey.db'));
    const input = new PassThrough();
    input.end(Buffer.concat(chunks));
    expect(await importStore(target, input)).toBe(exported);
    await target.close();

    const moved = await startLatchkey({ dir, port });
    running.push(moved);
    expect(await jwks(moved)).toEqual(keysBefore);
    const again = await discover(moved, fixtures.web.client_id, fixtures.web.client_secret);
    const refreshed = await oauth.refreshTokenGrant(again, tokens.refresh_token!);
    expect((await oauth.fetchUserInfo(again, refreshed.access_token, fixtures.user.id)).email).toBe(
      'ada@example.com',
    );
  });
});
