// Signing key rotation across processes: rotations asked for at once run one after the other under
// the store's lease (never two `next` keys), and a server that did not rotate signs with the new
// key within about a second.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeProtectedHeader } from 'jose';
import { KeyService, SIGNING_ALGS } from '../src/authorization/keys.js';
import { Keyring } from '../src/store/encryption.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SigningKeyRecord, Store } from '../src/store/types.js';
import { seed, type Fixtures } from './support/flows.js';
import { startLatchkey, type TestServer } from './support/latchkey.js';

function byStatus(keys: SigningKeyRecord[], alg: string) {
  const of = (status: SigningKeyRecord['status']) =>
    keys.filter((key) => key.alg === alg && key.status === status);
  return { active: of('active'), next: of('next'), retired: of('retired') };
}

describe('concurrent rotations', () => {
  let directory: string;
  const stores: Store[] = [];

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'latchkey-keys-'));
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await rm(directory, { recursive: true, force: true });
  });

  test('two processes rotating at once leave one active and one next key per algorithm', async () => {
    const path = join(directory, 'keys.db');
    const keyring = new Keyring(randomBytes(32));
    stores.push(openSqliteStore(path), openSqliteStore(path));
    const [first, second] = stores.map((store) => new KeyService(store, keyring)) as [KeyService, KeyService];
    await first.ensure();
    const before = await first.list();

    await Promise.all([first.rotate(), second.rotate(), first.rotate(), second.rotate()]);

    const keys = await stores[0]!.signingKeys.list();
    for (const alg of SIGNING_ALGS) {
      const { active, next, retired } = byStatus(keys, alg);
      expect(active).toHaveLength(1);
      expect(next).toHaveLength(1);
      // Four rotations, one after the other: each retired the key the one before had promoted.
      expect(retired).toHaveLength(4);
      expect(retired.map((key) => key.kid)).toContain(
        before.find((key) => key.alg === alg && key.status === 'active')!.kid,
      );
    }
  });
});

describe('a running server and keys rotated elsewhere', () => {
  let server: TestServer;
  let other: TestServer;
  let fixtures: Fixtures;

  beforeAll(async () => {
    // The default reload interval, not the suites' 0.
    server = await startLatchkey({ options: { keyReloadIntervalMs: undefined } });
    fixtures = await seed(server);
    other = await startLatchkey({
      dir: server.dir,
      env: { ISSUER: server.url },
      options: { keyReloadIntervalMs: undefined },
    });
  });

  afterAll(async () => {
    await other?.close({ keep: true });
    await server?.close();
  });

  /** The kid of a JWT access token that `at` issues now. */
  async function signingKid(at: TestServer): Promise<string | undefined> {
    const { client_id, client_secret } = fixtures.service;
    const response = await fetch(`${at.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'read',
        resource: fixtures.api,
      }).toString(),
    });
    const { access_token } = (await response.json()) as { access_token: string };
    return decodeProtectedHeader(access_token).kid;
  }

  test('signs with the rotated key and publishes the new next key within about a second', async () => {
    const rotated = await other.latchkey.services.keys.rotate();
    const active = rotated.find((key) => key.alg === 'RS256' && key.status === 'active')!.kid;
    const next = rotated.find((key) => key.alg === 'RS256' && key.status === 'next')!.kid;
    const started = Date.now();
    let kid = await signingKid(server);
    while (kid !== active && Date.now() - started < 3000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      kid = await signingKid(server);
    }
    expect(kid).toBe(active);
    expect(Date.now() - started).toBeLessThan(2000);
    const jwks = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).toContain(next);
  });
});
